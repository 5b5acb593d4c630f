"""Load on one real ``agentmap serve`` process on PostgreSQL, and a SIGKILL in the middle of it.

Issue 13's reliability bullet: 500 runs of a 5-node workflow at 100 concurrent
clients (loopback only, every wait bounded). Each run has a client-chosen
``run_id``, so the test can account for every one of them in the store, read
with psycopg straight from the test's schema: exactly one ``runs`` row per
id, ``completed``, with exactly one stored step per node (a node stored twice
would be a node run twice).

The second test SIGKILLs the server once half the runs have answered and
restarts it on the same port and schema. The requests in flight at the kill
die with connection errors (counted, expected; never a 5xx). After the
restart each id is settled from what the store says: ``running`` (the killed
process never marked it), ``interrupted`` or ``failed`` -> resume with
``force``; no record -> submit again. The end state is the same as without
the kill: 500 ``completed`` records and nothing else.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_support import PG_URL, ServerProcess, postgres_schema, start_server

pytestmark = pytest.mark.services

RUNS = 500
CLIENTS = 100
#: Bounds: one request, and one phase of the load (every request of it); two phases
#: and two server starts stay inside pytest-timeout's 300 s.
REQUEST_TIMEOUT = 60.0
PHASE_TIMEOUT = 100.0

AGENTS = '''
"""A node that takes a few milliseconds (an await, so runs overlap on the loop).

A run whose topic holds "slow" takes 0.3 s a node, long enough to cancel it.
"""

import asyncio
import random
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class TickAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        slow = any("slow" in str(v) for v in inputs.values())
        await asyncio.sleep(0.3 if slow else random.uniform(0.005, 0.02))
        return f"{self.name}(" + ",".join(str(v) for v in inputs.values()) + ")"
'''

NODES = ("N1", "N2", "N3", "N4", "N5")
WORKFLOW = "GraphName,Node,AgentType,Input_Fields,Output_Field,Success_Next\n" + "".join(
    f"Five,{node},custom:Tick,{'topic' if i == 0 else f'f{i}'},f{i + 1},"
    f"{NODES[i + 1] if i + 1 < len(NODES) else ''}\n"
    for i, node in enumerate(NODES)
)


def expected_output(run_id: str) -> str:
    """The last field of a run of ``Five`` started with ``topic = run_id``."""
    value = run_id
    for node in NODES:
        value = f"{node}({value})"
    return value


@dataclass
class Site:
    """The workflows folder, the server's environment and its Postgres schema."""

    root: Path
    env: dict[str, str]

    @property
    def schema(self) -> str:
        return self.env["AGENTMAP_STATE__SCHEMA_NAME"]

    def start(self, port: int | None = None) -> ServerProcess:
        return start_server(self.root / "workflows", self.root, env_vars=self.env, port=port)

    def records(self) -> dict[str, list[str]]:
        """run id -> the statuses of its rows in ``runs`` (the test wants one each)."""
        import psycopg

        found: dict[str, list[str]] = {}
        with psycopg.connect(PG_URL, connect_timeout=10) as conn:
            for run_id, status in conn.execute(f'SELECT run_id, status FROM "{self.schema}".runs'):
                found.setdefault(run_id, []).append(status)
        return found

    def stored_nodes(self) -> dict[str, Counter[str]]:
        """run id -> how many stored steps each node has."""
        import psycopg

        nodes: dict[str, Counter[str]] = {}
        with psycopg.connect(PG_URL, connect_timeout=10) as conn:
            for run_id, node in conn.execute(f'SELECT run_id, node FROM "{self.schema}".steps'):
                nodes.setdefault(run_id, Counter())[node] += 1
        return nodes


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    workflows = tmp_path / "workflows"
    (workflows / "custom_agents").mkdir(parents=True)
    (workflows / "custom_agents" / "tick_agents.py").write_text(AGENTS)
    (workflows / "five.csv").write_text(WORKFLOW)
    with postgres_schema("load") as state_env:
        yield Site(
            tmp_path,
            {
                **state_env,
                "AGENTMAP_STATE__DURABILITY": "sync",
                # 100 anonymous clients: above the default cap of 64 runs per key.
                "AGENTMAP_SERVER__MAX_CONCURRENT_RUNS": str(2 * CLIENTS),
                "AGENTMAP_STATE__POOL_MAX_SIZE": "20",
            },
        )


# ---------------------------------------------------------------------- the clients


