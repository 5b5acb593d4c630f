"""The conformance suite every state adapter (``StateAdapterProtocol``) must pass.

Shipped in the test kit so that a third-party backend is checked by the same
tests as the built-in ones (as LangGraph ships checkpoint-conformance). Subclass
it in a test module and provide the adapter as a fixture; give the adapter the
suite's ``clock`` if it takes one, so time moves without sleeping::

    import pytest

    from agentmap.services.state.sqlite import SqliteStateAdapter
    from agentmap.testing.state_conformance import ManualClock, StateAdapterConformance

    class TestSqliteStateAdapter(StateAdapterConformance):
        @pytest.fixture
        def clock(self):
            return ManualClock()

        @pytest.fixture
        def adapter(self, clock, tmp_path):
            return SqliteStateAdapter(tmp_path / "runs.sqlite3", clock=clock)

        async def break_connection(self, adapter):  # optional: see below
            adapter._conn.close()  # behind the adapter's back

The adapter's timestamps (``created_at``/``updated_at``, hence listing order
and ``prune``) are tested through ``await clock.advance(seconds)``: a
``ManualClock`` is a callable returning the time it was moved to; an adapter
that keeps time itself (a server's ``now()``) keeps the default ``WallClock``,
whose ``advance`` sleeps (the suite's advances are a few hundredths of a
second for that reason).

Each test runs its scenario in ``asyncio.run`` (no asyncio plugin needed),
often several times with one adapter, as the application does: the suite calls
``await adapter.open()`` first in every scenario and ``await adapter.close()``
at its end, so an adapter must open loop-bound resources (a connection pool) in
``open`` or on first use, and serve a new loop after ``close``. Stored runs
outlive ``close``; clean-up of the store itself (a schema on a shared server)
is the ``adapter`` fixture's business.

What is checked is the contract the runner relies on to show, resume and fork
runs: values of every JSON type come back exactly (type included; the order of
keys in an object is not checked), steps come back ordered by step number,
concurrent runs neither lose nor mix steps, ``list_runs``/``fork_run``/
``prune``/``reopen_run`` behave as documented, a value that cannot be stored
is refused without harming what is stored, and a broken connection never
loses a step silently. An adapter must see its own writes: ``load_run`` returns
everything ``save_step`` accepted, whatever the durability mode. Writing to a
run that was never started (``save_step``, ``finish_run``, ``reopen_run``,
``fork_run``) is a ``KeyError`` naming the run. The tests of a run's life,
listing, fork and prune live in ``agentmap.testing._state_runs``, the
fixtures and helpers in ``agentmap.testing._state_support``; this class
inherits them all, and is the one to subclass.

Optional parts are skipped with a reason: the JSON checks for an adapter
without ``encode_delta`` (``EncodingStateAdapter``), and the broken connection
unless the subclass overrides ``async def break_connection(self, adapter)`` to
break the adapter's connection behind its back (close its socket, terminate
its server session).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from agentmap.errors import StateBackendError, StateValueError
from agentmap.runtime.checkpoint import RunStart, RunSummary, StoredRun, Waiting, state_after
from agentmap.services.protocols import StateAdapterProtocol
from agentmap.testing._state_runs import RunLifecycleCases
from agentmap.testing._state_support import (
    JSON_VALUES,
    by_key,
    make_step,
    require_encoding,
    runner_encoded,
    typed,
)
from agentmap.testing.cache_conformance import Clock, ManualClock, WallClock

__all__ = [
    "JSON_VALUES",
    "Clock",
    "ManualClock",
    "StateAdapterConformance",
    "WallClock",
    "typed",
]


class StateAdapterConformance(RunLifecycleCases):
    """Base class of a backend's conformance tests; define ``adapter`` (and ``clock``).

    The fixtures, the ``break_connection`` hook and ``run`` come from
    ``StateSuiteBase``; the tests of a run's life, listing, fork and prune from
    ``RunLifecycleCases``; storage, ordering, concurrency and failures are here.
    """

    # ------------------------------------------------------------------ basics

    def test_satisfies_the_protocol(self, adapter: Any) -> None:
        assert isinstance(adapter, StateAdapterProtocol)

    def test_unknown_run_loads_as_none(self, adapter: Any) -> None:
        assert self.run(adapter, lambda: adapter.load_run("nope")) is None

    def test_writing_to_an_unknown_run_is_a_key_error_naming_it(self, adapter: Any) -> None:
        async def scenario() -> Any:
            with pytest.raises(KeyError, match="ghost"):
                await adapter.save_step("ghost", make_step(1))
            with pytest.raises(KeyError, match="ghost"):
                await adapter.finish_run("ghost", "completed")
            with pytest.raises(KeyError, match="ghost"):
                await adapter.reopen_run("ghost")
            with pytest.raises(KeyError, match="ghost"):
                await adapter.fork_run("ghost", "child", 1)
            return [await adapter.load_run("ghost"), await adapter.load_run("child")]

        assert self.run(adapter, scenario) == [None, None]

    def test_started_run_is_stored_as_given(self, adapter: Any, clock: Clock) -> None:
        start = RunStart(
            "r1", "G", {"city": "Paris"}, workflow="/w/flow.csv", fingerprint={"file": "abc"}
        )

        async def scenario() -> tuple[StoredRun, list[RunSummary]]:
            await adapter.start_run(start)
            return await self._load(adapter, "r1"), await adapter.list_runs()

        run, listed = self.run(adapter, scenario)
        assert (run.run_id, run.graph, run.status) == ("r1", "G", "running")
        assert (run.initial_state, run.steps, run.state) == (
            {"city": "Paris"},
            [],
            {"city": "Paris"},
        )
        assert (run.workflow, dict(run.fingerprint or {})) == ("/w/flow.csv", {"file": "abc"})
        assert (run.error, run.waiting, run.parent_run_id, run.forked_from_step) == (None,) * 4
        assert 0 < run.created_at <= run.updated_at
        if isinstance(clock, ManualClock):
            assert (run.created_at, run.updated_at) == (clock.now, clock.now)
        [summary] = listed
        assert (summary.run_id, summary.graph, summary.status, summary.steps) == (
            "r1",
            "G",
            "running",
            0,
        )
        assert (summary.last_node, summary.error, summary.workflow) == (None, None, "/w/flow.csv")
        assert summary.created_at == run.created_at

    def test_close_is_idempotent(self, adapter: Any) -> None:
        async def scenario() -> None:
            await adapter.start_run(RunStart("r1", "G", {}))
            await adapter.close()
            await adapter.close()  # and once more by `run`: none of them may raise

        self.run(adapter, scenario)

    # ------------------------------------------------------------------ round trips

    def test_every_json_type_round_trips_exactly(self, adapter: Any) -> None:
        """Through the initial state, deltas (raw and pre-encoded), route, usage, waiting,
        fingerprint, error and workflow. Plain-text fields (error, question, names) need not
        hold NUL, which a SQL text column refuses; JSON values must (JSON escapes it)."""
        text = JSON_VALUES["unicode"].replace("\x00", "")
        fingerprint = {"file": "sha256:ab", "nodes": {"Ask ✓": "x"}, "values": JSON_VALUES}
        raw = make_step(1, "Raw ✓", dict(JSON_VALUES), route=("", "日本 \U0001f600", "End"))
        renamed = {f"{key} 2": value for key, value in JSON_VALUES.items()}
        usage = {"calls": 2, "tokens": 2**65, "cost": 0.000123, "none": None, "all": JSON_VALUES}
        pre = make_step(2, "Pre", renamed, usage=usage)
        waiting = Waiting("Ask ✓", f"approve?\n{text}", ("ünï", "", "a b"), branch="0.1", visit=3)
        error = f"Pre failed:\n{text}"

        async def scenario() -> StoredRun:
            await adapter.start_run(
                RunStart("r1", "G ✓", dict(JSON_VALUES), "/tmp/wörk flows/a b.csv", fingerprint)
            )
            await adapter.save_step("r1", raw)
            await adapter.save_step("r1", runner_encoded(adapter, pre))
            await adapter.finish_run("r1", "suspended", error, waiting)
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert by_key(run.initial_state) == by_key(JSON_VALUES)
        assert [s.node for s in run.steps] == ["Raw ✓", "Pre"]
        assert by_key(run.steps[0].delta) == by_key(JSON_VALUES)
        assert by_key(run.steps[1].delta) == by_key(renamed)
        assert typed(run.steps[0].route) == typed(("", "日本 \U0001f600", "End"))
        assert typed(run.steps[1].usage) == typed(usage)
        assert typed(run.steps) == typed([raw, pre])
        assert by_key(run.state) == by_key({**JSON_VALUES, **renamed})
        assert typed(run.waiting) == typed(waiting)
        assert typed(run.fingerprint) == typed(fingerprint)
        assert (run.graph, run.error, run.workflow) == ("G ✓", error, "/tmp/wörk flows/a b.csv")

    def test_step_records_round_trip_field_by_field(self, adapter: Any) -> None:
        steps = [
            make_step(1, "A", {}, route=(), ok=True, final=False, usage=None),
            make_step(
                2,
                "B",
                {"error": "boom", "last_action_success": False},
                route=("Handle", "Log"),
                ok=False,
                final=False,
                branch="0.1.12",
                visit=7,
                started_at=1712345678.123456,
                duration=0.000321,
                attempts=3,
                usage={"calls": 1, "tokens": 12, "cost": None},
            ),
            make_step(
                3, "C", {"x": 1}, ok=False, final=True, started_at=1712345679.5, duration=2.0
            ),
        ]

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {}))
            for step in steps:
                await adapter.save_step("r1", step)
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert typed(run.steps) == typed(steps)  # bools stay bools, route a tuple, 7 an int

    def test_large_values_round_trip(self, adapter: Any) -> None:
        big = {
            "text": "ünï ✓ " * 200_000,
            "items": list(range(20_000)),
            "deep": [[[[[[1]]]]]] * 500,
        }
        fingerprint = {"nodes": {f"Node{i}": f"{i:064x}" for i in range(2_000)}}

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", dict(big), fingerprint=fingerprint))
            await adapter.save_step("r1", runner_encoded(adapter, make_step(1, "A", dict(big))))
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert run.initial_state == big
        assert run.steps[0].delta == big
        assert run.fingerprint == fingerprint

    def test_run_ids_and_names_are_arbitrary_text(self, adapter: Any) -> None:
        names = ["it's; DROP TABLE runs; --", "ünï ✓ 日本", "with space", "a%_*?[x]", "x" * 200]

        async def scenario() -> list[Any]:
            for name in names:
                await adapter.start_run(RunStart(name, name, {"id": name}, workflow=name))
                await adapter.save_step(name, make_step(1, name, {"id": name}, route=(name,)))
            loaded = [await self._load(adapter, name) for name in names]
            return [(r.run_id, r.graph, r.workflow, r.state["id"], r.path) for r in loaded]

        assert self.run(adapter, scenario) == [(n, n, n, n, [n]) for n in names]

    def test_loaded_runs_are_the_readers_own(self, adapter: Any) -> None:
        """A reader that adds to the dict and list it loaded changes nothing stored (the
        records and values in them may be the stored ones: nobody mutates those)."""

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {"a": 1}))
            await adapter.save_step("r1", make_step(1, "A", {"b": 2}))
            first = await self._load(adapter, "r1")
            first.initial_state["late"] = True
            first.steps.append(make_step(2))
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert (run.initial_state, run.path, run.state) == ({"a": 1}, ["A"], {"a": 1, "b": 2})

    def test_runs_survive_close_and_a_new_event_loop(self, adapter: Any) -> None:
        async def first() -> None:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", make_step(1, "A", {"a": 1}))

        async def second() -> None:
            assert (await self._load(adapter, "r1")).state == {"a": 1}
            await adapter.save_step("r1", make_step(2, "B", {"a": 2}))
            await adapter.finish_run("r1", "completed")

        self.run(adapter, first)
        self.run(adapter, second)
        run = self.run(adapter, lambda: self._load(adapter, "r1"))
        assert (run.status, run.path, run.state) == ("completed", ["A", "B"], {"a": 2})

    # ------------------------------------------------------------------ ordering, concurrency

    def test_steps_come_back_ordered_by_step_and_replay_in_that_order(self, adapter: Any) -> None:
        """Parallel branches save out of order; the step number is the truth (as a number:
        10 comes after 9, not after 1)."""
        order = [10, 2, 11, 1, 9, 3]

        async def scenario() -> tuple[StoredRun, list[RunSummary]]:
            await adapter.start_run(RunStart("r1", "G", {"n": 0, "seen": []}))
            for n in order:
                await adapter.save_step("r1", make_step(n, f"N{n}", {"n": n, f"s{n}": n}))
            return await self._load(adapter, "r1"), await adapter.list_runs()

        run, [summary] = self.run(adapter, scenario)
        assert [s.step for s in run.steps] == sorted(order)
        assert run.path == [f"N{n}" for n in sorted(order)]
        assert run.state == {"n": 11, "seen": [], **{f"s{n}": n for n in order}}
        assert state_after(run.initial_state, run.steps, upto=9)["n"] == 9
        assert (run.last_step, summary.steps, summary.last_node) == (11, 6, "N11")

    def test_steps_saved_at_once_by_parallel_branches_are_all_kept(self, adapter: Any) -> None:
        steps = [make_step(n, f"B{n}", {f"b{n}": n}, branch=f"0.{n}") for n in range(1, 31)]
        random.Random(12).shuffle(steps)

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {}))
            await asyncio.gather(*(adapter.save_step("r1", step) for step in steps))
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert [s.step for s in run.steps] == list(range(1, 31))
        assert run.state == {f"b{n}": n for n in range(1, 31)}
        assert [s.branch for s in run.steps] == [f"0.{n}" for n in range(1, 31)]

    def test_concurrent_runs_neither_lose_nor_mix_steps(self, adapter: Any) -> None:
        """50 runs x 20 steps, all writing at once."""
        runs, steps = 50, 20

        async def one(index: int) -> None:
            run_id = f"run-{index}"
            await adapter.start_run(RunStart(run_id, "conc", {"run": run_id}))
            for n in range(1, steps + 1):
                await adapter.save_step(run_id, make_step(n, f"N{n}", {"run": run_id, "n": n}))
                await asyncio.sleep(0)
            await adapter.finish_run(run_id, "completed")

        async def scenario() -> tuple[list[StoredRun], list[RunSummary]]:
            await asyncio.gather(*(one(index) for index in range(runs)))
            loaded = [await self._load(adapter, f"run-{index}") for index in range(runs)]
            return loaded, await adapter.list_runs(graph="conc")

        loaded, listed = self.run(adapter, scenario)
        for index, run in enumerate(loaded):
            run_id = f"run-{index}"
            assert (run.run_id, run.status) == (run_id, "completed")
            assert [s.step for s in run.steps] == list(range(1, steps + 1)), run_id
            assert {s.delta["run"] for s in run.steps} == {run_id}
            assert [s.delta["n"] for s in run.steps] == list(range(1, steps + 1))
            assert run.state == {"run": run_id, "n": steps}
        assert sorted(s.run_id for s in listed) == sorted(f"run-{i}" for i in range(runs))
        assert {(s.steps, s.last_node, s.status) for s in listed} == {
            (steps, f"N{steps}", "completed")
        }

    # ------------------------------------------------------------------ values that cannot be stored

    def test_encode_delta_names_the_node_and_the_field(self, adapter: Any) -> None:
        require_encoding(adapter)
        text = adapter.encode_delta("N", {"a": JSON_VALUES, "b": [1, "x"]})
        assert isinstance(text, str)
        assert typed(json.loads(text)) == typed({"a": JSON_VALUES, "b": [1, "x"]})
        for bad in (
            {1, 2},
            float("nan"),
            float("inf"),
            object(),
            {"k": [b"bytes"]},
        ):
            with pytest.raises(StateValueError) as caught:
                adapter.encode_delta("Writer", {"fine": 1, "bad field": bad})
            assert (caught.value.node, caught.value.field) == ("Writer", "bad field"), bad
            assert "Writer" in str(caught.value)
            assert "bad field" in str(caught.value)

    def test_a_torn_write_keeps_earlier_checkpoints(self, adapter: Any) -> None:
        """A step whose delta cannot be encoded is refused whole, naming node and field;
        what was stored stays, and the adapter goes on working."""
        require_encoding(adapter)

        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", runner_encoded(adapter, make_step(1, "A", {"a": 1})))
            bad = make_step(2, "Writer", {"ok": 2, "bad field": {1, 2}, "after": 3})
            with pytest.raises(StateValueError) as caught:
                await adapter.save_step("r1", bad)
            assert (caught.value.node, caught.value.field) == ("Writer", "bad field")
            torn = await self._load(adapter, "r1")
            await adapter.save_step(
                "r1", runner_encoded(adapter, make_step(2, "Writer", {"ok": 2}))
            )
            await adapter.finish_run("r1", "completed")
            return torn, await self._load(adapter, "r1")

        torn, done = self.run(adapter, scenario)
        assert (torn.status, torn.path, torn.state) == ("running", ["A"], {"a": 1})
        assert (done.status, done.path, done.state) == (
            "completed",
            ["A", "Writer"],
            {"a": 1, "ok": 2},
        )

    def test_an_initial_state_that_cannot_be_stored_stores_nothing(self, adapter: Any) -> None:
        require_encoding(adapter)

        async def scenario() -> tuple[Any, StoredRun]:
            with pytest.raises(StateValueError) as caught:
                await adapter.start_run(RunStart("new", "G", {"when": {1, 2}}))
            assert (caught.value.node, caught.value.field) == (None, "when")
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", make_step(1, "A", {"a": 1}))
            with pytest.raises(StateValueError):  # restarting it with bad input keeps it
                await adapter.start_run(RunStart("r1", "G", {"nan": float("nan")}))
            return await adapter.load_run("new"), await self._load(adapter, "r1")

        new, kept = self.run(adapter, scenario)
        assert new is None
        assert (kept.status, kept.path, kept.state) == ("running", ["A"], {"a": 1})

    # ------------------------------------------------------------------ a broken connection

    def test_a_broken_connection_never_loses_a_step_silently(self, adapter: Any) -> None:
        """After the connection breaks mid-run, the next write either succeeds, and then
        everything loads, or raises ``StateBackendError``: never success with a step lost."""

        async def scenario() -> tuple[StateBackendError | None, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"n": 0}))
            for n in (1, 2):
                await adapter.save_step(
                    "r1", runner_encoded(adapter, make_step(n, f"N{n}", {"n": n}))
                )
            await self.break_connection(adapter)
            failure: StateBackendError | None = None
            try:
                await adapter.save_step("r1", runner_encoded(adapter, make_step(3, "N3", {"n": 3})))
                await adapter.finish_run("r1", "completed")  # a barrier in every durability
            except StateBackendError as exc:
                failure = exc
            if failure is not None:  # it said so: what was stored before must still be there
                await adapter.close()
                await adapter.open()
            return failure, await self._load(adapter, "r1")

        failure, run = self.run(adapter, scenario)
        if failure is None:
            assert (run.status, run.path, run.state) == ("completed", ["N1", "N2", "N3"], {"n": 3})
        else:
            assert str(failure), "a StateBackendError must say what failed"
            assert run.path[:2] == ["N1", "N2"]
            assert run.status == "running" or run.path == ["N1", "N2", "N3"]
