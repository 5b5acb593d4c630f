"""The state conformance suite, part two: a run's life (finish, suspend, reopen, restart,
resume after a failure), and ``list_runs``, ``fork_run`` and ``prune``.

``StateAdapterConformance`` (``agentmap.testing.state_conformance``) inherits
these tests; subclass that, not this.
"""

from __future__ import annotations

from typing import Any

from agentmap.runtime.checkpoint import (
    RunStart,
    RunSummary,
    StoredRun,
    Waiting,
    replay_map,
    state_after,
)
from agentmap.testing._state_support import (
    TICK,
    StateSuiteBase,
    make_step,
    typed,
)
from agentmap.testing.cache_conformance import Clock, ManualClock

__all__ = ["RunLifecycleCases"]


class RunLifecycleCases(StateSuiteBase):
    """How stored runs change over their life, and how they are listed, forked, pruned."""

    # ------------------------------------------------------------------ finish, suspend, reopen

    def test_finished_runs_keep_status_and_error(self, adapter: Any, clock: Clock) -> None:
        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("ok", "G", {}))
            await adapter.start_run(RunStart("bad", "G", {}))
            await adapter.save_step(
                "bad", make_step(1, "Call", {"error": "timeout"}, ok=False, final=True)
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
            await adapter.save_step("r1", make_step(1, "Draft", {"draft": "d"}, route=("Approve",)))
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
            await adapter.save_step("r1", make_step(1, "A", {"a": 1}))
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
            await adapter.save_step("r1", make_step(1, "N", {"x": 10}))
            await adapter.save_step("r1", make_step(2, "M", {"y": 1}))
            await adapter.finish_run("r1", "suspended", "half", Waiting("M", "?", ("y",)))
            await adapter.start_run(RunStart("r1", "H", {"x": 2}, fingerprint={"file": "v2"}))
            await adapter.save_step("r1", make_step(1, "Fresh", {"x": 3}))  # step 1 again: no clash
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
        failed = make_step(
            2, "B", {"error": "boom", "errors": [{"node": "B"}]}, ok=False, final=True
        )

        async def scenario() -> tuple[StoredRun, StoredRun]:
            await adapter.start_run(RunStart("r1", "G", {"a": 0}))
            await adapter.save_step("r1", make_step(1, "A", {"a": 1}, route=("B",)))
            await adapter.save_step("r1", failed)
            await adapter.finish_run("r1", "failed", "B: boom")
            at_failure = await self._load(adapter, "r1")
            await adapter.reopen_run("r1")
            await adapter.save_step("r1", make_step(3, "B", {"b": 1}, route=("C",)))
            await adapter.save_step("r1", make_step(4, "C", {"c": 1}))
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
                    await adapter.save_step(run_id, make_step(n, f"{run_id}{n}"))
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

    def test_fork_copies_the_run_up_to_a_step(self, adapter: Any, clock: Clock) -> None:
        steps = [
            make_step(n, f"N{n}", {"n": n, f"s{n}": True}, route=(f"N{n + 1}",), usage={"calls": n})
            for n in range(1, 6)
        ]

        async def scenario() -> tuple[dict[str, StoredRun], list[RunSummary]]:
            await adapter.start_run(RunStart("p", "G", {"n": 0}, "/w.csv", {"file": "v1"}))
            for step in steps:
                await adapter.save_step("p", step)
            await adapter.finish_run("p", "failed", "N5 broke")
            await adapter.reopen_run("p", {"file": "v2"})
            await adapter.finish_run("p", "completed")
            await clock.advance(TICK)
            await adapter.fork_run("p", "child", 3)
            await adapter.fork_run("p", "empty", 0)
            await adapter.fork_run("p", "all", 99)
            await adapter.fork_run("child", "grandchild", 2)
            names = ("p", "child", "empty", "all", "grandchild")
            return {name: await self._load(adapter, name) for name in names}, (
                await adapter.list_runs()
            )

        runs, listed = self.run(adapter, scenario)
        parent, child = runs["p"], runs["child"]
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
        assert child.created_at > parent.updated_at
        if isinstance(clock, ManualClock):
            assert (child.created_at, child.updated_at) == (clock.now, clock.now)
        assert (runs["empty"].steps, runs["empty"].state) == ([], {"n": 0})
        assert typed(runs["all"].steps) == typed(steps)
        grandchild = runs["grandchild"]
        assert (grandchild.parent_run_id, grandchild.forked_from_step) == ("child", 2)
        assert typed(grandchild.steps) == typed(steps[:2])
        assert {s.run_id: (s.parent_run_id, s.steps) for s in listed} == {
            "p": (None, 5),
            "child": ("p", 3),
            "empty": ("p", 0),
            "all": ("p", 5),
            "grandchild": ("child", 2),
        }

    def test_fork_leaves_the_old_run_alone_and_goes_its_own_way(self, adapter: Any) -> None:
        waiting = Waiting("N3", "ok?", ("ok",))

        async def scenario() -> tuple[StoredRun, StoredRun, StoredRun]:
            await adapter.start_run(RunStart("p", "G", {"n": 0}))
            for n in range(1, 4):
                await adapter.save_step("p", make_step(n, f"N{n}", {"n": n, "list": [n]}))
            await adapter.finish_run("p", "suspended", None, waiting)
            before = await self._load(adapter, "p")
            await adapter.fork_run("p", "child", 2)
            await adapter.save_step("child", make_step(3, "Other", {"n": 30, "other": True}))
            await adapter.finish_run("child", "failed", "child broke")
            await adapter.save_step("p", make_step(4, "N4", {"n": 4}))  # and the other way round
            return before, await self._load(adapter, "p"), await self._load(adapter, "child")

        before, parent, child = self.run(adapter, scenario)
        assert (parent.status, parent.error, parent.waiting) == ("suspended", None, waiting)
        assert parent.path == ["N1", "N2", "N3", "N4"]
        assert typed(parent.steps[:3]) == typed(before.steps)
        assert (child.status, child.error, child.waiting) == ("failed", "child broke", None)
        assert child.path == ["N1", "N2", "Other"]
        assert child.state == {"n": 30, "list": [2], "other": True}

    # ------------------------------------------------------------------ prune

    def test_prune_deletes_runs_last_updated_before_a_time(
        self, adapter: Any, clock: Clock
    ) -> None:
        """By ``updated_at``, not ``created_at``: a run started long ago that ended late stays."""

        async def scenario() -> tuple[list[int], list[Any], list[str]]:
            assert await adapter.prune(1e12) == 0  # nothing to prune
            await adapter.start_run(RunStart("early-ended-late", "G", {}))
            await adapter.save_step("early-ended-late", make_step(1))
            await clock.advance(TICK)
            await adapter.start_run(RunStart("stale", "G", {}))
            await adapter.save_step("stale", make_step(1))
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
            await adapter.save_step("stale", make_step(1, "New"))
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
                await adapter.save_step("p", make_step(n, f"N{n}", {"n": n}))
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
