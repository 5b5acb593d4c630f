"""Every state adapter stores runs the same way: the shipped conformance suite, per backend.

A new backend (sqlite, postgres, ...) is one more subclass of
``StateAdapterConformance`` (agentmap.testing.state_conformance), the same
suite a third-party backend runs; backend-specific tests follow.
"""

from __future__ import annotations

import pytest

from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.testing.state_conformance import StateAdapterConformance


class TestMemoryStateAdapter(StateAdapterConformance):
    @pytest.fixture
    def adapter(self) -> MemoryStateAdapter:
        return MemoryStateAdapter()


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


async def test_memory_adapter_keeps_values_by_reference() -> None:
    """No copy per step: the documented contract is that callers hand values over."""
    adapter = MemoryStateAdapter()
    report = {"text": "long"}
    await adapter.start_run("r", "G", {})
    await adapter.save_step("r", 1, "A", {"report": report})
    run = await adapter.load_run("r")
    assert run is not None
    assert run.state["report"] is report


def test_max_runs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryStateAdapter(max_runs=0)
