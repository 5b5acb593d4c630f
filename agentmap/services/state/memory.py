"""A state adapter that keeps runs in a dict: the test preset's, and inspection in one process.

It is on the hot path of every run in the test preset, so it is cheap rather
than durable: it keeps the step records the runner hands it, values by
reference (the runner never mutates a value after handing it over, and that
is the contract for any caller, see ``StateAdapterProtocol``), and encodes
nothing. So it does not check that state is JSON unless asked
(``check_json=True``, or ``state.check_json`` in settings); the sqlite and
postgres adapters always do. Everything else (resume, suspend, fork, prune)
works the same as on a durable backend, within the process.

It keeps the most recent ``max_runs`` runs only: a long batch must not grow
the process without bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from agentmap.runtime.checkpoint import RunStart, RunSummary, StepRecord, StoredRun, Waiting
from agentmap.services.state import _json
from agentmap.services.state._sql import unknown_run

__all__ = ["MemoryStateAdapter", "StoredRun"]


@dataclass(slots=True)
class _Record:
    start: RunStart
    initial_state: dict[str, Any]
    created_at: float
    updated_at: float
    steps: list[StepRecord] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    waiting: Waiting | None = None
    fingerprint: Mapping[str, Any] | None = None


class MemoryStateAdapter:
    def __init__(
        self,
        max_runs: int = 1000,
        *,
        check_json: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self.max_runs = max_runs
        self._clock = clock
        self._runs: dict[str, _Record] = {}
        if check_json:
            # Present only when asked: the runner checks a delta when this exists.
            self.encode_delta = _json.encode_delta

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def start_run(self, run: RunStart) -> None:
        if "encode_delta" in self.__dict__:  # (hasattr of a missing name raises inside: slow)
            _json.encode_delta(None, run.initial_state)
        runs = self._runs
        runs.pop(run.run_id, None)
        while len(runs) >= self.max_runs:
            del runs[next(iter(runs))]  # dicts keep insertion order: oldest first
        now = self._clock()
        runs[run.run_id] = _Record(
            run, dict(run.initial_state), now, now, fingerprint=run.fingerprint
        )

    async def save_step(self, run_id: str, step: StepRecord) -> None:
        try:
            steps = self._runs[run_id].steps
        except KeyError:
            self._record(run_id)  # raises, naming the run
            raise
        if type(step.delta) is not dict:
            step.delta = dict(step.delta)  # a read-only view: stored as a plain dict
        # A dict is kept as handed over: the record and its delta belong to the adapter
        # from now on (StateAdapterProtocol), and the runner builds a new one each step.
        if step.encoded is None and "encode_delta" in self.__dict__:
            # check_json, and a caller that did not encode as the node wrote (the runner does).
            step.encoded = _json.encode_delta(step.node, step.delta)
        steps.append(step)

    async def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        record = self._record(run_id)
        record.status, record.error, record.waiting = status, error, waiting
        record.updated_at = self._clock()

    async def reopen_run(self, run_id: str, fingerprint: Mapping[str, Any] | None = None) -> None:
        record = self._record(run_id)
        record.status, record.error, record.waiting = "running", None, None
        if fingerprint is not None:
            record.fingerprint = fingerprint
        record.updated_at = self._clock()

    async def load_run(self, run_id: str) -> StoredRun | None:
        record = self._runs.get(run_id)
        if record is None:
            return None
        start = record.start
        return StoredRun(
            run_id=run_id,
            graph=start.graph,
            status=record.status,  # type: ignore[arg-type]
            initial_state=dict(record.initial_state),
            # Parallel branches may save out of order; the step number is the truth.
            steps=sorted(record.steps, key=lambda s: s.step),
            error=record.error,
            waiting=record.waiting,
            workflow=start.workflow,
            fingerprint=record.fingerprint,
            created_at=record.created_at,
            updated_at=record.updated_at,
            parent_run_id=start.parent_run_id,
            forked_from_step=start.forked_from_step,
        )

    async def list_runs(
        self,
        *,
        status: str | None = None,
        graph: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        found = []
        for run_id, record in reversed(self._runs.items()):
            if status is not None and record.status != status:
                continue
            if graph is not None and record.start.graph != graph:
                continue
            last = max(record.steps, key=lambda s: s.step) if record.steps else None
            found.append(
                RunSummary(
                    run_id=run_id,
                    graph=record.start.graph,
                    status=record.status,  # type: ignore[arg-type]
                    created_at=record.created_at,
                    updated_at=record.updated_at,
                    steps=len(record.steps),
                    last_node=last.node if last else None,
                    error=record.error,
                    workflow=record.start.workflow,
                    parent_run_id=record.start.parent_run_id,
                )
            )
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found if limit is None else found[:limit]

    async def fork_run(self, run_id: str, new_run_id: str, step: int) -> None:
        source = self._record(run_id)
        start = replace(
            source.start,
            run_id=new_run_id,
            parent_run_id=run_id,
            forked_from_step=step,
            fingerprint=source.fingerprint,
        )
        await self.start_run(start)
        self._runs[new_run_id].steps = [replace(s) for s in source.steps if s.step <= step]

    async def prune(self, older_than: float) -> int:
        old = [run_id for run_id, r in self._runs.items() if r.updated_at < older_than]
        for run_id in old:
            del self._runs[run_id]
        return len(old)

    def _record(self, run_id: str) -> _Record:
        try:
            return self._runs[run_id]
        except KeyError:
            raise unknown_run(run_id) from None
