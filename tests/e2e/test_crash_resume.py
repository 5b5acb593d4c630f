"""A run killed with SIGKILL in the middle of a workflow, then ``agentmap resume``d.

Each node of the workflow appends its name to a side-effect file, so the file
counts how often each node really ran. One node in the middle (``Wait``)
notes that it started, then waits for a gate file; the test kills the
``agentmap run`` process while it waits, opens the gate and resumes the run
in a new process. The resumed run must end with the state of a run that was
never interrupted, and every node that had finished before the kill must
appear exactly once in the file. The node that was running when the process
died runs again (docs/durable-runs.md: at-least-once for the node in flight).

On SQLite, and on PostgreSQL when a server is on 127.0.0.1:5432 (its own
schema per test, dropped afterwards).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.e2e.conftest import AGENTMAP, run_cli

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Seconds the test waits for the run to reach the blocked node before giving up.
REACH_TIMEOUT = 30.0

AGENTS = '''
"""Nodes that note each execution in $CRASH_EFFECTS; Gate waits for $CRASH_GATE."""

import os
import time
from pathlib import Path
from typing import Any

from agentmap.agents.base_agent import BaseAgent


def note(name: str) -> None:
    # One short append per execution: a line is all there or not there after SIGKILL.
    with open(os.environ["CRASH_EFFECTS"], "a", encoding="utf-8") as effects:
        effects.write(name + "\\n")


class StepAgent(BaseAgent):
    def process(self, inputs: dict[str, Any]) -> Any:
        note(self.name)
        return f"{self.name}(" + ",".join(str(v) for v in inputs.values()) + ")"


class GateAgent(BaseAgent):
    def process(self, inputs: dict[str, Any]) -> Any:
        note(self.name)
        gate = Path(os.environ["CRASH_GATE"])
        deadline = time.monotonic() + 60  # bounded: the test kills us long before
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the gate never opened")
            time.sleep(0.02)
        return f"{self.name}(" + ",".join(str(v) for v in inputs.values()) + ") passed"
'''

HEADER = "GraphName,Node,AgentType,Input_Fields,Output_Field,Success_Next\n"

CHAIN = HEADER + (
    "Chain,Start,custom:Step,topic,a,Fetch\n"
    "Chain,Fetch,custom:Step,a,b,Enrich\n"
    "Chain,Enrich,custom:Step,b,c,Wait\n"
    "Chain,Wait,custom:Gate,c,d,Score\n"
    "Chain,Score,custom:Step,d,e,Report\n"
    "Chain,Report,custom:Step,e|a,f,\n"
)

FAN = HEADER + (
    "Fan,Start,custom:Step,topic,a,Left|Right\n"
    "Fan,Left,custom:Step,a,l1,Left2\n"
    "Fan,Left2,custom:Step,l1,l2,Join\n"
    "Fan,Right,custom:Gate,a,r,Join\n"
    "Fan,Join,custom:Step,l2|r,j,End\n"
    "Fan,End,custom:Step,j,out,\n"
)


@dataclass
class Project:
    """A workflow folder and the state settings of one backend."""

    root: Path
    state_env: dict[str, str]
    csv: Path = field(init=False)

    def __post_init__(self) -> None:
        (self.root / "custom_agents").mkdir()
        (self.root / "custom_agents" / "crash_agents.py").write_text(AGENTS)
        self.csv = self.root / "flow.csv"

    def env(self, effects: Path, gate: Path) -> dict[str, str]:
        return {
            **self.state_env,
            "AGENTMAP_STATE__DURABILITY": "sync",
            "CRASH_EFFECTS": str(effects),
            "CRASH_GATE": str(gate),
        }

    def cli(self, *args: str, effects: Path, gate: Path) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--env", "test", cwd=self.root, env=self.env(effects, gate))

    def json(self, *args: str, effects: Path, gate: Path) -> Any:
        out = self.cli(*args, "--json", effects=effects, gate=gate)
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)


def ran(effects: Path) -> list[str]:
    return effects.read_text().split() if effects.exists() else []


def reference_state(project: Project) -> dict[str, Any]:
    """The final state of the same workflow run without interruption (gate open)."""
    gate = project.root / "open-gate"
    gate.touch()
    effects = project.root / "reference-effects.txt"
    result = project.json(
        "run", str(project.csv), "--state", '{"topic": "t"}', effects=effects, gate=gate
    )
    assert result["status"] == "completed"
    assert Counter(ran(effects)) == Counter({name: 1 for name in result["path"]}), (
        "each node runs once in a run nobody interrupts"
    )
    state: dict[str, Any] = result["state"]
    return state


def kill_in_the_middle(
    project: Project,
    effects: Path,
    gate: Path,
    reached: Callable[[list[str]], bool],
) -> str:
    """Start ``agentmap run``, SIGKILL it once ``reached(nodes run so far)``; its run id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    env.update(project.env(effects, gate))
    proc = subprocess.Popen(
        [str(AGENTMAP), "run", str(project.csv), "--state", '{"topic": "t"}', "--env", "test"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + REACH_TIMEOUT
        while not reached(ran(effects)):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the run ended before it was killed ({proc.returncode}): {out}{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run did not get there in {REACH_TIMEOUT} s: {ran(effects)}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    running = project.json("runs", "list", "--status", "running", effects=effects, gate=gate)
    assert len(running) == 1, running
    run_id: str = running[0]["run_id"]
    return run_id


# ---------------------------------------------------------------------- backends


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Project:
    return Project(
        tmp_path,
        {
            "AGENTMAP_STATE__BACKEND": "sqlite",
            "AGENTMAP_STATE__PATH": str(tmp_path / "state" / "runs.sqlite3"),
        },
    )


@pytest.fixture
def postgres_project(tmp_path: Path) -> Iterator[Project]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    schema = f"crash_{uuid.uuid4().hex[:12]}"
    try:
        yield Project(
            tmp_path,
            {
                "AGENTMAP_STATE__BACKEND": "postgres",
                "AGENTMAP_STATE__URL": PG_URL,
                "AGENTMAP_STATE__SCHEMA_NAME": schema,
            },
        )
    finally:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def project(request: pytest.FixtureRequest) -> Project:
    found: Project = request.getfixturevalue(f"{request.param}_project")
    return found


# ---------------------------------------------------------------------- tests


def test_a_run_killed_mid_workflow_resumes_and_runs_each_finished_node_once(
    project: Project,
) -> None:
    project.csv.write_text(CHAIN)
    expected = reference_state(project)

    effects = project.root / "effects.txt"
    gate = project.root / "gate"
    run_id = kill_in_the_middle(project, effects, gate, lambda nodes: "Wait" in nodes)
    assert ran(effects) == ["Start", "Fetch", "Enrich", "Wait"]
    stored = project.json("runs", "show", run_id, effects=effects, gate=gate)
    assert stored["status"] == "running"
    assert stored["path"] == ["Start", "Fetch", "Enrich"]

    gate.touch()
    result = project.json("resume", run_id, effects=effects, gate=gate)
    assert result["status"] == "completed"
    assert result["run_id"] == run_id
    assert result["state"] == expected
    assert project.json("runs", "show", run_id, effects=effects, gate=gate)["state"] == expected
    # Start, Fetch and Enrich had finished: replayed from their checkpoints, not run again.
    # Wait was running when the process died: it runs again on resume (at-least-once for
    # the node in flight, as documented), so it is in the file twice.
    assert ran(effects) == ["Start", "Fetch", "Enrich", "Wait", "Wait", "Score", "Report"]


def stored_nodes(db: Path) -> set[str]:
    """Nodes with a checkpoint in the running run of a SQLite store, read with sqlite3."""
    query = "SELECT s.node FROM steps s JOIN runs r ON r.id = s.run_key WHERE r.status = 'running'"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:  # not created yet
        return set()
    try:
        return {row[0] for row in conn.execute(query)}
    finally:
        conn.close()


def test_a_fan_out_killed_with_one_branch_done_does_not_run_that_branch_again(
    sqlite_project: Project,
) -> None:
    project = sqlite_project
    project.csv.write_text(FAN)
    expected = reference_state(project)
    db = Path(project.state_env["AGENTMAP_STATE__PATH"])

    effects = project.root / "effects.txt"
    gate = project.root / "gate"

    def left_branch_stored(nodes: list[str]) -> bool:
        # Right is blocked at its gate; Left and Left2 ran and Left2's checkpoint is written.
        return "Right" in nodes and "Left2" in nodes and "Left2" in stored_nodes(db)

    run_id = kill_in_the_middle(project, effects, gate, left_branch_stored)
    assert Counter(ran(effects)) == Counter(["Start", "Left", "Left2", "Right"])

    gate.touch()
    result = project.json("resume", run_id, effects=effects, gate=gate)
    assert result["status"] == "completed"
    assert result["state"] == expected
    counts = Counter(ran(effects))
    # The finished branch (Left, Left2) is not run again; Right, in flight when the process
    # died, runs again (at-least-once for the node in flight); Join and End run once.
    assert counts == Counter({"Start": 1, "Left": 1, "Left2": 1, "Right": 2, "Join": 1, "End": 1})
