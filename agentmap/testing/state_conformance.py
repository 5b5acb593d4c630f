"""The conformance suite every state adapter (``StateAdapterProtocol``) must pass.

Shipped in the test kit so that a third-party backend is checked by the same
tests as the built-in ones (as LangGraph ships checkpoint-conformance). Subclass
it in a test module and provide the adapter as a fixture; give the adapter the
suite's ``clock`` if it takes one, so time moves without sleeping::

    import pytest

    from agentmap.testing.state_conformance import ManualClock, StateAdapterConformance

    class TestSqliteStateAdapter(StateAdapterConformance):
        @pytest.fixture
        def clock(self):
            return ManualClock()

        @pytest.fixture
        def adapter(self, clock, tmp_path):
            return SqliteStateAdapter(tmp_path / "runs.db", clock=clock)

        async def break_connection(self, adapter):  # optional: see below
            adapter._connection.close()

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
everything ``save_step`` accepted, whatever the durability mode.

Optional parts are skipped with a reason: the JSON checks for an adapter
without ``encode_delta`` (``EncodingStateAdapter``), and the broken connection
unless the subclass overrides ``async def break_connection(self, adapter)`` to
break the adapter's connection behind its back (close its socket, terminate
its server session).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest

from agentmap.errors import StateBackendError, StateValueError
from agentmap.runtime.checkpoint import (
    RunStart,
    RunSummary,
    StepRecord,
    StoredRun,
    Waiting,
    replay_map,
    state_after,
)
from agentmap.services.protocols import EncodingStateAdapter, StateAdapterProtocol
from agentmap.testing.cache_conformance import Clock, ManualClock, WallClock

__all__ = [
    "JSON_VALUES",
    "Clock",
    "ManualClock",
    "StateAdapterConformance",
    "WallClock",
    "typed",
]

T = TypeVar("T")

#: How far the suite moves the clock between events it orders by time.
TICK = 0.02

#: One value of every JSON type, with the cases a careless store changes:
#: 1.0 -> 1, 1e16 -> 10000000000000000 (an int), 2**70 -> a float, "" -> None,
#: \x00 refused, [] / {} -> None.
JSON_VALUES: dict[str, Any] = {
    "empty_str": "",
    "unicode": 'naïve ✓ 日本 \U0001f600 "quoted" \\ \n\t \x00 \x1f',
    "zero": 0,
    "negative": -17,
    "int64_min": -(2**63),
    "big": 2**64 + 1,
    "big_negative": -(2**100),
    "float": 0.1,
    "float_whole": 1.0,
    "float_negative": -2.5,
    "float_tiny": 1e-300,
    "float_huge": 1.5e300,
    "float_exponent": 1e16,
    "true": True,
    "false": False,
    "none": None,
    "empty_list": [],
    "empty_dict": {},
    "list": [None, True, 0, "0", 0.0, [], {}],
    "nested": {"k": {"deep": [1.5, {"deeper": ["x", {"": "empty key"}]}]}, "ünï ✓": [[[]]]},
}


def typed(value: Any) -> Any:
    """``value`` with every type spelt out, for comparing exactly: ``1 == 1.0 == True``
    for ``==``, but a store must not turn one into another. Keys of an object are
    sorted (their order is not checked); a dataclass compares its compared fields."""
    if value is None or isinstance(value, bool | str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return (type(value).__name__, repr(value))
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, Mapping):
        return ("dict", sorted((str(k), typed(v)) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (
            type(value).__name__,
            {f.name: typed(getattr(value, f.name)) for f in fields if f.compare},
        )
    return (type(value).__name__, repr(value))


def _by_key(value: Mapping[str, Any]) -> dict[str, Any]:
    """``typed`` per field, so that a failure shows which fields differ."""
    return {key: typed(item) for key, item in value.items()}


def _step(
    n: int, node: str | None = None, delta: Mapping[str, Any] | None = None, **kw: Any
) -> StepRecord:
    return StepRecord(
        step=n, node=node or f"N{n}", delta={"n": n} if delta is None else delta, **kw
    )


def _encoded(adapter: Any, step: StepRecord) -> StepRecord:
    """``step`` as the runner hands it to an encoding adapter: with ``encoded`` set."""
    if isinstance(adapter, EncodingStateAdapter):
        step.encoded = adapter.encode_delta(step.node, step.delta)
    return step


def _require_encoding(adapter: Any) -> None:
    if not isinstance(adapter, EncodingStateAdapter):
        pytest.skip("the adapter has no encode_delta: it does not serialise state")


class StateAdapterConformance:
    """Base class of a backend's conformance tests; define ``adapter`` (and ``clock``)."""

    @pytest.fixture
    def clock(self) -> Clock:
        return WallClock()

    @pytest.fixture
    def adapter(self) -> StateAdapterProtocol:
        raise NotImplementedError("define an `adapter` fixture in the subclass")

    async def break_connection(self, adapter: Any) -> None:
        """Break the adapter's connection to its store behind its back (override it)."""
        pytest.skip("no connection to break")

    def run(self, adapter: Any, scenario: Callable[[], Awaitable[T]]) -> T:
        """``scenario`` in a new event loop, between ``adapter.open()`` and ``close()``."""

        async def main() -> T:
            await adapter.open()
            try:
                return await scenario()
            finally:
                await adapter.close()

        return asyncio.run(main())

    async def _load(self, adapter: Any, run_id: str) -> StoredRun:
        run = await adapter.load_run(run_id)
        assert isinstance(run, StoredRun), f"load_run({run_id!r}) returned {run!r}"
        return run

    # ------------------------------------------------------------------ basics

    def test_satisfies_the_protocol(self, adapter: Any) -> None:
        assert isinstance(adapter, StateAdapterProtocol)

    def test_unknown_run_loads_as_none(self, adapter: Any) -> None:
        assert self.run(adapter, lambda: adapter.load_run("nope")) is None

    def test_writing_to_an_unknown_run_is_a_key_error_naming_it(self, adapter: Any) -> None:
        async def scenario() -> Any:
            with pytest.raises(KeyError, match="ghost"):
                await adapter.save_step("ghost", _step(1))
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
        fingerprint, error and workflow."""
        text = JSON_VALUES["unicode"]
        fingerprint = {"file": "sha256:ab", "nodes": {"Ask ✓": "x"}, "values": JSON_VALUES}
        raw = _step(1, "Raw ✓", dict(JSON_VALUES), route=("", "日本 \U0001f600", "End"))
        renamed = {f"{key} 2": value for key, value in JSON_VALUES.items()}
        usage = {"calls": 2, "tokens": 2**65, "cost": 0.000123, "none": None, "all": JSON_VALUES}
        pre = _step(2, "Pre", renamed, usage=usage)
        waiting = Waiting("Ask ✓", f"approve?\n{text}", ("ünï", "", "a b"), branch="0.1", visit=3)
        error = f"Pre failed:\n{text}"

        async def scenario() -> StoredRun:
            await adapter.start_run(
                RunStart("r1", "G ✓", dict(JSON_VALUES), "/tmp/wörk flows/a b.csv", fingerprint)
            )
            await adapter.save_step("r1", raw)
            await adapter.save_step("r1", _encoded(adapter, pre))
            await adapter.finish_run("r1", "suspended", error, waiting)
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert _by_key(run.initial_state) == _by_key(JSON_VALUES)
        assert [s.node for s in run.steps] == ["Raw ✓", "Pre"]
        assert _by_key(run.steps[0].delta) == _by_key(JSON_VALUES)
        assert _by_key(run.steps[1].delta) == _by_key(renamed)
        assert typed(run.steps[0].route) == typed(("", "日本 \U0001f600", "End"))
        assert typed(run.steps[1].usage) == typed(usage)
        assert typed(run.steps) == typed([raw, pre])
        assert _by_key(run.state) == _by_key({**JSON_VALUES, **renamed})
        assert typed(run.waiting) == typed(waiting)
        assert typed(run.fingerprint) == typed(fingerprint)
        assert (run.graph, run.error, run.workflow) == ("G ✓", error, "/tmp/wörk flows/a b.csv")

    def test_step_records_round_trip_field_by_field(self, adapter: Any) -> None:
        steps = [
            _step(1, "A", {}, route=(), ok=True, final=False, usage=None),
            _step(
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
            _step(3, "C", {"x": 1}, ok=False, final=True, started_at=1712345679.5, duration=2.0),
        ]

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {}))
            for step in steps:
                await adapter.save_step("r1", step)
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert typed(run.steps) == typed(steps)  # bools stay bools, route a tuple, 7 an int

    def test_run_ids_and_names_are_arbitrary_text(self, adapter: Any) -> None:
        names = ["it's; DROP TABLE runs; --", "ünï ✓ 日本", "with space", "a%_*?[x]", "x" * 200]

        async def scenario() -> list[Any]:
            for name in names:
                await adapter.start_run(RunStart(name, name, {"id": name}, workflow=name))
                await adapter.save_step(name, _step(1, name, {"id": name}, route=(name,)))
            loaded = [await self._load(adapter, name) for name in names]
            return [(r.run_id, r.graph, r.workflow, r.state["id"], r.path) for r in loaded]

        assert self.run(adapter, scenario) == [(n, n, n, n, [n]) for n in names]

    def test_loaded_runs_are_the_readers_own(self, adapter: Any) -> None:
        """A reader that adds to the dict and list it loaded changes nothing stored (the
        records and values in them may be the stored ones: nobody mutates those)."""

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {"a": 1}))
            await adapter.save_step("r1", _step(1, "A", {"b": 2}))
            first = await self._load(adapter, "r1")
            first.initial_state["late"] = True
            first.steps.append(_step(2))
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert (run.initial_state, run.path, run.state) == ({"a": 1}, ["A"], {"a": 1, "b": 2})

    def test_runs_survive_close_and_a_new_event_loop(self, adapter: Any) -> None:
        async def first() -> None:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", _step(1, "A", {"a": 1}))

        async def second() -> None:
            assert (await self._load(adapter, "r1")).state == {"a": 1}
            await adapter.save_step("r1", _step(2, "B", {"a": 2}))
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
                await adapter.save_step("r1", _step(n, f"N{n}", {"n": n, f"s{n}": n}))
            return await self._load(adapter, "r1"), await adapter.list_runs()

        run, [summary] = self.run(adapter, scenario)
        assert [s.step for s in run.steps] == sorted(order)
        assert run.path == [f"N{n}" for n in sorted(order)]
        assert run.state == {"n": 11, "seen": [], **{f"s{n}": n for n in order}}
        assert state_after(run.initial_state, run.steps, upto=9)["n"] == 9
        assert (run.last_step, summary.steps, summary.last_node) == (11, 6, "N11")

    def test_steps_saved_at_once_by_parallel_branches_are_all_kept(self, adapter: Any) -> None:
        steps = [_step(n, f"B{n}", {f"b{n}": n}, branch=f"0.{n}") for n in range(1, 31)]
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
                await adapter.save_step(run_id, _step(n, f"N{n}", {"run": run_id, "n": n}))
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

    # ------------------------------------------------------------------ finish, suspend, reopen

    def test_finished_runs_keep_status_and_error(self, adapter: Any, clock: Clock) -> None:
        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("ok", "G", {}))
            await adapter.start_run(RunStart("bad", "G", {}))
            await adapter.save_step(
                "bad", _step(1, "Call", {"error": "timeout"}, ok=False, final=True)
            )
            await clock.advance(TICK)
            await adapter.finish_run("ok", "completed")
            await adapter.finish_run("bad", "failed", "Call: timeout")
            return await self._load(adapter, "ok"), await self._load(adapter, "bad")

        ok, bad = self.run(adapter, scenario)
        assert (ok.status, ok.error, ok.waiting) == ("completed", None, None)
        assert (bad.status, bad.error, bad.state) == (
            "failed",
            "Call: timeout",
            {"error": "timeout"},
        )
        assert ok.updated_at > ok.created_at
        if isinstance(clock, ManualClock):
            assert ok.updated_at == clock.now

    def test_suspended_run_keeps_what_it_waits_for(self, adapter: Any) -> None:
        waiting = Waiting("Approve", "Ship it?", ("approved", "comment"), branch="0.2", visit=2)

        async def scenario() -> tuple[StoredRun, list[RunSummary]]:
            await adapter.start_run(RunStart("r1", "G", {"doc": "x"}))
            await adapter.start_run(RunStart("r2", "G", {}))
            await adapter.save_step("r1", _step(1, "Draft", {"draft": "d"}, route=("Approve",)))
            await adapter.finish_run("r1", "suspended", None, waiting)
            return await self._load(adapter, "r1"), await adapter.list_runs(status="suspended")

        run, listed = self.run(adapter, scenario)
        assert (run.status, run.error, run.state) == ("suspended", None, {"doc": "x", "draft": "d"})
        assert typed(run.waiting) == typed(waiting)
        assert [(s.run_id, s.status, s.last_node) for s in listed] == [("r1", "suspended", "Draft")]

    def test_reopen_clears_error_and_waiting_and_keeps_the_rest(
        self, adapter: Any, clock: Clock
    ) -> None:
        waiting = Waiting("Ask", "?", ("answer",))

        async def scenario() -> tuple[StoredRun, StoredRun, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}, "/w.csv", {"file": "v1"}))
            await adapter.save_step("r1", _step(1, "A", {"a": 1}))
            await adapter.finish_run("r1", "suspended", None, waiting)
            before = await self._load(adapter, "r1")
            await clock.advance(TICK)
            await adapter.reopen_run("r1")
            suspended_again = await self._load(adapter, "r1")
            await adapter.finish_run("r1", "failed", "boom")
            await adapter.reopen_run("r1")
            return before, suspended_again, await self._load(adapter, "r1")

        before, reopened, after_failure = self.run(adapter, scenario)
        for run in (reopened, after_failure):
            assert (run.status, run.error, run.waiting) == ("running", None, None)
            assert (run.path, run.state, run.workflow) == (["A"], {"a": 1}, "/w.csv")
            assert dict(run.fingerprint or {}) == {"file": "v1"}  # no new one: kept
            assert run.created_at == before.created_at
        assert reopened.updated_at > before.updated_at

    def test_reopen_with_a_fingerprint_replaces_it(self, adapter: Any) -> None:
        new = {"file": "v2", "nodes": {"A": "a2", "B": None}}

        async def scenario() -> StoredRun:
            await adapter.start_run(RunStart("r1", "G", {}, fingerprint={"file": "v1", "old": 1}))
            await adapter.finish_run("r1", "failed", "boom")
            await adapter.reopen_run("r1", new)
            return await self._load(adapter, "r1")

        run = self.run(adapter, scenario)
        assert typed(run.fingerprint) == typed(new)
        assert run.status == "running"

    def test_restarting_a_run_id_starts_it_afresh(self, adapter: Any) -> None:
        async def scenario() -> tuple[StoredRun, list[RunSummary]]:
            await adapter.start_run(RunStart("r1", "G", {"x": 1}, fingerprint={"file": "v1"}))
            await adapter.save_step("r1", _step(1, "N", {"x": 10}))
            await adapter.save_step("r1", _step(2, "M", {"y": 1}))
            await adapter.finish_run("r1", "suspended", "half", Waiting("M", "?", ("y",)))
            await adapter.start_run(RunStart("r1", "H", {"x": 2}, fingerprint={"file": "v2"}))
            await adapter.save_step("r1", _step(1, "Fresh", {"x": 3}))  # step 1 again: no clash
            return await self._load(adapter, "r1"), await adapter.list_runs()

        run, listed = self.run(adapter, scenario)
        assert (run.graph, run.status, run.error, run.waiting) == ("H", "running", None, None)
        assert (run.initial_state, run.path, run.state) == ({"x": 2}, ["Fresh"], {"x": 3})
        assert dict(run.fingerprint or {}) == {"file": "v2"}
        assert [(s.run_id, s.graph, s.steps, s.last_node) for s in listed] == [
            ("r1", "H", 1, "Fresh")
        ]

    def test_resuming_after_a_final_failure_replays_the_later_record(self, adapter: Any) -> None:
        """A ``final`` step (the unhandled failure that ended the run) followed by later
        steps (the resume ran its node again): the later record stands for it."""
        failed = _step(2, "B", {"error": "boom", "errors": [{"node": "B"}]}, ok=False, final=True)

        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", _step(1, "A", {"a": 1}, route=("B",)))
            await adapter.save_step("r1", failed)
            await adapter.finish_run("r1", "failed", "B: boom")
            at_failure = await self._load(adapter, "r1")
            await adapter.reopen_run("r1")
            await adapter.save_step("r1", _step(3, "B", {"b": 1}, route=("C",)))
            await adapter.save_step("r1", _step(4, "C", {"c": 1}))
            await adapter.finish_run("r1", "completed")
            return at_failure, await self._load(adapter, "r1")

        at_failure, done = self.run(adapter, scenario)
        assert at_failure.state == {"a": 1, "error": "boom", "errors": [{"node": "B"}]}
        assert [(s.step, s.final) for s in at_failure.steps] == [(1, False), (2, True)]
        assert ("", "B", 1) not in replay_map(at_failure.steps)  # the failed node runs again
        assert (done.status, done.error, done.path) == ("completed", None, ["A", "B", "B", "C"])
        assert done.state == {"a": 1, "b": 1, "c": 1}  # the failure's delta is left out
        assert state_after(done.initial_state, done.steps, upto=2) == {"a": 1}
        assert replay_map(done.steps)[("", "B", 1)].step == 3

    # ------------------------------------------------------------------ listing

    def test_list_runs_is_newest_first_with_summaries(self, adapter: Any, clock: Clock) -> None:
        async def scenario() -> list[RunSummary]:
            assert await adapter.list_runs() == []
            for index, run_id in enumerate(["old", "mid", "new"]):
                await adapter.start_run(RunStart(run_id, "G", {}, workflow=f"/{run_id}.csv"))
                for n in range(1, index + 2):
                    await adapter.save_step(run_id, _step(n, f"{run_id}{n}"))
                await clock.advance(TICK)
            await adapter.finish_run("old", "failed", "old broke")  # updating does not reorder
            listed: list[RunSummary] = await adapter.list_runs()
            return listed

        listed = self.run(adapter, scenario)
        assert [s.run_id for s in listed] == ["new", "mid", "old"]
        assert all(isinstance(s, RunSummary) for s in listed)
        assert [(s.steps, s.last_node, s.status, s.error) for s in listed] == [
            (3, "new3", "running", None),
            (2, "mid2", "running", None),
            (1, "old1", "failed", "old broke"),
        ]
        assert [s.workflow for s in listed] == ["/new.csv", "/mid.csv", "/old.csv"]
        assert listed[0].created_at > listed[1].created_at > listed[2].created_at
        assert listed[2].updated_at > listed[2].created_at

    def test_list_runs_filters_by_status_and_graph_and_limits(
        self, adapter: Any, clock: Clock
    ) -> None:
        plan = [
            ("a", "G", "completed"),
            ("b", "H", "failed"),
            ("c", "G", "failed"),
            ("d", "H", "running"),
            ("e", "G", "completed"),
            ("f", "G", "suspended"),
        ]

        async def scenario() -> dict[str, list[str]]:
            for run_id, graph, status in plan:
                await adapter.start_run(RunStart(run_id, graph, {}))
                if status != "running":
                    await adapter.finish_run(run_id, status)
                await clock.advance(TICK)

            async def ids(**query: Any) -> list[str]:
                return [s.run_id for s in await adapter.list_runs(**query)]

            return {
                "all": await ids(),
                "G": await ids(graph="G"),
                "failed": await ids(status="failed"),
                "G failed": await ids(status="failed", graph="G"),
                "G completed 1": await ids(status="completed", graph="G", limit=1),
                "limit 2": await ids(limit=2),
                "limit 0": await ids(limit=0),
                "limit 99": await ids(limit=99),
                "nothing": await ids(graph="nope"),
            }

        assert self.run(adapter, scenario) == {
            "all": ["f", "e", "d", "c", "b", "a"],
            "G": ["f", "e", "c", "a"],
            "failed": ["c", "b"],
            "G failed": ["c"],
            "G completed 1": ["e"],
            "limit 2": ["f", "e"],
            "limit 0": [],
            "limit 99": ["f", "e", "d", "c", "b", "a"],
            "nothing": [],
        }

    # ------------------------------------------------------------------ fork

    def test_fork_copies_the_run_up_to_a_step(self, adapter: Any) -> None:
        steps = [
            _step(
                n,
                f"N{n}",
                {"n": n, f"s{n}": True},
                route=(f"N{n + 1}",),
                visit=n,
                usage={"calls": n},
            )
            for n in range(1, 6)
        ]

        async def scenario() -> tuple[StoredRun, StoredRun, StoredRun, list[RunSummary]]:
            await adapter.start_run(RunStart("p", "G", {"n": 0}, "/w.csv", {"file": "v1"}))
            for step in steps:
                await adapter.save_step("p", step)
            await adapter.finish_run("p", "failed", "N5 broke")
            await adapter.reopen_run("p", {"file": "v2"})
            await adapter.finish_run("p", "completed")
            await adapter.fork_run("p", "child", 3)
            await adapter.fork_run("p", "empty", 0)
            return (
                await self._load(adapter, "child"),
                await self._load(adapter, "empty"),
                await self._load(adapter, "p"),
                await adapter.list_runs(),
            )

        child, empty, parent, listed = self.run(adapter, scenario)
        assert (child.graph, child.status, child.error, child.waiting) == (
            "G",
            "running",
            None,
            None,
        )
        assert (child.parent_run_id, child.forked_from_step) == ("p", 3)
        assert (child.initial_state, child.workflow) == ({"n": 0}, "/w.csv")
        assert dict(child.fingerprint or {}) == {"file": "v2"}  # the parent's current one
        assert typed(child.steps) == typed(steps[:3])
        assert child.state == state_after(parent.initial_state, parent.steps, upto=3)
        assert (empty.steps, empty.state, empty.forked_from_step) == ([], {"n": 0}, 0)
        assert {s.run_id: s.parent_run_id for s in listed} == {
            "p": None,
            "child": "p",
            "empty": "p",
        }
        assert {s.run_id: s.steps for s in listed} == {"p": 5, "child": 3, "empty": 0}

    def test_fork_leaves_the_old_run_alone_and_goes_its_own_way(self, adapter: Any) -> None:
        async def scenario() -> tuple[StoredRun, StoredRun, StoredRun]:
            await adapter.start_run(RunStart("p", "G", {"n": 0}))
            for n in range(1, 4):
                await adapter.save_step("p", _step(n, f"N{n}", {"n": n, "list": [n]}))
            await adapter.finish_run("p", "completed")
            before = await self._load(adapter, "p")
            await adapter.fork_run("p", "child", 2)
            await adapter.save_step("child", _step(3, "Other", {"n": 30, "other": True}))
            await adapter.finish_run("child", "failed", "child broke")
            await adapter.save_step("p", _step(4, "N4", {"n": 4}))  # and the other way round
            return before, await self._load(adapter, "p"), await self._load(adapter, "child")

        before, parent, child = self.run(adapter, scenario)
        assert (parent.status, parent.error) == ("completed", None)
        assert parent.path == ["N1", "N2", "N3", "N4"]
        assert typed(parent.steps[:3]) == typed(before.steps)
        assert (child.status, child.error, child.path) == (
            "failed",
            "child broke",
            ["N1", "N2", "Other"],
        )
        assert child.state == {"n": 30, "list": [2], "other": True}

    # ------------------------------------------------------------------ prune

    def test_prune_deletes_runs_last_updated_before_a_time(
        self, adapter: Any, clock: Clock
    ) -> None:
        """By ``updated_at``, not ``created_at``: a run started long ago that ended late stays."""

        async def scenario() -> tuple[list[int], list[Any], list[str]]:
            await adapter.start_run(RunStart("early-ended-late", "G", {}))
            await adapter.save_step("early-ended-late", _step(1))
            await clock.advance(TICK)
            await adapter.start_run(RunStart("stale", "G", {}))
            await adapter.save_step("stale", _step(1))
            await adapter.finish_run("stale", "failed", "old")
            await clock.advance(TICK)
            await adapter.finish_run("early-ended-late", "completed")
            await clock.advance(TICK)
            await adapter.start_run(RunStart("fresh", "G", {}))
            stale = await self._load(adapter, "stale")
            late = await self._load(adapter, "early-ended-late")
            assert stale.updated_at < late.updated_at
            counts = [
                await adapter.prune(stale.updated_at),  # strictly before: nothing yet
                await adapter.prune((stale.updated_at + late.updated_at) / 2),
                await adapter.prune((stale.updated_at + late.updated_at) / 2),  # again: no-op
            ]
            loaded = [await adapter.load_run(r) for r in ("stale", "early-ended-late", "fresh")]
            await adapter.start_run(RunStart("stale", "G", {"again": 1}))  # the id is free
            await adapter.save_step("stale", _step(1, "New"))
            return counts, loaded, (await self._load(adapter, "stale")).path

        counts, loaded, restarted_path = self.run(adapter, scenario)
        assert counts == [0, 1, 0]
        assert loaded[0] is None
        assert [run.run_id for run in loaded[1:]] == ["early-ended-late", "fresh"]
        assert restarted_path == ["New"]  # the pruned run's steps went with it

    def test_prune_everything_and_forks_outlive_their_parent(
        self, adapter: Any, clock: Clock
    ) -> None:
        async def scenario() -> tuple[int, StoredRun | None, StoredRun, list[RunSummary], int]:
            await adapter.start_run(RunStart("p", "G", {"n": 0}))
            for n in (1, 2):
                await adapter.save_step("p", _step(n, f"N{n}", {"n": n}))
            await adapter.finish_run("p", "completed")
            await clock.advance(TICK)
            await adapter.fork_run("p", "child", 2)
            child = await self._load(adapter, "child")
            pruned = await adapter.prune(child.created_at)
            kept = await self._load(adapter, "child")
            listed = await adapter.list_runs()
            await clock.advance(TICK)
            cutoff = kept.updated_at + TICK / 2
            return pruned, await adapter.load_run("p"), kept, listed, await adapter.prune(cutoff)

        pruned, parent, child, listed, last = self.run(adapter, scenario)
        assert (pruned, parent) == (1, None)
        assert (child.path, child.state, child.parent_run_id) == (["N1", "N2"], {"n": 2}, "p")
        assert [s.run_id for s in listed] == ["child"]
        assert last == 1

    # ------------------------------------------------------------------ values that cannot be stored

    def test_encode_delta_names_the_node_and_the_field(self, adapter: Any) -> None:
        _require_encoding(adapter)
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
        _require_encoding(adapter)

        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", _encoded(adapter, _step(1, "A", {"a": 1})))
            bad = _step(2, "Writer", {"ok": 2, "bad field": {1, 2}, "after": 3})
            with pytest.raises(StateValueError) as caught:
                await adapter.save_step("r1", bad)
            assert (caught.value.node, caught.value.field) == ("Writer", "bad field")
            torn = await self._load(adapter, "r1")
            await adapter.save_step("r1", _encoded(adapter, _step(2, "Writer", {"ok": 2})))
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
        _require_encoding(adapter)

        async def scenario() -> tuple[Any, StoredRun]:
            with pytest.raises(StateValueError) as caught:
                await adapter.start_run(RunStart("new", "G", {"when": {1, 2}}))
            assert (caught.value.node, caught.value.field) == (None, "when")
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", _step(1, "A", {"a": 1}))
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
                await adapter.save_step("r1", _encoded(adapter, _step(n, f"N{n}", {"n": n})))
            await self.break_connection(adapter)
            failure: StateBackendError | None = None
            try:
                await adapter.save_step("r1", _encoded(adapter, _step(3, "N3", {"n": 3})))
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
