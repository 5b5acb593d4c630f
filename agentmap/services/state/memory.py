"""A state adapter that keeps runs in a dict: inspection within one process, and tests.

It stores the initial state and each step's delta, like the persistent
adapters do, and replays the deltas in ``load_run``. Values are copied when
saved (cheaply: immutable values are shared), so a caller that later mutates
a list it handed over does not rewrite history.

It keeps the most recent ``max_runs`` runs only: it is the default adapter of
the development and test presets, and a long batch must not grow the process
without bound.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemoryStateAdapter", "StoredRun"]

_IMMUTABLE = (str, int, float, bool, bytes, type(None))


@dataclass
class StoredRun:
    """A run as a state adapter returns it (satisfies ``RunSnapshot``)."""

    run_id: str
    graph: str
    status: str
    state: dict[str, Any]
    path: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Record:
    graph: str
    initial_state: dict[str, Any]
    steps: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    status: str = "running"
    error: str | None = None


def _copy(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    try:
        return copy.deepcopy(value)
    except RecursionError:
        # Nested deeper than Python can copy (a loop that wraps its own output):
        # keep the value itself rather than fail the run over a checkpoint.
        return value


def _snapshot(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) for k, v in values.items()}


class MemoryStateAdapter:
    def __init__(self, max_runs: int = 1000) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self.max_runs = max_runs
        self._runs: dict[str, _Record] = {}

    async def start_run(self, run_id: str, graph: str, initial_state: Mapping[str, Any]) -> None:
        runs = self._runs
        runs.pop(run_id, None)
        while len(runs) >= self.max_runs:
            del runs[next(iter(runs))]  # dicts keep insertion order: oldest first
        runs[run_id] = _Record(graph, _snapshot(initial_state))

    async def save_step(self, run_id: str, step: int, node: str, delta: Mapping[str, Any]) -> None:
        self._record(run_id).steps.append((step, node, _snapshot(delta)))

    async def finish_run(self, run_id: str, status: str, error: str | None) -> None:
        record = self._record(run_id)
        record.status, record.error = status, error

    async def load_run(self, run_id: str) -> StoredRun | None:
        record = self._runs.get(run_id)
        if record is None:
            return None
        state = dict(record.initial_state)
        path = []
        # Parallel branches may save out of order; the step number is the truth.
        for _, node, delta in sorted(record.steps, key=lambda item: item[0]):
            state.update(delta)
            path.append(node)
        return StoredRun(run_id, record.graph, record.status, _snapshot(state), path, record.error)

    def _record(self, run_id: str) -> _Record:
        try:
            return self._runs[run_id]
        except KeyError:
            raise KeyError(f"unknown run {run_id!r}: call start_run first") from None
