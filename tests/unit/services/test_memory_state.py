"""The memory state adapter keeps a checkpoint even of values too deep to copy."""

from __future__ import annotations

import asyncio
from typing import Any

from agentmap.services.state.memory import MemoryStateAdapter


def test_values_nested_deeper_than_deepcopy_can_go_are_kept_as_they_are() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(5000):
        deep = {"x": deep}
    adapter = MemoryStateAdapter()

    async def run() -> Any:
        await adapter.start_run("r", "G", {"deep": deep, "flat": [1]})
        await adapter.save_step("r", 1, "A", {"deep": deep})
        return await adapter.load_run("r")

    stored = asyncio.run(run())
    assert stored is not None
    assert stored.state["deep"] is deep
    assert stored.state["flat"] == [1]
