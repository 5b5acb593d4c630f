"""What the state conformance suite's tests share: values, record builders, the base class.

Private to ``agentmap.testing.state_conformance`` (which re-exports what a
backend's tests may want: ``JSON_VALUES``, ``typed`` and the clocks); split off
so that each module of the suite stays readable.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest

from agentmap.runtime.checkpoint import StepRecord, StoredRun
from agentmap.services.protocols import EncodingStateAdapter, StateAdapterProtocol
from agentmap.testing.cache_conformance import Clock, WallClock

__all__ = [
    "JSON_VALUES",
    "TICK",
    "StateSuiteBase",
    "by_key",
    "make_step",
    "require_encoding",
    "runner_encoded",
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


def by_key(value: Mapping[str, Any]) -> dict[str, Any]:
    """``typed`` per field, so that a failure shows which fields differ."""
    return {key: typed(item) for key, item in value.items()}


def make_step(
    n: int, node: str | None = None, delta: Mapping[str, Any] | None = None, **kw: Any
) -> StepRecord:
    return StepRecord(
        step=n, node=node or f"N{n}", delta={"n": n} if delta is None else delta, **kw
    )


def runner_encoded(adapter: Any, step: StepRecord) -> StepRecord:
    """``step`` as the runner hands it to an encoding adapter: with ``encoded`` set."""
    if isinstance(adapter, EncodingStateAdapter):
        step.encoded = adapter.encode_delta(step.node, step.delta)
    return step


def require_encoding(adapter: Any) -> None:
    if not isinstance(adapter, EncodingStateAdapter):
        pytest.skip("the adapter has no encode_delta: it does not serialise state")


class StateSuiteBase:
    """The fixtures, hook and helpers every part of the suite uses."""

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
