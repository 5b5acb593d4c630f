"""``agentmap run`` on real CSVs: results, exit codes, state input, JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import REPO

QUICKSTART = str(REPO / "examples" / "quickstart.csv")
TEXT = "the quick brown fox jumps over the lazy dog because the dog was lazy"


def test_quickstart_runs_with_the_custom_agent(cli: Any) -> None:
    out = cli("run", QUICKSTART, "--state", json.dumps({"text": TEXT}))
    assert out.returncode == 0, out.stderr
    assert "completed" in out.stdout
    assert "GetText -> CountWords -> CheckLength -> Summarize -> Done" in out.stdout
    assert "Result: 14 words; most common: the, lazy, dog" in out.stdout


def test_json_output_and_short_text_branch(cli: Any) -> None:
    out = cli("run", QUICKSTART, "--json", "--state", '{"text": "too short"}')
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "completed"
    assert result["path"] == ["GetText", "CountWords", "CheckLength", "TooShort", "Done"]
    assert result["state"]["result"] == "Result: Only 2 words: send at least 5."
    assert [t["node"] for t in result["timings"]] == result["path"]


def test_state_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"text": TEXT}))
    out = cli("run", QUICKSTART, "--state-file", "state.json", "--json")
    assert json.loads(out.stdout)["state"]["word_count"] == 14


def test_missing_input_fails_the_run_with_exit_1(cli: Any) -> None:
    out = cli("run", QUICKSTART)
    assert out.returncode == 1
    assert "failed" in out.stdout
    assert "input node 'GetText' needs 'text'" in out.stdout
    assert "Traceback" not in out.stderr


def test_graph_selection(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "two.csv"
    csv.write_text(
        "GraphName,Node,AgentType,Prompt,Output_Field\n"
        "First,A,echo,from first,out\n"
        "Second,B,echo,from second,out\n"
    )
    ambiguous = cli("run", str(csv))
    assert ambiguous.returncode == 2
    assert "First" in ambiguous.stderr
    assert "Second" in ambiguous.stderr
    by_ref = cli("run", f"{csv}::Second", "--json")
    assert json.loads(by_ref.stdout)["state"]["out"] == "from second"
    by_option = cli("run", str(csv), "--graph", "First", "--json")
    assert json.loads(by_option.stdout)["state"]["out"] == "from first"


def test_failure_routing_and_retries_from_context(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "flow.csv"
    csv.write_text(
        "GraphName,Node,AgentType,Context,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt\n"
        'Flow,Check,branching,"{""retries"": 1, ""retry_delay"": 0}",Ok,Handle,ok,checked,\n'
        "Flow,Ok,echo,,,,,result,all good\n"
        "Flow,Handle,echo,,,,error,result,handled: {error}\n"
    )
    out = cli("run", str(csv), "--json", "--state", '{"ok": "no"}')
    result = json.loads(out.stdout)
    assert out.returncode == 0
    assert result["path"] == ["Check", "Handle"]
    assert result["state"]["result"] == "handled: ok='no'"
    assert result["timings"][0]["attempts"] == 2
    assert result["state"]["errors"][0]["attempt"] == 2


def test_unhandled_failure_exit_code(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "fail.csv"
    csv.write_text("GraphName,Node,AgentType,Prompt\nFlow,Stop,failure,out of cheese\n")
    out = cli("run", str(csv), "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["status"] == "failed"
    assert result["failed_node"] == "Stop"
    assert "out of cheese" in result["error"]


def test_bad_state_json_is_a_usage_error(cli: Any) -> None:
    out = cli("run", QUICKSTART, "--state", "{text: 1}")
    assert out.returncode == 2
    assert "--state is not valid JSON" in out.stderr
    assert "line 1, column 2" in out.stderr
    listed = cli("run", QUICKSTART, "--state", "[1, 2]")
    assert listed.returncode == 2
    assert "must be a JSON object" in listed.stderr
    missing = cli("run", QUICKSTART, "--state-file", "nope.json")
    assert missing.returncode == 2
    assert "nope.json" in missing.stderr


def test_unknown_environment(cli: Any) -> None:
    out = cli("run", QUICKSTART, "--env", "staging")
    assert out.returncode == 2
    assert "staging" in out.stderr
    assert "production" in out.stderr
    assert "Traceback" not in out.stderr


def test_development_preset_writes_the_jsonl_tracker(tmp_path: Path, cli: Any) -> None:
    out = cli("run", QUICKSTART, "--env", "development", "--state", json.dumps({"text": TEXT}))
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / ".agentmap" / "runs.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_finished"
    assert TEXT not in "\n".join(lines)  # state values never reach the tracker


def test_input_agent_asks_on_a_terminal() -> None:
    """On a real terminal (a pty) the ``input`` node asks its Prompt and reads the answer."""
    import os
    import pty
    import select
    import time

    from tests.e2e.conftest import AGENTMAP

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the agentmap process
        os.environ["AGENTMAP_ENV"] = "test"
        os.execv(str(AGENTMAP), [str(AGENTMAP), "run", QUICKSTART])
    seen, answered, deadline = b"", False, time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Paste some text: " in seen:
            os.write(fd, b"one two three four five six\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert answered, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "6 words; most common: one, two, three" in text


def test_run_from_the_csv_folder_where_custom_agents_is_also_the_configured_folder(
    cli: Any,
) -> None:
    out = cli(
        "run",
        "quickstart.csv",
        "--json",
        "--state",
        '{"text": "a b c d e f"}',
        cwd=REPO / "examples",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"]["word_count"] == 6
