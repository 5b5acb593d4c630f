"""What only the memory state adapter does: keep values by reference, keep the latest
``max_runs`` runs, and check JSON only when asked (``check_json``).

The contract it shares with every backend is the conformance suite
(test_state_adapter_conformance.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import MappingProxyType
from typing import Any, TypeVar

import pytest

from agentmap.errors import StateValueError
from agentmap.runtime.checkpoint import RunStart, StepRecord, StoredRun
from agentmap.services.protocols import EncodingStateAdapter
from agentmap.services.state.memory import MemoryStateAdapter

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


async def _load(adapter: MemoryStateAdapter, run_id: str) -> StoredRun:
    stored = await adapter.load_run(run_id)
    assert stored is not None
    return stored


def test_values_are_kept_by_reference_not_copied() -> None:
    """No copy per step: callers hand values over (the protocol's contract), so the
    test preset's runs cost no copying."""
    adapter = MemoryStateAdapter()
    report, items = {"text": "long"}, [1, 2]
    step = StepRecord(1, "A", {"report": report})

    async def scenario() -> StoredRun:
        await adapter.start_run(RunStart("r", "G", {"items": items}))
        await adapter.save_step("r", step)
        return await _load(adapter, "r")

    stored = run(scenario())
    assert stored.state["report"] is report
    assert stored.initial_state["items"] is items
    assert stored.steps[0] is step


def test_a_read_only_mapping_delta_is_kept_as_a_dict() -> None:
    adapter = MemoryStateAdapter()

    async def scenario() -> StoredRun:
        await adapter.start_run(RunStart("r", "G", {}))
        await adapter.save_step("r", StepRecord(1, "A", MappingProxyType({"x": 1})))
        return await _load(adapter, "r")

    delta = run(scenario()).steps[0].delta
    assert type(delta) is dict
    assert delta == {"x": 1}


def test_values_nested_deeper_than_json_or_deepcopy_can_go_are_kept() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(5000):
        deep = {"x": deep}
    adapter = MemoryStateAdapter()

    async def scenario() -> StoredRun:
        await adapter.start_run(RunStart("r", "G", {"deep": deep, "flat": [1]}))
        await adapter.save_step("r", StepRecord(1, "A", {"deep": deep}))
        return await _load(adapter, "r")

    stored = run(scenario())
    assert stored.state["deep"] is deep
    assert stored.state["flat"] == [1]


def test_only_the_latest_max_runs_are_kept() -> None:
    """The oldest *started* run goes first; restarting a run id makes it the newest."""
    adapter = MemoryStateAdapter(max_runs=2)

    async def scenario() -> list[str | None]:
        for run_id in ("a", "b"):
            await adapter.start_run(RunStart(run_id, "G", {"id": run_id}))
        await adapter.save_step("a", StepRecord(1, "A", {}))  # a step does not refresh it
        await adapter.start_run(RunStart("b", "G", {"id": "b again"}))
        await adapter.start_run(RunStart("c", "G", {"id": "c"}))
        found = [await adapter.load_run(run_id) for run_id in ("a", "b", "c")]
        return [None if r is None else r.state["id"] for r in found]

    assert run(scenario()) == [None, "b again", "c"]
    assert [s.run_id for s in run(adapter.list_runs())] == ["c", "b"]


def test_a_fork_counts_as_a_run_for_max_runs() -> None:
    adapter = MemoryStateAdapter(max_runs=2)

    async def scenario() -> list[bool]:
        await adapter.start_run(RunStart("old", "G", {}))
        await adapter.start_run(RunStart("p", "G", {}))
        await adapter.save_step("p", StepRecord(1, "A", {"a": 1}))
        await adapter.fork_run("p", "child", 1)
        return [await adapter.load_run(r) is not None for r in ("old", "p", "child")]

    assert run(scenario()) == [False, True, True]


def test_max_runs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryStateAdapter(max_runs=0)


def test_without_check_json_nothing_is_encoded_or_checked() -> None:
    """The test preset's fast path: no ``encode_delta``, so the runner encodes nothing,
    and a value JSON cannot hold is kept as it is."""
    adapter = MemoryStateAdapter()
    assert not isinstance(adapter, EncodingStateAdapter)
    assert not hasattr(adapter, "encode_delta")
    tags = {"a", "b"}

    async def scenario() -> StoredRun:
        await adapter.start_run(RunStart("r", "G", {"when": {1}}))
        await adapter.save_step("r", StepRecord(1, "A", {"tags": tags}))
        return await _load(adapter, "r")

    stored = run(scenario())
    assert stored.state == {"when": {1}, "tags": {"a", "b"}}
    assert stored.state["tags"] is tags


def test_check_json_adds_encode_delta_which_refuses_a_set() -> None:
    adapter = MemoryStateAdapter(check_json=True)
    assert isinstance(adapter, EncodingStateAdapter)
    assert adapter.encode_delta("A", {"x": [1, "y"]}) == '{"x":[1,"y"]}'
    with pytest.raises(StateValueError, match=r"node 'Writer' wrote field 'tags'") as caught:
        adapter.encode_delta("Writer", {"ok": 1, "tags": {"a"}})
    assert (caught.value.node, caught.value.field) == ("Writer", "tags")
    assert "builtins.set" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("bad \udc80 bytes", "not valid Unicode"),
        (10**5000, "integer too long"),
        (float("inf"), "NaN or infinity"),
    ],
    ids=["surrogate", "huge-int", "infinity"],
)
def test_check_json_refuses_what_json_text_cannot_carry(value: Any, why: str) -> None:
    """Python's encoder writes these, but no UTF-8 answer or JSON reader takes them back."""
    adapter = MemoryStateAdapter(check_json=True)
    with pytest.raises(StateValueError, match=why) as caught:
        adapter.encode_delta("Decode", {"ok": "é", "text": value})
    assert (caught.value.node, caught.value.field) == ("Decode", "text")
    assert adapter.encode_delta("Decode", {"ok": "é ✓"}) == '{"ok":"é ✓"}'


def test_check_json_refuses_an_initial_state_that_is_not_json() -> None:
    adapter = MemoryStateAdapter(check_json=True)

    async def scenario() -> StoredRun | None:
        with pytest.raises(StateValueError, match="initial state") as caught:
            await adapter.start_run(RunStart("r", "G", {"when": {1, 2}}))
        assert (caught.value.node, caught.value.field) == (None, "when")
        return await adapter.load_run("r")

    assert run(scenario()) is None


def test_check_json_encodes_a_step_the_caller_did_not_encode() -> None:
    """The runner encodes as the node writes; a caller that did not still cannot store a
    value a durable backend would refuse (the suite's torn write, here by name)."""
    adapter = MemoryStateAdapter(check_json=True)
    plain = StepRecord(1, "A", {"x": 1})
    bad = StepRecord(2, "Writer", {"tags": {"a"}})

    async def scenario() -> StoredRun:
        await adapter.start_run(RunStart("r", "G", {}))
        await adapter.save_step("r", plain)
        with pytest.raises(StateValueError, match=r"'Writer'.*'tags'"):
            await adapter.save_step("r", bad)
        return await _load(adapter, "r")

    stored = run(scenario())
    assert stored.path == ["A"]
    assert plain.encoded == '{"x":1}'
