"""Prompt references through the CLI: resolved at load time, or exit 2 naming the cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HEADER = "GraphName,Node,AgentType,Edge,Input_Fields,Output_Field,Prompt\n"
REGISTRY = """\
greeting:
  template: "Hello, {name}! You asked about {topic}."
  description: the first thing a user sees
support:
  triage: "Ticket about {topic}"
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    """A CSV in a sub-folder with a prompt registry beside it."""
    folder = tmp_path / "flows"
    (folder / "prompts").mkdir(parents=True)
    (folder / "prompts" / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    (folder / "closing.txt").write_text("Bye, {name}.\n", encoding="utf-8")
    csv = folder / "support.csv"
    csv.write_text(
        HEADER
        + "Support,Greet,echo,Triage,name|topic,greeting,prompt:greeting\n"
        + "Support,Triage,echo,Close,topic,ticket,prompt:support.triage\n"
        + "Support,Close,echo,,name,closing,file:closing.txt\n",
        encoding="utf-8",
    )
    return csv


def test_run_renders_the_referenced_templates(cli: Any, flow: Path) -> None:
    state = json.dumps({"name": "Ann", "topic": "billing"})
    out = cli("run", str(flow), "--json", "--state", state)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "completed"
    assert result["state"]["greeting"] == "Hello, Ann! You asked about billing."
    assert result["state"]["ticket"] == "Ticket about billing"
    assert result["state"]["closing"] == "Bye, Ann."


def test_run_from_the_csv_folder_with_a_relative_path(cli: Any, flow: Path) -> None:
    state = json.dumps({"name": "Bo", "topic": "login"})
    out = cli("run", flow.name, "--json", "--state", state, cwd=flow.parent)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"]["greeting"] == "Hello, Bo! You asked about login."


def test_validate_accepts_resolvable_references(cli: Any, flow: Path) -> None:
    out = cli("validate", str(flow))
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("command", ["run", "validate"])
def test_missing_reference_is_exit_2_naming_the_cell(cli: Any, flow: Path, command: str) -> None:
    flow.write_text(
        HEADER
        + "Support,Greet,echo,Triage,name|topic,greeting,prompt:greting\n"
        + "Support,Triage,echo,,topic,ticket,yaml:prompts/registry.yaml#support.nope\n",
        encoding="utf-8",
    )
    state = ("--state", '{"name": "Ann", "topic": "x"}') if command == "run" else ()
    out = cli(command, str(flow), *state)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith("error: ")
    assert "Traceback" not in out.stderr
    assert f"{flow}:2" in out.stderr
    assert "node 'Greet'" in out.stderr
    assert "column 'Prompt'" in out.stderr
    assert "did you mean 'prompt:greeting'?" in out.stderr
    # every bad reference is reported, not just the first
    assert f"{flow}:3" in out.stderr
    assert "node 'Triage'" in out.stderr
    assert "no key 'nope'" in out.stderr


@pytest.mark.parametrize("command", ["run", "validate"])
def test_missing_file_reference(cli: Any, tmp_path: Path, command: str) -> None:
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + "G,A,echo,,,out,file:missing.txt\n", encoding="utf-8")
    out = cli(command, str(csv))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert f"{csv}:2" in out.stderr
    assert "node 'A'" in out.stderr
    assert "column 'Prompt'" in out.stderr
    assert "'missing.txt' not found" in out.stderr
    assert "Traceback" not in out.stderr


def test_literal_text_with_a_colon_is_not_a_reference(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + 'G,A,echo,,name,out,"Prompt: greet {name}"\n', encoding="utf-8")
    out = cli("run", str(csv), "--json", "--state", '{"name": "Ann"}')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"]["out"] == "Prompt: greet Ann"
