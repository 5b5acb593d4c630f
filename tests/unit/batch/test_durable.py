"""Durable batches on a real sqlite state store: suspended rows, interrupted rows, run ids.

The workflow counts every agent call per row, so each test can say which
nodes ran again and which were replayed from their checkpoints.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from agentmap.agents.base_agent import BaseAgent
from agentmap.batch import arun_batch, run_batch
from agentmap.batch.durable import runs_prefix, waiting_digest
from agentmap.batch.output import JobIdentity, RowSet, resume_output
from agentmap.errors import StateBackendError
from agentmap.runtime.interrupts import interrupt
from agentmap.services.state.sqlite import SqliteStateAdapter
from containers import Application, create_application
from tests.conftest import require_service

HEADER = "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt\n"
#: Count (sync) -> Hold (async, may hang) -> Gate (interrupts above 100) -> Done (echo).
FLOW = (
    HEADER
    + "Flow,Count,Counter,Hold,,name,counted,\n"
    + "Flow,Hold,Holder,Gate,,counted,held,\n"
    + "Flow,Gate,Gate,Done,,name|amount,approved,\n"
    + "Flow,Done,echo,,,approved,result,{approved}\n"
)


class CountAgent(BaseAgent):
    calls: Counter[str]

    def process(self, inputs: dict[str, Any]) -> Any:
        type(self).calls[inputs["name"]] += 1
        return str(inputs["name"]).upper()


class HoldAgent(BaseAgent):
    calls: Counter[str]
    #: Names whose run waits here until cancelled (the batch "dies" mid-node).
    hang: frozenset[str] = frozenset()
    active = 0

    async def process(self, inputs: dict[str, Any]) -> Any:
        cls = type(self)
        name = str(inputs["counted"]).lower()
        cls.calls[name] += 1
        cls.active += 1
        try:
            if name in cls.hang:
                await asyncio.Event().wait()
        finally:
            cls.active -= 1
        return inputs["counted"]


class GateAgent(BaseAgent):
    calls: Counter[str]

    def process(self, inputs: dict[str, Any]) -> Any:
        type(self).calls[inputs["name"]] += 1
        if int(inputs["amount"]) > 100:
            answer = interrupt(f"approve {inputs['name']}?", ["approved"])
            return answer["approved"]
        return "auto"


Agents = dict[str, type[BaseAgent]]


@pytest.fixture
def agents() -> Agents:
    """Fresh subclasses, so each test has its own counters."""
    return {
        "Counter": type("Counter", (CountAgent,), {"calls": Counter()}),
        "Holder": type("Holder", (HoldAgent,), {"calls": Counter(), "hang": frozenset()}),
        "Gate": type("Gate", (GateAgent,), {"calls": Counter()}),
    }


def make_app(agents: Agents, **state: Any) -> Application:
    app = create_application("test", state=state)
    registry = app.container.agents.registry()
    for name, agent in agents.items():
        registry.register(name, agent)
    return app


POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres(sql: str) -> None:
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (agentmap[postgres])")
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The state settings of a durable store: a sqlite file, or a postgres schema of its own."""
    if request.param == "sqlite":
        yield {"backend": "sqlite", "path": str(tmp_path / "state.sqlite3")}
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"agentmap_test_{uuid.uuid4().hex[:12]}"
    try:
        yield {"backend": "postgres", "url": POSTGRES, "schema_name": schema}
    finally:
        _postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def app(agents: Agents, store: dict[str, Any]) -> Iterator[Application]:
    application = make_app(agents, **store)
    yield application
    asyncio.run(application.state_store.close())  # a postgres pool closes in a loop
    application.close()


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.csv"
    path.write_text(FLOW, encoding="utf-8")
    return path


def rows(tmp_path: Path, amounts: list[int]) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            json.dumps({"name": f"n{i}", "amount": a}) + "\n" for i, a in enumerate(amounts, 1)
        ),
        encoding="utf-8",
    )
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def latest(path: Path) -> dict[int, dict[str, Any]]:
    """Each row's latest line (how a durable batch's output is read)."""
    return {line["row"]: line for line in read_lines(path)}


def calls(agents: Agents) -> dict[str, dict[str, int]]:
    return {name: dict(agent.calls) for name, agent in agents.items()}  # type: ignore[attr-defined]


