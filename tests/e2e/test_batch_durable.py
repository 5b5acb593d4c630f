"""``agentmap batch`` on a SQLite state store, as a user runs it: suspended rows resumed with
``agentmap resume``, and a batch killed with SIGKILL in the middle of its rows, then rerun.

Every agent appends what it did to a side-effect file (``effects.log``), so the
tests count how often each node of each row really ran: a node that finished
before the kill must have run exactly once in total.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AGENTMAP

AGENTS = '''
import asyncio
import os

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.interrupts import interrupt


def record(what):
    # One write to a file opened for appending: lines of concurrent rows never mix.
    with open("effects.log", "a", encoding="utf-8") as handle:
        handle.write(what + "\\n")


class Mark(BaseAgent):
    """Upper-cases its input and records that this node ran for this row."""

    def process(self, inputs):
        text = str(next(iter(inputs.values())))
        record(f"{self.name} {inputs.get('text', text).lower()}")
        return text.upper()


class Slow(BaseAgent):
    """Rows whose text starts with "slow" wait HOLD_SECONDS here (the test kills the batch)."""

    async def process(self, inputs):
        text = str(inputs["first"]).lower()
        record(f"start {self.name} {text}")
        if text.startswith("slow"):
            await asyncio.sleep(float(os.environ.get("HOLD_SECONDS", "0")))
        record(f"{self.name} {text}")
        return text + "!"


class Ask(BaseAgent):
    """A human step: rows over 100 wait for an approval (interrupt), the others pass."""

    def process(self, inputs):
        if int(inputs["amount"]) > 100:
            answer = interrupt(f"approve {inputs['text']}?", ["approved"])
            record(f"{self.name} {inputs['text']} {answer['approved']}")
            return answer["approved"]
        record(f"{self.name} {inputs['text']} auto")
        return "auto"
'''

HEADER = "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next\n"
APPROVAL = (
    HEADER
    + "Approval,Check,custom:Mark,text,checked,,,Approve\n"
    + "Approval,Approve,custom:Ask,text|amount,approved,,,Done\n"
    + "Approval,Done,custom:Mark,approved,result,,,\n"
)
PIPELINE = (
    HEADER
    + "Pipeline,First,custom:Mark,text,first,,,Second\n"
    + "Pipeline,Second,custom:Slow,first,second,,,Third\n"
    + "Pipeline,Third,custom:Mark,second,third,,,\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "approval.csv").write_text(APPROVAL, encoding="utf-8")
    (tmp_path / "pipeline.csv").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "agents.py").write_text(AGENTS, encoding="utf-8")
    return tmp_path


def env(project: Path, **extra: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    full.update(
        AGENTMAP_ENV="test",
        AGENTMAP_STATE__BACKEND="sqlite",
        AGENTMAP_STATE__PATH=str(project / "state" / "runs.sqlite3"),
        HOLD_SECONDS="0",
    )
    full.update(extra)
    return full


def agentmap(project: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENTMAP), *args],
        cwd=project,
        env=env(project, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def effects(project: Path) -> Counter[str]:
    log = project / "effects.log"
    return Counter(log.read_text(encoding="utf-8").splitlines()) if log.exists() else Counter()


def test_suspended_rows_resumed_with_agentmap_resume_get_their_line_on_a_rerun(
    project: Path,
) -> None:
    write_rows(
        project / "rows.jsonl",
        [
            {"text": "a", "amount": 5},
            {"text": "b", "amount": 500},
            {"text": "c", "amount": 7},
            {"text": "d", "amount": 700},
        ],
    )
    batch = ("batch", "approval.csv", "-i", "rows.jsonl", "-o", "out.jsonl", "--no-progress")
    first = agentmap(project, *batch)
    assert first.returncode == 0, first.stderr  # suspended rows are not failures
    assert "Traceback" not in first.stderr
    lines = {line["row"]: line for line in results(project / "out.jsonl")}
    assert [lines[r]["status"] for r in (1, 2, 3, 4)] == [
        "completed",
        "suspended",
        "completed",
        "suspended",
    ]
    assert lines[2]["waiting"]["question"] == "approve b?"
    assert lines[2]["waiting"]["fields"] == ["approved"]
    assert "suspended" in first.stdout
    assert any(  # an example: the run of the suspended row written last
        f"agentmap resume {lines[r]['run_id']} --set approved=VALUE" in first.stdout for r in (2, 4)
    )
    assert effects(project) == Counter(
        {"Check a": 1, "Approve a auto": 1, "Check c": 1, "Approve c auto": 1, "Done auto": 2}
        | {"Check b": 1, "Check d": 1}  # rows 2 and 4 stopped at Approve
    )

    resumed = agentmap(project, "resume", lines[2]["run_id"], "--set", "approved=yes")
    assert resumed.returncode == 0, resumed.stderr
    after_resume = effects(project)
    assert after_resume["Approve b yes"] == 1
    assert after_resume["Done yes"] == 1
    assert after_resume["Check b"] == 1  # replayed by the resume, not run again

    rerun = agentmap(project, *batch, "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert effects(project) == after_resume  # the batch ran no node at all
    written = results(project / "out.jsonl")
    assert len(written) == 5  # row 2's final line, nothing else
    final = written[-1]
    assert (final["row"], final["status"], final["via"]) == (2, "completed", "store")
    assert final["output"]["result"] == "YES"
    assert final["run_id"] == lines[2]["run_id"]
    summary = json.loads(rerun.stdout)
    assert (summary["completed"], summary["suspended"], summary["failed"]) == (3, 1, 0)
    assert (summary["from_store"], summary["ran"], summary["remaining"]) == (1, 1, 0)
    assert summary["waiting_example"]["run_id"] == lines[4]["run_id"]

    again = agentmap(project, *batch, "--json")
    assert again.returncode == 0, again.stderr
    assert len(results(project / "out.jsonl")) == 5  # still-suspended row 4: no new line
    assert effects(project) == after_resume


def wait_for(condition: Any, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the batch ended before {what}: {process.stderr}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def test_a_killed_batch_resumes_its_interrupted_rows_from_their_checkpoints(
    project: Path,
) -> None:
    fast, slow = [f"fast{i}" for i in range(1, 5)], [f"slow{i}" for i in range(1, 5)]
    write_rows(project / "rows.jsonl", [{"text": t} for t in fast + slow])
    output = project / "out.jsonl"
    batch = ("batch", "pipeline.csv", "-i", "rows.jsonl", "-o", "out.jsonl", "--no-progress")
    process = subprocess.Popen(
        [str(AGENTMAP), *batch, "--concurrency", "8"],
        cwd=project,
        env=env(project, HOLD_SECONDS="60"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # The fast rows are done and every slow row is inside its Second node.
        wait_for(
            lambda: (
                output.exists()
                and output.read_bytes().count(b"\n") == 4
                and all(effects(project)[f"start Second {t}"] == 1 for t in slow)
            ),
            process,
            "the fast rows finished and the slow ones reached Second",
        )
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert sorted(line["output"]["third"] for line in results(output)) == [
        f"{t.upper()}!" for t in fast
    ]

    rerun = agentmap(project, *batch, "--json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["completed"], summary["resumed"], summary["resumed_runs"]) == (8, 4, 4)
    lines = results(output)
    assert sorted(line["row"] for line in lines) == list(range(1, 9))  # no row twice
    for line in lines[4:]:
        assert line["via"] == "resume"
        assert line["status"] == "completed"
        assert line["output"]["third"].lower() in {f"{t}!" for t in slow}
        assert set(line["timings"]) == {"First", "Second", "Third"}
    ran = effects(project)
    for text in fast + slow:
        assert ran[f"First {text}"] == 1, text  # finished before the kill: never again
        assert ran[f"Second {text}"] == 1, text
        assert ran[f"Third {text}!"] == 1, text
    for text in slow:  # the node that was running when the process died ran again
        assert ran[f"start Second {text}"] == 2, text
