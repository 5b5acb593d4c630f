"""examples/approval.csv through the ``agentmap`` command: a run stops for an editor's answer,
and ``agentmap resume RUN_ID --set approved=...`` goes on, in a later process, from a SQLite
store, as a user would do it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from tests.e2e.conftest import REPO

WORKFLOW = str(REPO / "examples" / "approval.csv")
POST = REPO / "examples" / "data" / "post.json"
DRAFT = "Durable runs: AgentMap runs can now stop for a person and go on later."
QUESTION = f"Publish this post? {DRAFT} [yes|no]"

Cli = Callable[..., CompletedProcess[str]]


@pytest.fixture
def agentmap(cli: Cli, tmp_path: Path) -> Cli:
    """``agentmap`` with runs kept in a SQLite file of this test (every call: the same one)."""
    env = {
        "AGENTMAP_STATE__BACKEND": "sqlite",
        "AGENTMAP_STATE__PATH": str(tmp_path / "runs" / "state.sqlite3"),
    }

    def invoke(*args: str) -> CompletedProcess[str]:
        return cli(*args, env=env)

    return invoke


def start(agentmap: Cli) -> str:
    out = agentmap("run", WORKFLOW, "--state-file", str(POST), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "suspended"
    assert result["path"] == ["Draft"]
    assert result["waiting"]["node"] == "Review"
    assert result["waiting"]["fields"] == ["approved"]
    assert result["waiting"]["question"] == QUESTION
    run_id = result["run_id"]
    assert isinstance(run_id, str)
    assert run_id
    return run_id


def show(agentmap: Cli, run_id: str) -> dict[str, Any]:
    out = agentmap("runs", "show", run_id, "--json")
    assert out.returncode == 0, out.stderr
    shown: dict[str, Any] = json.loads(out.stdout)
    return shown


def test_a_run_suspends_with_a_distinct_line_and_says_how_to_go_on(agentmap: Cli) -> None:
    out = agentmap("run", WORKFLOW, "--state-file", str(POST))
    assert out.returncode == 0, out.stderr
    found = re.search(
        r"^suspended: run ([0-9a-f]+) waits at node 'Review' for approved — (.*)$",
        out.stdout,
        re.MULTILINE,
    )
    assert found is not None, out.stdout
    run_id = found.group(1)
    assert found.group(2) == QUESTION
    assert f"agentmap resume {run_id}" in out.stdout
    assert "--set approved=" in out.stdout
    assert show(agentmap, run_id)["status"] == "suspended"


@pytest.mark.parametrize(
    ("answer", "branch", "outcome"),
    [
        ("yes", "Publish", f"Published: {DRAFT}"),
        ("no", "Revise", f"Sent back for revision: {DRAFT}"),
    ],
)
def test_resume_with_the_answer_completes_on_its_branch(
    agentmap: Cli, answer: str, branch: str, outcome: str
) -> None:
    run_id = start(agentmap)
    out = agentmap("resume", run_id, "--set", f"approved={answer}")
    assert out.returncode == 0, out.stderr
    assert "completed" in out.stdout
    assert f"path: Draft -> Review -> Decide -> {branch} -> End" in out.stdout
    stored = show(agentmap, run_id)
    assert stored["status"] == "completed"
    assert stored["path"] == ["Draft", "Review", "Decide", branch, "End"]
    assert stored["state"]["approved"] == answer
    assert stored["state"]["result"] == outcome
    # Finished: a second resume is refused and changes nothing.
    again = agentmap("resume", run_id, "--set", f"approved={answer}")
    assert again.returncode != 0
    assert "already completed" in again.stderr
    assert show(agentmap, run_id)["path"] == stored["path"]


def test_a_set_naming_another_field_is_one_line_exit_2_and_changes_nothing(
    agentmap: Cli,
) -> None:
    run_id = start(agentmap)
    before = show(agentmap, run_id)
    out = agentmap("resume", run_id, "--set", "publish=yes")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "waits at node 'Review' for approved, not for 'publish'" in lines[0]
    assert show(agentmap, run_id) == before
    # The run still waits, and the right field goes on.
    done = agentmap("resume", run_id, "--set", "approved=yes")
    assert done.returncode == 0, done.stderr
    assert show(agentmap, run_id)["status"] == "completed"


def test_an_answer_outside_the_choices_fails_and_a_resume_asks_again(agentmap: Cli) -> None:
    run_id = start(agentmap)
    out = agentmap("resume", run_id, "--set", "approved=maybe", "--json")
    assert out.returncode == 1
    failed = json.loads(out.stdout)
    assert failed["status"] == "failed"
    assert failed["failed_node"] == "Review"
    assert "the choices are 'yes', 'no'" in failed["error"]
    asked = agentmap("resume", run_id, "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["waiting"]["question"] == QUESTION
    done = agentmap("resume", run_id, "--set", "approved=no")
    assert done.returncode == 0, done.stderr
    assert show(agentmap, run_id)["path"][-2:] == ["Revise", "End"]