@dataclass
class Tally:
    """What the clients saw: HTTP statuses, runs that did not complete, transport errors."""

    statuses: Counter[int] = field(default_factory=Counter)
    completed: set[str] = field(default_factory=set)
    wrong: list[str] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0

    def record(self, run_id: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        body = response.json() if response.status_code == 200 else None
        ok = (
            body is not None
            and body["status"] == "completed"
            and body["run_id"] == run_id
            and body["state"]["f5"] == expected_output(run_id)
        )
        if ok:
            self.completed.add(run_id)
        else:
            self.wrong.append(f"{run_id}: {response.status_code} {response.text[:300]}")


#: (run id, path, JSON body) of one request.
Job = tuple[str, str, dict[str, Any]]


def new_run(run_id: str) -> Job:
    return run_id, "/v1/runs", {"graph": "Five", "state": {"topic": run_id}, "run_id": run_id}


def forced_resume(run_id: str) -> Job:
    return run_id, f"/v1/runs/{run_id}/resume", {"force": True}


async def drive(
    url: str,
    jobs: list[Job],
    tally: Tally,
    *,
    stop: asyncio.Event | None = None,
    on_answer: Callable[[Tally], None] = lambda _: None,
) -> None:
    """Send ``jobs`` from CLIENTS concurrent clients (wait=true), until done or ``stop`` is set."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        # An httpx client per connection: one client pooling 100 connections spent
        # ~12 ms of CPU per request (its pool scans every connection), 4x the server's.
        async with httpx.AsyncClient(
            base_url=url,
            limits=httpx.Limits(max_connections=1),
            timeout=httpx.Timeout(REQUEST_TIMEOUT),
        ) as http:
            while not queue.empty() and not (stop is not None and stop.is_set()):
                run_id, path, body = queue.get_nowait()
                try:
                    response = await http.post(path, json=body)
                except httpx.TimeoutException:
                    tally.timeouts += 1
                    continue
                except httpx.TransportError as exc:
                    tally.transport_errors[type(exc).__name__] += 1
                    continue
                tally.record(run_id, response)
                on_answer(tally)

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(CLIENTS))), PHASE_TIMEOUT)


def assert_all_completed(site: Site, run_ids: list[str]) -> None:
    records = site.records()
    assert sorted(records) == sorted(run_ids), "a run is missing from the store, or one too many"
    not_once = {r: s for r, s in records.items() if s != ["completed"]}
    assert not not_once, f"runs not stored exactly once as completed: {not_once}"
    once_each = Counter(dict.fromkeys(NODES, 1))
    wrong_steps = {r: c for r, c in site.stored_nodes().items() if c != once_each}
    assert not wrong_steps, f"runs whose nodes were not stored once each: {wrong_steps}"


def metric(server: ServerProcess, pattern: str) -> float:
    """The value of the /metrics sample whose line matches ``pattern`` (0 when absent)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def runs_active(server: ServerProcess) -> float:
    """``agentmap_runs_active`` of the server: runs its manager still holds as live."""
    return metric(server, "agentmap_runs_active")


def runs_completed(server: ServerProcess) -> float:
    """How many runs of ``Five`` this server process ran to completion."""
    return metric(server, r'agentmap_runs_total\{graph="Five",status="completed"\}')


# ---------------------------------------------------------------------- tests


def test_500_runs_at_100_clients_are_each_stored_once_completed(site: Site) -> None:
    run_ids = [f"load-{i:03d}" for i in range(RUNS)]
    tally = Tally()
    server = site.start()
    try:
        asyncio.run(drive(server.url, [new_run(r) for r in run_ids], tally))
        assert not [s for s in tally.statuses if s >= 500], tally.statuses
        assert (tally.transport_errors, tally.timeouts) == (Counter(), 0)
        assert tally.wrong == []
        assert tally.statuses == Counter({200: RUNS})
        assert tally.completed == set(run_ids)

        listed: list[str] = []
        page: str | None = "/v1/runs?status=completed&limit=200"
        while page is not None:
            answer = httpx.get(server.url + page, timeout=REQUEST_TIMEOUT).json()
            listed += [run["run_id"] for run in answer["runs"]]
            page = answer["next"]
        assert sorted(listed) == run_ids
        assert runs_active(server) == 0, "the run manager still holds runs that ended"
    finally:
        server.stop()
    assert_all_completed(site, run_ids)


def test_sigkill_midway_then_restart_resume_and_resubmit_completes_each_run_once(
    site: Site,
) -> None:
    run_ids = [f"kill-{i:03d}" for i in range(RUNS)]
    before = Tally()
    server = site.start()
    try:
        killed = asyncio.Event()

        def kill_at_half(tally: Tally) -> None:
            if not killed.is_set() and sum(tally.statuses.values()) >= RUNS // 2:
                killed.set()
                server.proc.send_signal(signal.SIGKILL)

        asyncio.run(
            drive(
                server.url,
                [new_run(r) for r in run_ids],
                before,
                stop=killed,
                on_answer=kill_at_half,
            )
        )
        assert killed.is_set()
        assert server.proc.wait(10) == -signal.SIGKILL
    finally:
        server.kill()
    assert not [s for s in before.statuses if s >= 500], before.statuses
    assert before.wrong == []
    assert before.timeouts == 0
    # The requests in flight at the kill lost their connection; that is expected.
    assert sum(before.transport_errors.values()) > 0, "nothing was in flight at the kill?"

    records = site.records()
    assert all(len(statuses) == 1 for statuses in records.values())
    status = {run_id: statuses[0] for run_id, statuses in records.items()}
    assert set(status.values()) <= {"running", "completed", "failed", "interrupted"}, status
    resume = [r for r in run_ids if status.get(r) in ("running", "failed", "interrupted")]
    again = [r for r in run_ids if r not in status]
    assert resume, "the kill left no run half done?"

    after = Tally()
    server = site.start(port=server.port)
    try:
        jobs = [forced_resume(r) for r in resume] + [new_run(r) for r in again]
        asyncio.run(drive(server.url, jobs, after))
        assert not [s for s in after.statuses if s >= 500], after.statuses
        assert (after.transport_errors, after.timeouts) == (Counter(), 0)
        assert after.wrong == []
        assert after.completed == set(resume) | set(again)
        assert runs_active(server) == 0, "the run manager still holds runs that ended"
    finally:
        server.stop()
    assert_all_completed(site, run_ids)
    print(  # the accounting, for the report (pytest -s)
        f"before the kill: {before.statuses[200]} answered, "
        f"{dict(before.transport_errors)} connection errors; after: {len(resume)} resumed "
        f"({Counter(status[r] for r in resume)}), {len(again)} submitted again"
    )


def test_concurrent_requests_for_one_run_id_start_it_once_and_resume_it_once(
    site: Site,
) -> None:
    """A client retrying, or a proxy replaying, sends one run_id many times at once.

    The first request starts (or resumes) the run; every other gets 409, and
    the workflow runs once: the server's count of completed runs says so (the
    store cannot, as a second execution overwrites the first one's rows).
    """
    clients = 20

    async def burst(job: Job) -> list[httpx.Response]:
        async def one() -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
                return await http.post(job[1], json=job[2])

        return await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(clients))), PHASE_TIMEOUT
        )

    def problems(answers: list[httpx.Response]) -> Counter[tuple[int, str]]:
        return Counter(
            (a.status_code, a.json().get("type", a.json().get("status"))) for a in answers
        )

    server = site.start()
    try:
        started = asyncio.run(burst(new_run("twice")))
        assert problems(started) == Counter(
            {(200, "completed"): 1, (409, "urn:agentmap:problem:run-exists"): clients - 1}
        ), [a.text for a in started]
        assert runs_completed(server) == 1, "the workflow ran more than once"

        slow = "slow-twice"
        answer = httpx.post(
            f"{server.url}/v1/runs",
            json={"graph": "Five", "state": {"topic": slow}, "run_id": slow, "wait": False},
            timeout=REQUEST_TIMEOUT,
        )
        assert answer.status_code == 202, answer.text
        cancel = httpx.post(f"{server.url}/v1/runs/{slow}/cancel", timeout=REQUEST_TIMEOUT)
        assert cancel.status_code == 202, cancel.text
        resumed = asyncio.run(burst((slow, f"/v1/runs/{slow}/resume", {})))
        assert problems(resumed) == Counter(
            {(200, "completed"): 1, (409, "urn:agentmap:problem:not-resumable"): clients - 1}
        ), [a.text for a in resumed]
        assert runs_completed(server) == 2, "the resumed run ran more than once"
        assert runs_active(server) == 0
    finally:
        server.stop()
    assert site.records() == {"twice": ["completed"], slow: ["completed"]}
