"""The conformance suite every state adapter (``StateAdapterProtocol``) must pass.

Shipped in the test kit so that a third-party backend is checked by the same
tests as the built-in ones. Subclass it in a test module and provide the
adapter as a fixture::

    from agentmap.testing.state_conformance import StateAdapterConformance

    class TestSqliteStateAdapter(StateAdapterConformance):
        @pytest.fixture
        def adapter(self, tmp_path):
            return SqliteStateAdapter(tmp_path / "runs.db")

Each test runs its whole scenario in one ``asyncio.run`` (no asyncio plugin
needed), so an adapter that holds loop-bound resources (a connection pool)
should open them on first use, not in its constructor.

What is checked is the contract the runner relies on for inspection and,
later, resume: a run's initial state plus its step deltas replay, in step
order, to its final state; runs are independent; status and error are kept.
Values handed to an adapter belong to it (the caller does not mutate them
afterwards), so the suite checks that the *mappings* saved are the adapter's
own, not that values are deep-copied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agentmap.services.protocols import RunSnapshot, StateAdapterProtocol

__all__ = ["StateAdapterConformance"]


def _run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await scenario()

    return asyncio.run(main())


class StateAdapterConformance:
    """Base class of a backend's conformance tests; define the ``adapter`` fixture."""

    @pytest.fixture
    def adapter(self) -> StateAdapterProtocol:
        raise NotImplementedError("define an `adapter` fixture in the subclass")

    def test_satisfies_the_protocol(self, adapter: Any) -> None:
        assert isinstance(adapter, StateAdapterProtocol)

    def test_unknown_run_is_none(self, adapter: Any) -> None:
        assert _run(lambda: adapter.load_run("nope")) is None

    def test_started_run_has_its_initial_state(self, adapter: Any) -> None:
        async def scenario() -> Any:
            await adapter.start_run("r1", "G", {"city": "Paris"})
            return await adapter.load_run("r1")

        run = _run(scenario)
        assert isinstance(run, RunSnapshot)
        assert (run.run_id, run.graph, run.status) == ("r1", "G", "running")
        assert run.state == {"city": "Paris"}
        assert list(run.path) == []
        assert run.error is None

    def test_deltas_replay_in_step_order(self, adapter: Any) -> None:
        async def scenario() -> Any:
            await adapter.start_run("r1", "G", {"city": "Paris", "n": 0})
            await adapter.save_step("r1", 1, "Fetch", {"weather": "rain", "n": 1})
            # A parallel branch may save a later step before an earlier one.
            await adapter.save_step("r1", 3, "Report", {"report": "wet", "n": 3})
            await adapter.save_step("r1", 2, "Analyse", {"n": 2, "mood": "meh"})
            await adapter.finish_run("r1", "completed", None)
            return await adapter.load_run("r1")

        run = _run(scenario)
        assert list(run.path) == ["Fetch", "Analyse", "Report"]
        assert run.state == {
            "city": "Paris",
            "n": 3,
            "weather": "rain",
            "report": "wet",
            "mood": "meh",
        }
        assert run.status == "completed"

    def test_failed_run_keeps_its_error(self, adapter: Any) -> None:
        async def scenario() -> Any:
            await adapter.start_run("r1", "G", {})
            await adapter.save_step("r1", 1, "Call", {"error": "timeout"})
            await adapter.finish_run("r1", "failed", "Call: timeout")
            return await adapter.load_run("r1")

        run = _run(scenario)
        assert (run.status, run.error) == ("failed", "Call: timeout")
        assert run.state == {"error": "timeout"}

    def test_saved_mappings_are_the_adapters_own(self, adapter: Any) -> None:
        """A key added to a dict after handing it over, or to a loaded state, changes nothing."""
        initial: dict[str, Any] = {"items": [1]}
        delta: dict[str, Any] = {"errors": [{"node": "A"}]}

        async def scenario() -> tuple[Any, Any]:
            await adapter.start_run("r1", "G", initial)
            await adapter.save_step("r1", 1, "A", delta)
            initial["late"] = True
            delta["later"] = True
            first = await adapter.load_run("r1")
            first.state["added by reader"] = 1
            return first, await adapter.load_run("r1")

        first, second = _run(scenario)
        assert second.state == {"items": [1], "errors": [{"node": "A"}]}
        assert first.state is not second.state

    def test_runs_are_independent(self, adapter: Any) -> None:
        async def scenario() -> tuple[Any, Any]:
            await adapter.start_run("a", "G", {"x": 1})
            await adapter.start_run("b", "H", {"x": 2})
            await adapter.save_step("a", 1, "N", {"x": 10})
            return await adapter.load_run("a"), await adapter.load_run("b")

        run_a, run_b = _run(scenario)
        assert run_a.state == {"x": 10}
        assert (run_b.graph, run_b.state, list(run_b.path)) == ("H", {"x": 2}, [])

    def test_restarting_a_run_id_starts_it_afresh(self, adapter: Any) -> None:
        async def scenario() -> Any:
            await adapter.start_run("r1", "G", {"x": 1})
            await adapter.save_step("r1", 1, "N", {"x": 10})
            await adapter.start_run("r1", "G", {"x": 2})
            return await adapter.load_run("r1")

        run = _run(scenario)
        assert (run.state, list(run.path), run.status) == ({"x": 2}, [], "running")

    def test_steps_for_an_unknown_run_are_an_error(self, adapter: Any) -> None:
        with pytest.raises(KeyError, match="start_run"):
            _run(lambda: adapter.save_step("ghost", 1, "N", {}))
        with pytest.raises(KeyError, match="start_run"):
            _run(lambda: adapter.finish_run("ghost", "completed", None))