# --- suspended rows --------------------------------------------------------------------------


def test_suspended_rows_get_a_suspended_line_and_the_summary_says_how_to_go_on(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [5, 500, 7, 700])
    output = tmp_path / "out.jsonl"
    summary = run_batch(app, flow, inputs, output)
    lines = latest(output)
    assert len(read_lines(output)) == 4
    assert [lines[r]["status"] for r in (1, 2, 3, 4)] == [
        "completed",
        "suspended",
        "completed",
        "suspended",
    ]
    assert lines[1]["output"]["result"] == "auto"
    prefix = lines[1]["run_id"].rsplit("-", 1)[0]
    assert [lines[r]["run_id"] for r in (1, 2, 3, 4)] == [f"{prefix}-{r}" for r in (1, 2, 3, 4)]
    assert lines[2]["waiting"] == {
        "node": "Gate",
        "question": "approve n2?",
        "fields": ["approved"],
        "branch": "",
        "visit": 1,
    }
    assert lines[2]["error"] is None
    assert lines[2]["output"]["counted"] == "N2"  # what the run had written before it stopped
    assert (summary.completed, summary.failed, summary.suspended) == (2, 0, 2)
    assert summary.interrupted is False
    data = summary.to_dict()
    assert (data["done"], data["suspended"], data["remaining"]) == (2, 2, 0)
    assert data["waiting_example"]["run_id"] in {f"{prefix}-2", f"{prefix}-4"}  # the last one

    # Rerun before anyone answered: nothing runs, nothing is written, still two suspended.
    before = output.read_bytes()
    again = run_batch(app, flow, inputs, output)
    assert output.read_bytes() == before
    assert (again.completed, again.suspended, again.ran, again.resumed) == (2, 2, 0, 2)
    assert calls(agents)["Counter"] == {"n1": 1, "n2": 1, "n3": 1, "n4": 1}


def test_a_resumed_suspended_row_gets_its_final_line_from_the_store_and_nothing_runs(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [5, 500, 700])
    output = tmp_path / "out.jsonl"
    run_batch(app, flow, inputs, output)
    suspended = latest(output)[2]
    resumed = app.resume(suspended["run_id"], {"approved": "yes"})
    assert resumed.status == "completed"
    after_resume = calls(agents)

    summary = run_batch(app, flow, inputs, output, summary_file=tmp_path / "s.json")
    assert calls(agents) == after_resume  # the batch ran no agent
    lines = read_lines(output)
    assert len(lines) == 4  # one line added: row 2's final line
    final = lines[-1]
    assert (final["row"], final["status"], final["via"]) == (2, "completed", "store")
    assert final["output"] == {
        "counted": "N2",
        "held": "N2",
        "approved": "yes",
        "result": "yes",
    }
    assert final["run_id"] == suspended["run_id"]
    assert "waiting" not in final
    assert set(final["timings"]) == {"Count", "Hold", "Gate", "Done"}
    assert (summary.completed, summary.suspended, summary.from_store) == (2, 1, 1)
    data = json.loads((tmp_path / "s.json").read_text())
    assert (data["rows"], data["completed"], data["suspended"], data["remaining"]) == (3, 2, 1, 0)

    # A third attempt: row 2 is done now (its completed line wins), row 3 still waits.
    third = run_batch(app, flow, inputs, output)
    assert len(read_lines(output)) == 4
    assert (third.completed, third.suspended, third.resumed, third.ran) == (2, 1, 2, 0)


def test_a_row_resumed_into_another_question_gets_a_new_suspended_line(
    agents: Agents, tmp_path: Path
) -> None:
    twice = (
        HEADER
        + "Flow,Count,Counter,Gate,,name,counted,\n"
        + "Flow,Gate,Gate,Again,,name|amount,approved,\n"
        + "Flow,Again,Gate,,,name|amount,confirmed,\n"
    )
    flow = tmp_path / "twice.csv"
    flow.write_text(twice, encoding="utf-8")
    inputs = rows(tmp_path, [500])
    output = tmp_path / "out.jsonl"
    with make_app(agents, backend="sqlite", path=str(tmp_path / "s.db")) as app:
        run_batch(app, flow, inputs, output)
        first = read_lines(output)[0]
        assert first["waiting"]["node"] == "Gate"
        app.resume(first["run_id"], {"approved": "yes"})  # now it waits at Again
        summary = run_batch(app, flow, inputs, output)
        second = read_lines(output)
        assert len(second) == 2
        assert (second[1]["status"], second[1]["waiting"]["node"]) == ("suspended", "Again")
        assert summary.suspended == 1
        run_batch(app, flow, inputs, output)
        assert len(read_lines(output)) == 2  # the same question again: no new line


