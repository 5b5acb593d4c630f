"""Every state adapter stores runs the same way.

A new backend (sqlite, postgres, ...) is one more entry in ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentmap.services.protocols import RunSnapshot, StateAdapterProtocol
from agentmap.services.state.memory import MemoryStateAdapter

BACKENDS: dict[str, Callable[[Path], Any]] = {"memory": lambda _: MemoryStateAdapter()}


@pytest.fixture(params=sorted(BACKENDS))
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return BACKENDS[request.param](tmp_path)


def test_satisfies_the_protocol(adapter: Any) -> None:
    assert isinstance(adapter, StateAdapterProtocol)


async def test_unknown_run_is_none(adapter: Any) -> None:
    assert await adapter.load_run("nope") is None


async def test_started_run_has_its_initial_state(adapter: Any) -> None:
    await adapter.start_run("r1", "G", {"city": "Paris"})
    run = await adapter.load_run("r1")
    assert isinstance(run, RunSnapshot)
    assert (run.run_id, run.graph, run.status) == ("r1", "G", "running")
    assert run.state == {"city": "Paris"}
    assert run.path == []
    assert run.error is None


async def test_deltas_replay_in_step_order(adapter: Any) -> None:
    await adapter.start_run("r1", "G", {"city": "Paris", "n": 0})
    await adapter.save_step("r1", 1, "Fetch", {"weather": "rain", "n": 1})
    # A parallel branch may save a later step before an earlier one.
    await adapter.save_step("r1", 3, "Report", {"report": "wet", "n": 3})
    await adapter.save_step("r1", 2, "Analyse", {"n": 2, "mood": "meh"})
    await adapter.finish_run("r1", "completed", None)
    run = await adapter.load_run("r1")
    assert run.path == ["Fetch", "Analyse", "Report"]
    assert run.state == {"city": "Paris", "n": 3, "weather": "rain", "report": "wet", "mood": "meh"}
    assert run.status == "completed"


async def test_failed_run_keeps_its_error(adapter: Any) -> None:
    await adapter.start_run("r1", "G", {})
    await adapter.save_step("r1", 1, "Call", {"error": "timeout"})
    await adapter.finish_run("r1", "failed", "Call: timeout")
    run = await adapter.load_run("r1")
    assert (run.status, run.error) == ("failed", "Call: timeout")


async def test_stored_values_are_snapshots(adapter: Any) -> None:
    initial: dict[str, Any] = {"items": [1]}
    delta: dict[str, Any] = {"errors": [{"node": "A"}]}
    await adapter.start_run("r1", "G", initial)
    await adapter.save_step("r1", 1, "A", delta)
    initial["items"].append(2)
    delta["errors"].append({"node": "B"})
    delta["late"] = True
    first = await adapter.load_run("r1")
    assert first.state == {"items": [1], "errors": [{"node": "A"}]}
    first.state["items"].append("mutated by reader")
    assert (await adapter.load_run("r1")).state["items"] == [1]


async def test_runs_are_independent(adapter: Any) -> None:
    await adapter.start_run("a", "G", {"x": 1})
    await adapter.start_run("b", "H", {"x": 2})
    await adapter.save_step("a", 1, "N", {"x": 10})
    assert (await adapter.load_run("a")).state == {"x": 10}
    run_b = await adapter.load_run("b")
    assert (run_b.graph, run_b.state, run_b.path) == ("H", {"x": 2}, [])


async def test_steps_for_an_unknown_run_are_an_error(adapter: Any) -> None:
    with pytest.raises(KeyError, match="start_run"):
        await adapter.save_step("ghost", 1, "N", {})
    with pytest.raises(KeyError, match="start_run"):
        await adapter.finish_run("ghost", "completed", None)


async def test_memory_adapter_keeps_only_the_latest_runs() -> None:
    adapter = MemoryStateAdapter(max_runs=2)
    for run_id in ("a", "b", "c"):
        await adapter.start_run(run_id, "G", {"id": run_id})
    assert await adapter.load_run("a") is None
    b, c = await adapter.load_run("b"), await adapter.load_run("c")
    assert b is not None
    assert b.state == {"id": "b"}
    assert c is not None
    assert c.state == {"id": "c"}
