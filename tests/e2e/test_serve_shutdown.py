"""SIGTERM to a real ``agentmap serve`` with runs in flight (issue 13, graceful shutdown).

The workflow's nodes are async agents that note each execution in a side-effect
file (``RUN_ID NODE`` per line), then sleep briefly. In a *long* run the middle
node waits for a gate file instead, so which node the shutdown cuts is not a
matter of timing. The test starts long and short runs (``wait=false``, and one
of each with ``wait=true`` in a thread), waits until every one is inside a
node, sends SIGTERM and checks what a graceful shutdown must do:

- the listening socket closes at once: a new ``POST /v1/runs`` during the grace
  period is refused at the TCP level (connection refused), and no run it asked
  for exists;
- the short runs finish inside the grace period and are stored ``completed``;
  the ``wait=true`` one gets its 200 answer;
- the long runs are cut at the end of the grace period and stored
  ``interrupted``; the ``wait=true`` one gets a 503 ``shutting-down`` problem
  naming its run;
- the process exits by itself, with status 0, soon after the grace period;
- after a restart, ``POST /v1/runs/{id}/resume`` (no values) completes each
  long run, and the file shows every node that finished before the shutdown
  ran exactly once; the node cut mid-way (``Second``) ran twice, once cut and
  once on resume (docs/durable-runs.md: at-least-once for the node in flight).

Marking a run interrupted is a barrier of the state store's write buffer, so
this holds in every durability mode: the test runs sync, async (the
development preset's) and exit on SQLite, and sync on PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import run_cli
from tests.server_support import ServerProcess, postgres_schema, start_server

#: Seconds in-flight runs get after SIGTERM (server.shutdown_grace): room for the
#: short runs' last two nodes on a loaded machine.
GRACE = 3.0
#: Seconds a short run's node sleeps; a short run (3 nodes) ends well inside GRACE.
NAP = 0.15
#: Bound on every wait of the test for something the server does.
PATIENCE = 30.0

AGENTS = '''
"""Nodes that note each execution in $SHUTDOWN_EFFECTS, then nap (or wait for a gate)."""

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.context import current_node


class NapAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        with open(os.environ["SHUTDOWN_EFFECTS"], "a", encoding="utf-8") as effects:
            effects.write(f"{current_node().run_id} {self.name}\\n")
        if self.name == "Second":
            # Long runs wait here until after the shutdown, short ones until the
            # SIGTERM was sent: both are in flight when it comes, whatever the load.
            gate = Path(os.environ["SHUTDOWN_GATE" if inputs["kind"] == "long" else "SHORT_GATE"])
            deadline = time.monotonic() + 60  # bounded: the shutdown cuts it long before
            while not gate.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("the gate never opened")
                await asyncio.sleep(0.02)
        else:
            await asyncio.sleep(float(os.environ["SHUTDOWN_NAP"]))
        return f"{self.name}(" + ",".join(str(v) for v in inputs.values()) + ")"
'''

WORKFLOW = (
    "GraphName,Node,AgentType,Input_Fields,Output_Field,Success_Next\n"
    "Slow,First,custom:Nap,topic|kind,a,Second\n"
    "Slow,Second,custom:Nap,a|kind,b,Third\n"
    "Slow,Third,custom:Nap,b|kind,c,\n"
)
NODES = ("First", "Second", "Third")

LONG = ("long-1", "long-2", "long-3")
SHORT = ("short-1", "short-2", "short-3")
LONG_WAITING = "long-wait"
SHORT_WAITING = "short-wait"


def final_state(run_id: str, kind: str) -> dict[str, Any]:
    """The state a run of ``Slow`` ends with (whatever interrupted it)."""
    a = f"First({run_id},{kind})"
    b = f"Second({a},{kind})"
    c = f"Third({b},{kind})"
    return {"topic": run_id, "kind": kind, "a": a, "b": b, "c": c, "last_action_success": True}


class Project:
    """A workflows folder with its custom agents, a state store and the side-effect file."""

    def __init__(self, root: Path, state_env: dict[str, str]) -> None:
        self.root = root
        self.workflows = root / "workflows"
        (self.workflows / "custom_agents").mkdir(parents=True)
        (self.workflows / "custom_agents" / "nap_agents.py").write_text(AGENTS)
        (self.workflows / "slow.csv").write_text(WORKFLOW)
        self.effects = root / "effects.txt"
        self.gate = root / "gate"
        self.short_gate = root / "short-gate"
        self.env = {
            **state_env,
            "AGENTMAP_SERVER__SHUTDOWN_GRACE": str(GRACE),
            "SHUTDOWN_EFFECTS": str(self.effects),
            "SHUTDOWN_GATE": str(self.gate),
            "SHORT_GATE": str(self.short_gate),
            "SHUTDOWN_NAP": str(NAP),
        }

    def start(self) -> ServerProcess:
        return start_server(self.workflows, self.root, env_vars=self.env)

    def ran(self) -> Counter[tuple[str, str]]:
        """How often each (run id, node) started."""
        lines = self.effects.read_text().splitlines() if self.effects.exists() else []
        return Counter((run, node) for run, node in (line.split() for line in lines))

    def stored(self) -> dict[str, str]:
        """run id -> status, read by ``agentmap runs list --json`` from the same store."""
        out = run_cli("runs", "list", "--json", "--env", "test", cwd=self.root, env=self.env)
        assert out.returncode == 0, out.stdout + out.stderr
        return {run["run_id"]: run["status"] for run in json.loads(out.stdout)}


@pytest.fixture(
    params=[
        ("sqlite", "sync"),
        # The development preset's mode: steps are written while the next node runs.
        ("sqlite", "async"),
        # Nothing is written before the run ends: marking it interrupted stores it all.
        ("sqlite", "exit"),
        pytest.param(("postgres", "sync"), marks=pytest.mark.services),
    ],
    ids=lambda p: "-".join(p),
)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    backend, durability = request.param
    if backend == "sqlite":
        db = tmp_path / "state" / "runs.sqlite3"
        state = {"AGENTMAP_STATE__BACKEND": "sqlite", "AGENTMAP_STATE__PATH": str(db)}
        yield Project(tmp_path, {**state, "AGENTMAP_STATE__DURABILITY": durability})
    else:
        with postgres_schema("shutdown") as state:
            yield Project(tmp_path, {**state, "AGENTMAP_STATE__DURABILITY": durability})


@contextmanager
def served(project: Project) -> Iterator[ServerProcess]:
    server = project.start()
    try:
        yield server
    finally:
        server.kill()  # a no-op when the test let it exit; never leaves one behind


def post_run(server: ServerProcess, run_id: str, kind: str, *, wait: bool) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/runs",
        json={
            "graph": "Slow",
            "state": {"topic": run_id, "kind": kind},
            "wait": wait,
            "run_id": run_id,
        },
        timeout=PATIENCE,
    )


class Waiter(threading.Thread):
    """A ``wait=true`` request in a thread: its response (or the error it raised)."""

    def __init__(self, server: ServerProcess, run_id: str, kind: str) -> None:
        super().__init__(daemon=True)
        self.args_ = (server, run_id, kind)
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.response = post_run(*self.args_, wait=True)
        except BaseException as exc:  # reported by the test's assertion
            self.error = exc

    def result(self) -> httpx.Response:
        self.join(PATIENCE)
        assert not self.is_alive(), "the wait=true request never got an answer"
        assert self.response is not None, f"the wait=true request failed: {self.error!r}"
        return self.response


def until(what: str, done: Any, server: ServerProcess) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        assert server.proc.poll() is None, f"the server died:\n{server.output()}"
        assert time.monotonic() < deadline, f"{what} did not happen in {PATIENCE} s"
        time.sleep(0.02)


def refused_while_shutting_down(server: ServerProcess) -> list[httpx.Response]:
    """POST runs right after SIGTERM until the server stops taking connections.

    uvicorn closes its listening socket on its next tick (~0.1 s). A POST in
    that instant is answered 503 ``shutting-down`` (the run manager stopped
    accepting when the signal came), or its connection, accepted just before,
    is closed unanswered; the answers are returned. Then one more POST, still
    inside the grace period (the long runs hold the process), must be refused.
    """
    answers: list[httpx.Response] = []
    deadline = time.monotonic() + PATIENCE
    attempt = 0
    while True:
        attempt += 1
        try:
            answers.append(post_run(server, f"late-{attempt}", "short", wait=False))
        except httpx.ConnectError:
            break
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # closed unanswered; the store shows no run started
        assert time.monotonic() < deadline, "the server kept accepting connections"
    with pytest.raises(httpx.ConnectError):
        post_run(server, "late-final", "short", wait=False)
    assert server.proc.poll() is None, "the process must still be in its grace period here"
    return answers


def test_sigterm_finishes_short_runs_interrupts_long_ones_and_resume_completes_them(
    project: Project,
) -> None:
    with served(project) as server:
        for run_id in LONG:
            answer = post_run(server, run_id, "long", wait=False)
            assert answer.status_code == 202, answer.text
        long_waiter = Waiter(server, LONG_WAITING, "long")
        long_waiter.start()
        longs = (*LONG, LONG_WAITING)
        until(
            "every long run reaching Second",
            lambda: all(project.ran()[(r, "Second")] for r in longs),
            server,
        )

        for run_id in SHORT:
            assert post_run(server, run_id, "short", wait=False).status_code == 202
        short_waiter = Waiter(server, SHORT_WAITING, "short")
        short_waiter.start()
        shorts = (*SHORT, SHORT_WAITING)
        until(
            "every short run reaching Second",
            lambda: all(project.ran()[(r, "Second")] for r in shorts),
            server,
        )
        assert not any(project.ran()[(r, "Third")] for r in shorts), "shorts must be in flight"

        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        project.short_gate.touch()  # the short runs go on, and end inside the grace period
        answered = refused_while_shutting_down(server)
        for answer in answered:  # only in the instant before uvicorn's next tick
            assert answer.status_code == 503, answer.text
            assert answer.json()["type"] == "urn:agentmap:problem:shutting-down"

        try:
            code = server.proc.wait(GRACE + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit {GRACE + 10} s after SIGTERM:\n{server.output()}")
        exited = time.monotonic() - signalled
        assert code == 0, f"a graceful shutdown exits 0, not {code}:\n{server.output()}"
        assert exited >= GRACE, "the long runs held the process for the grace period"

    done = short_waiter.result()
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["state"] == final_state(SHORT_WAITING, "short")
    cut = long_waiter.result()
    assert cut.status_code == 503, cut.text
    assert cut.headers["content-type"] == "application/problem+json"
    problem = cut.json()
    assert problem["type"] == "urn:agentmap:problem:shutting-down"
    assert (problem["run_id"], problem["run_status"]) == (LONG_WAITING, "interrupted"), problem

    stored = project.stored()
    assert stored == {
        **dict.fromkeys(longs, "interrupted"),
        **dict.fromkeys(shorts, "completed"),
    }, "a late POST started a run, or a run was not marked"
    ran = project.ran()
    assert ran == Counter(
        {(r, n): 1 for r in shorts for n in NODES} | {(r, n): 1 for r in longs for n in NODES[:2]}
    )

    project.gate.touch()
    with served(project) as server:
        shown = httpx.get(f"{server.url}/v1/runs/{LONG[0]}", timeout=PATIENCE).json()
        assert shown["status"] == "interrupted"
        assert [s["node"] for s in shown["steps"]] == ["First"]
        for run_id in longs:
            resumed = httpx.post(f"{server.url}/v1/runs/{run_id}/resume", json={}, timeout=PATIENCE)
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["status"] == "completed"
            assert resumed.json()["state"] == final_state(run_id, "long")
        assert server.stop(GRACE + 10) == 0, server.output()  # idle this time

    assert project.stored() == dict.fromkeys((*longs, *shorts), "completed")
    # Finished nodes ran once; Second, cut mid-way by the shutdown, ran again on resume.
    assert project.ran() == Counter(
        {(r, n): 1 for r in (*longs, *shorts) for n in NODES} | {(r, "Second"): 2 for r in longs}
    )
