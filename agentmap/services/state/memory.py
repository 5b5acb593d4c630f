"""A state adapter that keeps runs in a dict: inspection within one process, and tests.

It stores the initial state and each step's delta, like the persistent
adapters do, and replays the deltas in ``load_run``. It is on the hot path of
every run in the development and test presets, so it copies mappings, not
values: a delta's *keys* are fixed when it is saved, but its values are kept
by reference. The runner never mutates a value after handing it over (it
builds a new ``errors`` list for every failure), and that is the contract for
any caller (``StateAdapterProtocol``): values handed to an adapter belong to
it. ``load_run`` returns a new state dict whose values are the stored ones;
read them, do not mutate them. Persistent adapters serialize and so copy
anyway.

It keeps the most recent ``max_runs`` runs only: it is the default adapter of
the development and test presets, and a long batch must not grow the process
without bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemoryStateAdapter", "StoredRun"]


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
        runs[run_id] = _Record(graph, dict(initial_state))

    async def save_step(self, run_id: str, step: int, node: str, delta: Mapping[str, Any]) -> None:
        self._record(run_id).steps.append((step, node, dict(delta)))

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
        return StoredRun(run_id, record.graph, record.status, state, path, record.error)

    def _record(self, run_id: str) -> _Record:
        try:
            return self._runs[run_id]
        except KeyError:
            raise KeyError(f"unknown run {run_id!r}: call start_run first") from None
