"""``agentmap batch`` as a user runs it: a subprocess, killed and resumed, interrupted, refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AGENTMAP

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

FLOW = """GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next
Flow,Start,custom:Slow,text,slow,,"{""delay"": 0.02}",Shout,Failed
Flow,Shout,echo,slow,shout,{slow}!,,Done,Failed
Flow,Done,success,shout,result,done: {shout},,,
Flow,Failed,echo,error,result,,,,
"""

SLOW_AGENT = '''
import asyncio

from agentmap.agents.base_agent import BaseAgent


class Slow(BaseAgent):
    """Waits like an LLM call would, then upper-cases; a text "boom" fails the row."""

    async def process(self, inputs):
        await asyncio.sleep(float(self.context.get("delay", 0.02)))
        text = inputs.get("text")
        if text == "boom":
            raise ValueError("the text was boom")
        return str(text).upper()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flow.csv").write_text(FLOW, encoding="utf-8")
    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "slow.py").write_text(SLOW_AGENT, encoding="utf-8")
    return tmp_path


def write_rows(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def env() -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    full["AGENTMAP_ENV"] = "test"
    return full


def start_batch(project: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(AGENTMAP), "batch", "flow.csv", "-i", "rows.jsonl", "-o", "out.jsonl", *extra],
        cwd=project,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_batch(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The same command again, to completion: what a user does to resume."""
    return subprocess.run(
        [str(AGENTMAP), "batch", "flow.csv", "-i", "rows.jsonl", "-o", "out.jsonl", *extra],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_bytes().count(b"\n")
            if lines >= count:
                return lines
        assert process.poll() is None, "the batch ended before it could be stopped"
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {count} lines")


def assert_one_line_per_row(path: Path, rows: int) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = results(path)
    counts = Counter(line["row"] for line in lines)
    assert sorted(counts) == list(range(1, rows + 1))
    assert max(counts.values()) == 1, [row for row, n in counts.items() if n > 1]
    return lines


def test_batch_runs_every_row_and_prints_a_summary(project: Path, cli: CliRunner) -> None:
    write_rows(project / "rows.jsonl", ["a", "boom", "c"])
    (project / "rows.jsonl").open("a").write("{not json\n")
    done = cli(
        "batch",
        "flow.csv",
        "-i",
        "rows.jsonl",
        "-o",
        "out.jsonl",
        "--summary",
        "s.json",
        cwd=project,
    )
    assert done.returncode == 1, done.stderr  # a row failed
    assert "Traceback" not in done.stderr
    lines = {line["row"]: line for line in assert_one_line_per_row(project / "out.jsonl", 4)}
    assert lines[1]["status"] == "completed"
    assert lines[1]["output"] == {"slow": "A", "shout": "A!", "result": "done: A!"}
    assert lines[2]["status"] == "completed"  # handled: Failure_Next routes to Failed
    assert "the text was boom" in lines[2]["output"]["result"]
    assert lines[4]["status"] == "failed"
    assert lines[4]["error"].startswith("line 4: not valid JSON")
    summary = json.loads((project / "s.json").read_text())
    assert (summary["completed"], summary["failed"], summary["rows"]) == (3, 1, 4)
    assert "completed" in done.stdout
    assert "failed" in done.stdout


def test_killed_batch_resumes_with_exactly_one_line_per_row(project: Path) -> None:
    rows = 300
    write_rows(project / "rows.jsonl", [f"t{i}" for i in range(rows)])
    output = project / "out.jsonl"
    first = start_batch(project, "--concurrency", "4", "--no-progress")
    try:
        wait_for_lines(output, 40, first)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    written = results(output)  # every line the killed process wrote is whole JSON
    assert 40 <= len(written) < rows
    # A crash in the middle of a write leaves a torn line; the rerun must cut it off.
    with output.open("ab") as handle:
        handle.write(b'{"row": 299, "line": 2')
    second = finish_batch(project, "--json", "--concurrency", "16")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["resumed"] == len(written)
    assert summary["ran"] == rows - len(written)
    lines = assert_one_line_per_row(output, rows)
    assert all(line["status"] == "completed" for line in lines)
    assert {line["output"]["result"] for line in lines} == {f"done: T{i}!" for i in range(rows)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly_and_a_rerun_finishes(project: Path, sig: signal.Signals) -> None:
    rows = 300
    write_rows(project / "rows.jsonl", [f"t{i}" for i in range(rows)])
    output = project / "out.jsonl"
    first = start_batch(project, "--concurrency", "4", "--summary", "s.json")
    try:
        wait_for_lines(output, 30, first)
        first.send_signal(sig)
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert "Rerun the same command" in err
    assert "not run yet" in out  # the summary is printed, with what is left
    written = results(output)
    assert output.read_bytes().endswith(b"\n")
    assert len({line["row"] for line in written}) == len(written) < rows
    summary = json.loads((project / "s.json").read_text())
    assert summary["interrupted"] is True
    assert summary["done"] == len(written)
    rerun = finish_batch(project)
    assert rerun.returncode == 0, rerun.stderr
    assert_one_line_per_row(output, rows)


def test_output_of_another_job_is_refused_unless_forced(project: Path, cli: CliRunner) -> None:
    write_rows(project / "rows.jsonl", ["a", "b"])
    assert (
        cli("batch", "flow.csv", "-i", "rows.jsonl", "-o", "out.jsonl", cwd=project).returncode == 0
    )
    before = (project / "out.jsonl").read_bytes()
    write_rows(project / "rows.jsonl", ["a", "b", "c"])
    refused = cli("batch", "flow.csv", "-i", "rows.jsonl", "-o", "out.jsonl", cwd=project)
    assert refused.returncode == 2
    assert "(the inputs file, --map or --id-field changed)" in refused.stderr
    assert "Use --force to start over" in refused.stderr
    assert "or choose another --output" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (project / "out.jsonl").read_bytes() == before  # nothing touched
    forced = cli("batch", "flow.csv", "-i", "rows.jsonl", "-o", "out.jsonl", "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert_one_line_per_row(project / "out.jsonl", 3)
    assert (project / "out.jsonl.bak").read_bytes() == before


def test_csv_inputs_with_map_fields_and_plain_progress(project: Path, cli: CliRunner) -> None:
    (project / "rows.csv").write_text('id,body\nT1,"multi\nline"\nT2,b\nT3\n', encoding="utf-8")
    done = cli(
        "batch",
        "flow.csv",
        "-i",
        "rows.csv",
        "-o",
        "out.jsonl",
        "--map",
        "text=body",
        "--fields",
        "result",
        "--id-field",
        "id",
        cwd=project,
        env={"AGENTMAP_BATCH__PROGRESS_INTERVAL": "0.01"},
    )
    assert done.returncode == 1, done.stderr
    lines = {line["row"]: line for line in assert_one_line_per_row(project / "out.jsonl", 3)}
    assert lines[1]["id"] == "T1"
    assert lines[1]["output"] == {"result": "done: MULTI\nLINE!"}
    assert lines[2]["line"] == 4
    assert lines[2]["output"] == {"result": "done: B!"}
    assert lines[3]["status"] == "failed"
    assert lines[3]["error"] == "line 5: 1 cells where the header has 2"
    assert "batch: 3/3 rows (1 failed)" in done.stderr  # plain lines: stderr is not a terminal


def test_bad_options_are_one_line_errors(project: Path, cli: CliRunner) -> None:
    write_rows(project / "rows.jsonl", ["a"])
    cases = {
        ("-i", "missing.jsonl", "-o", "out.jsonl"): "input file not found: missing.jsonl",
        ("-i", "rows.txt", "-o", "out.jsonl"): "unknown input format '.txt'",
        ("-i", "rows.jsonl", "-o", "out.csv"): "name the file *.jsonl",
        (
            "-i",
            "rows.jsonl",
            "-o",
            "out.jsonl",
            "--map",
            "text",
        ): "--map 'text': write field=column",
        ("-i", "rows.jsonl", "-o", "out.jsonl", "-c", "0"): "--concurrency must be at least 1",
        (
            "-i",
            "rows.jsonl",
            "-o",
            "out.jsonl",
            "--row-timeout",
            "0",
        ): "--row-timeout must be a positive number of seconds, got 0",
    }
    for args, message in cases.items():
        done = cli("batch", "flow.csv", *args, cwd=project)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (project / "out.jsonl").exists()


def test_help_names_the_dask_extra(cli: CliRunner) -> None:
    shown = cli("batch", "--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0
    assert "pip install 'agentmap[dask]'" in shown.stdout  # not eaten as rich markup


def test_executor_dask_starts_a_local_cluster_and_writes_every_row(project: Path) -> None:
    write_rows(project / "rows.jsonl", [f"t{i}" for i in range(40)])
    (project / "rows.jsonl").open("a").write("[1]\n")
    done = finish_batch(project, "--executor", "dask", "--workers", "2", "--json", "--no-progress")
    assert done.returncode == 1, done.stderr  # the [1] row fails
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert (summary["completed"], summary["failed"]) == (40, 1)
    lines = {line["row"]: line for line in assert_one_line_per_row(project / "out.jsonl", 41)}
    assert lines[7]["output"]["result"] == "done: T6!"
    assert lines[41]["error"] == "line 41: expected a JSON object, got list"
    again = finish_batch(project, "--executor", "dask", "--json", "--no-progress")
    assert json.loads(again.stdout)["ran"] == 0  # resumed: nothing left to send