def test_a_failed_resume_is_the_rows_failed_line(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [500])
    output = tmp_path / "out.jsonl"
    run_batch(app, flow, inputs, output)
    run_id = read_lines(output)[0]["run_id"]
    failing = (
        HEADER
        + "Flow,Count,Counter,Hold,,name,counted,\n"
        + "Flow,Hold,Holder,Gate,,counted,held,\n"
        + "Flow,Gate,Gate,Done,,name|amount,approved,\n"
        + "Flow,Done,Boom,,,approved,result,\n"
    )
    boom = tmp_path / "boom.csv"
    boom.write_text(failing, encoding="utf-8")

    class Boom(BaseAgent):
        def process(self, inputs: dict[str, Any]) -> Any:
            raise RuntimeError("no way")

    app.container.agents.registry().register("Boom", Boom)
    result = app.resume(run_id, {"approved": "no"}, workflow=boom, force=True)
    assert result.status == "failed"
    summary = run_batch(app, flow, inputs, output)
    last = read_lines(output)[-1]
    assert (last["status"], last["via"], last["failed_node"]) == ("failed", "store", "Done")
    assert "no way" in last["error"]
    assert (summary.failed, summary.suspended) == (1, 0)


# --- interrupted rows ------------------------------------------------------------------------


async def test_an_interrupted_row_resumes_without_running_its_finished_nodes_again(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    holder = cast(type[HoldAgent], agents["Holder"])
    holder.hang = frozenset({"n2", "n3"})
    inputs = rows(tmp_path, [1, 2, 3, 4])
    output = tmp_path / "out.jsonl"
    batch = asyncio.create_task(arun_batch(app, flow, inputs, output, concurrency=4))
    for _ in range(2000):
        await asyncio.sleep(0.002)
        if holder.active == 2 and output.exists() and output.read_text().count("\n") == 2:
            break
    batch.cancel()  # as good as a kill for the store: rows 2 and 3 stay "running"
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert sorted(latest(output)) == [1, 4]
    stored = await app.aload_run(f"{read_lines(output)[0]['run_id'].rsplit('-', 1)[0]}-2")
    assert (stored.status, stored.path) == ("running", ["Count"])

    holder.hang = frozenset()
    summary = await arun_batch(app, flow, inputs, output)
    assert (summary.completed, summary.resumed_runs, summary.ran, summary.resumed) == (4, 2, 2, 2)
    lines = read_lines(output)
    assert sorted(line["row"] for line in lines) == [1, 2, 3, 4]  # no row twice
    by_row = latest(output)
    for row in (2, 3):
        assert by_row[row]["via"] == "resume"
        assert by_row[row]["output"]["result"] == "auto"
        assert set(by_row[row]["timings"]) == {"Count", "Hold", "Gate", "Done"}
    counted = calls(agents)
    assert counted["Counter"] == {"n1": 1, "n2": 1, "n3": 1, "n4": 1}  # replayed, not rerun
    assert counted["Holder"] == {"n1": 1, "n2": 2, "n3": 2, "n4": 1}  # it had not finished


async def test_an_interrupted_row_of_a_changed_workflow_starts_over_with_a_note(
    agents: Agents, tmp_path: Path
) -> None:
    """The job's identity pins the CSV's bytes; a prompt file it references may change."""
    (tmp_path / "done.txt").write_text("first {approved}", encoding="utf-8")
    flow = tmp_path / "flow.csv"
    flow.write_text(FLOW.replace("{approved}", "file:done.txt"), encoding="utf-8")
    holder = cast(type[HoldAgent], agents["Holder"])
    holder.hang = frozenset({"n1"})
    inputs = rows(tmp_path, [1])
    output = tmp_path / "out.jsonl"
    with make_app(agents, backend="sqlite", path=str(tmp_path / "s.db")) as app:
        batch = asyncio.create_task(arun_batch(app, flow, inputs, output))
        for _ in range(2000):
            await asyncio.sleep(0.002)
            if holder.active == 1:
                break
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
    (tmp_path / "done.txt").write_text("second {approved}", encoding="utf-8")
    holder.hang = frozenset()
    with make_app(agents, backend="sqlite", path=str(tmp_path / "s.db")) as app:
        summary = await arun_batch(app, flow, inputs, output)
    (line,) = read_lines(output)
    assert line["output"]["result"] == "second auto"
    assert "via" not in line
    assert calls(agents)["Counter"] == {"n1": 2}  # started over
    (note,) = summary.notes()
    assert "started over" in note
    assert "node 'Done' changed (Prompt)" in note


async def test_a_new_output_file_starts_over_rather_than_take_stored_runs(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [1, 2])
    output = tmp_path / "out.jsonl"
    await arun_batch(app, flow, inputs, output)
    output.unlink()  # "run it all again"
    summary = await arun_batch(app, flow, inputs, output)
    assert (summary.ran, summary.from_store, summary.resumed_runs) == (2, 0, 0)
    assert calls(agents)["Counter"] == {"n1": 2, "n2": 2}
    assert all("via" not in line for line in read_lines(output))


def test_two_output_files_of_one_job_do_not_share_runs(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [500])
    run_batch(app, flow, inputs, tmp_path / "a.jsonl")
    run_batch(app, flow, inputs, tmp_path / "b.jsonl")
    a, b = read_lines(tmp_path / "a.jsonl")[0], read_lines(tmp_path / "b.jsonl")[0]
    assert a["job"] == b["job"]
    assert a["run_id"] != b["run_id"]
    assert calls(agents)["Counter"] == {"n1": 2}
    tag = a["job"]
    assert a["run_id"] == f"{runs_prefix(tag, tmp_path / 'a.jsonl')}-1"


# --- the store's side ------------------------------------------------------------------------


def test_a_suspended_row_whose_run_is_gone_stays_suspended_with_a_note(
    agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [500, 600])
    output = tmp_path / "out.jsonl"
    with make_app(agents, backend="sqlite", path=str(tmp_path / "one.db")) as app:
        run_batch(app, flow, inputs, output)
    with make_app(agents, backend="sqlite", path=str(tmp_path / "other.db")) as app:
        summary = run_batch(app, flow, inputs, output)
    assert len(read_lines(output)) == 2
    assert summary.suspended == 2
    (note,) = summary.notes()
    assert "stays suspended" in note
    assert "not in the state store" in note
    assert note.endswith("(and 1 more rows alike)")


def test_an_unusable_store_stops_the_batch_before_the_output_is_made(
    agents: Agents, flow: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    inputs = rows(tmp_path, [1])
    output = tmp_path / "out.jsonl"
    with (
        make_app(agents, backend="sqlite", path=str(blocker / "s.db")) as app,
        pytest.raises(StateBackendError, match=r"state\.path"),
    ):
        run_batch(app, flow, inputs, output)
    assert not output.exists()


# --- memory: as before, and a suspended row cannot wait ---------------------------------------


def test_with_memory_a_suspended_row_is_failed_and_runs_get_random_ids(
    agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [1, 500])
    output = tmp_path / "out.jsonl"
    with make_app(agents, backend="memory") as app:
        summary = run_batch(app, flow, inputs, output)
        lines = latest(output)
        assert lines[2]["status"] == "failed"
        assert lines[2]["failed_node"] == "Gate"
        assert "suspended at node 'Gate' (approve n2?)" in lines[2]["error"]
        assert "state.backend" in lines[2]["error"]
        assert "waiting" not in lines[2]
        assert not lines[1]["run_id"].startswith("batch-")
        assert (summary.completed, summary.failed, summary.suspended) == (1, 1, 0)
        run_batch(app, flow, inputs, output)
    assert calls(agents)["Counter"] == {"n1": 1, "n2": 1}


def test_with_memory_suspended_lines_of_a_durable_batch_are_left_alone(
    agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [1, 500])
    output = tmp_path / "out.jsonl"
    with make_app(agents, backend="sqlite", path=str(tmp_path / "s.db")) as app:
        run_batch(app, flow, inputs, output)
    with make_app(agents, backend="memory") as app:
        summary = run_batch(app, flow, inputs, output)
    assert len(read_lines(output)) == 2
    assert (summary.completed, summary.suspended, summary.ran) == (1, 1, 0)
    assert calls(agents)["Gate"] == {"n1": 1, "n2": 1}


# --- the output file -------------------------------------------------------------------------


def test_resume_output_keeps_the_latest_line_of_a_row_and_a_final_line_wins(
    tmp_path: Path,
) -> None:
    job = JobIdentity("w" * 12, "i" * 12)

    def line(row: int, status: str, node: str = "Gate", visit: int = 1) -> dict[str, Any]:
        waiting = {"node": node, "question": "?", "fields": ["x"], "branch": "", "visit": visit}
        return {"row": row, "job": job.tag, "status": status, "waiting": waiting}

    output = tmp_path / "out.jsonl"
    output.write_text(
        "".join(
            json.dumps(x) + "\n"
            for x in [
                line(1, "suspended"),
                line(2, "suspended"),
                line(1, "completed"),
                line(3, "failed"),
                line(3, "suspended"),  # after a final line: ignored
                line(2, "suspended", "Again"),  # a later question replaces the earlier
                line(4, "completed"),
                line(4, "completed"),  # a duplicate final line counts once
            ]
        )
    )
    seen: list[tuple[int, str]] = []
    waiting: dict[int, int] = {}
    done = resume_output(
        output, job, seen=lambda r: seen.append((r["row"], r["status"])), waiting=waiting
    )
    assert [r for r in (1, 2, 3, 4) if r in done] == [1, 3, 4]
    assert waiting == {2: waiting_digest(line(2, "suspended", "Again")["waiting"])}
    assert seen == [
        (1, "suspended"),
        (2, "suspended"),
        (1, "completed"),
        (3, "failed"),
        (2, "suspended"),
        (4, "completed"),
    ]
    # Without ``waiting`` (before durable batches) any line is a done row.
    assert [r for r in (1, 2, 3, 4) if r in resume_output(output, job)] == [1, 2, 3, 4]


def test_waiting_digest_tells_places_apart() -> None:
    at = {"node": "Gate", "question": "a", "fields": ["x"], "branch": "", "visit": 1}
    assert waiting_digest(at) == waiting_digest({**at, "question": "other words"})
    assert waiting_digest(at) != waiting_digest({**at, "visit": 2})
    assert waiting_digest(at) != waiting_digest({**at, "node": "Again"})
    assert waiting_digest(None) == 0


def test_rowset_discard() -> None:
    rows_ = RowSet()
    assert (rows_.add(9), rows_.add(10)) == (True, True)
    assert (rows_.discard(9), rows_.discard(9), rows_.discard(0)) == (True, False, False)
    assert (9 in rows_, 10 in rows_, rows_.count) == (False, True, 1)


def test_counts_of_a_suspended_batch_add_up(
    app: Application, agents: Agents, flow: Path, tmp_path: Path
) -> None:
    amounts = [500 if i % 3 == 0 else i for i in range(1, 31)]
    inputs = rows(tmp_path, amounts)
    output = tmp_path / "out.jsonl"
    summary = run_batch(app, flow, inputs, output, concurrency=8)
    statuses = Counter(line["status"] for line in read_lines(output))
    assert statuses == {"completed": 20, "suspended": 10}
    assert (summary.completed + summary.suspended, summary.total) == (30, 30)


class CountingSqlite(SqliteStateAdapter):
    """The real sqlite store, counting the runs it is asked to load."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.loads = 0

    async def load_run(self, run_id: str) -> Any:
        self.loads += 1
        return await super().load_run(run_id)


def test_a_fresh_local_batch_reads_no_run_back_and_a_rerun_only_the_rows_without_a_final_line(
    agents: Agents, flow: Path, tmp_path: Path
) -> None:
    inputs = rows(tmp_path, [1, 500, 3, 4])
    output = tmp_path / "out.jsonl"
    counting = CountingSqlite(tmp_path / "s.db")
    with (
        make_app(agents, backend="sqlite", path=str(tmp_path / "unused.db")) as app,
        app.use(state=counting),
    ):
        run_batch(app, flow, inputs, output)
        assert counting.loads == 0
        run_batch(app, flow, inputs, output)
    assert counting.loads == 1  # row 2, suspended; the completed rows are done
