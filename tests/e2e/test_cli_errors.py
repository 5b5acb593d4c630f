"""Broken workflows through the CLI: exit 2, a message naming file, line and node, no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HEADER = (
    "GraphName,Node,AgentType,Edge,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt\n"
)

CASES = {
    "duplicate_node": (
        HEADER + "G,A,echo,B,,,,,\nG,B,echo,,,,,,\nG,A,echo,,,,,,\n",
        [":4", "node 'A'", "duplicate"],
    ),
    "dangling_target": (
        HEADER + "G,Start,echo,Finsh,,,,,\nG,Finish,echo,,,,,,\n",
        [":2", "node 'Start'", "'Finsh'", "did you mean 'Finish'"],
    ),
    "unknown_agent_type": (
        HEADER + "G,A,ecko,,,,,,\n",
        [":2", "node 'A'", "'ecko'", "did you mean 'echo'"],
    ),
    "edge_and_success_next": (
        HEADER + "G,A,echo,B,B,,,,\nG,B,echo,,,,,,\n",
        [":2", "node 'A'", "Edge", "Success_Next"],
    ),
    "bad_context": (
        "GraphName,Node,AgentType,Context\nG,A,echo,\"{'timeout': 30,\"\n",
        [":2", "node 'A'", "Context"],
    ),
    "bad_policy_value": (
        "GraphName,Node,AgentType,Context\nG,A,echo,\"{'timeout': 'soon'}\"\n",
        [":2", "node 'A'", "'timeout'", "'soon'"],
    ),
    "missing_node_column": ("GraphName,Agent\nG,echo\n", [":1", "Node"]),
    "empty_file": ("", ["empty"]),
    "unclosed_quote": (
        HEADER + 'G,A,echo,,,,,,"Hello\nG,B,echo,,,,,,\n',
        [":2", "quote"],
    ),
    "too_many_cells": (HEADER + "G,A,echo,,,,,,,extra,more\n", [":2"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_broken_workflow(cli: Any, tmp_path: Path, case: str, command: str) -> None:
    body, expected = CASES[case]
    csv = tmp_path / f"{case}.csv"
    csv.write_text(body)
    out = cli(command, str(csv))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith("error: ")
    assert f"{case}.csv" in out.stderr
    for fragment in expected:
        assert fragment in out.stderr, (fragment, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout


def test_binary_garbage(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "garbage.csv"
    csv.write_bytes(b"GraphName,Node\n\x00\xff\xfe\x89PNG\x00\x00junk\n")
    out = cli("run", str(csv))
    assert out.returncode == 2
    assert "garbage.csv" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file(cli: Any, tmp_path: Path) -> None:
    out = cli("run", str(tmp_path / "nope.csv"))
    assert out.returncode == 2
    assert "nope.csv" in out.stderr
    assert "Traceback" not in out.stderr


def test_all_errors_are_reported_at_once(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "many.csv"
    csv.write_text(HEADER + "G,A,echo,Nowhere,,,,,\nG,A,echo,,,,,,\nG,C,ecko,,,,,,\n")
    out = cli("validate", str(csv))
    assert out.returncode == 2
    assert "'Nowhere'" in out.stderr
    assert "'ecko'" in out.stderr
    assert "duplicate" in out.stderr


def test_validate_ok_prints_graphs_and_warnings(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "ok.csv"
    csv.write_text(HEADER + "G,A,echo,,,,,,\nG,Orphan,echo,,,,,,\nH,B,echo,,,,,,\n")
    out = cli("validate", str(csv))
    assert out.returncode == 0, out.stderr
    assert "G (2 nodes)" in out.stdout
    assert "H (1 nodes)" in out.stdout
    assert "warning" in out.stdout
    assert "'Orphan'" in out.stdout
    assert "unreachable" in out.stdout


def test_custom_agent_import_error_names_its_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "bad.py").write_text("import not_a_module\n")
    csv = tmp_path / "flow.csv"
    csv.write_text("GraphName,Node,AgentType\nG,A,custom:Thing\n")
    out = cli("run", str(csv))
    assert out.returncode == 2
    assert "bad.py:1" in out.stderr
    assert "not_a_module" in out.stderr


def test_json_mode_errors_still_go_to_stderr(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + "G,A,ecko,,,,,,\n")
    out = cli("run", str(csv), "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.stderr)


def test_validate_checks_that_function_routers_load(cli: Any, tmp_path: Path) -> None:
    func = tmp_path / "func.csv"
    func.write_text(HEADER + "G,A,echo,func:routes.pick,,,,,\nG,B,echo,,,,,,\n")
    bad = cli("validate", str(func))
    assert bad.returncode == 2
    assert "func.csv:2" in bad.stderr
    assert "router func:routes.pick not found" in bad.stderr
    assert "Traceback" not in bad.stderr
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "routes.py").write_text("def pick(state):\n    return 'B'\n")
    ok = cli("validate", str(func))
    assert ok.returncode == 0, ok.stderr
    run = cli("run", str(func), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["path"] == ["A", "B"]
