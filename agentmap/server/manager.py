"""The runs a server process has in flight: start, wait, resume, cancel, shut down.

A run is an asyncio task owned by the manager, not by the request that
started it: a client that stops waiting (``timeout``, a dropped connection)
leaves the run going, and ``wait=false`` returns at once. The state store is
the record of every run; the manager only knows the live ones, which is what
cancel, the per-key cap and shutdown need.

On SIGTERM the manager stops accepting runs, gives those in flight
``server.shutdown_grace`` seconds, then cancels the rest and marks them
``interrupted`` in the store: every finished step is already checkpointed,
so ``resume`` goes on from there after a restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agentmap.errors import ResumeError
from agentmap.runtime.checkpoint import StoredRun
from agentmap.runtime.result import RunResult
from agentmap.runtime.resume import check_resumable
from agentmap.server.catalog import Catalog, GraphEntry
from agentmap.server.checks import (
    check_inputs,
    check_resume,
    check_run_id,
    run_exists,
    unknown_graph,
)
from agentmap.server.events import EventHub, closing_events
from agentmap.server.problems import ProblemError
from agentmap.services.protocols import LoggerProtocol, StateAdapterProtocol

__all__ = ["LiveRun", "RunManager"]

ANONYMOUS = "anonymous"


@dataclass(slots=True)
class LiveRun:
    run_id: str
    graph: str
    key: str
    task: asyncio.Task[RunResult] = field(repr=False)
    #: Why the task was cancelled: ``cancelled`` (a request) or ``interrupted`` (shutdown).
    stop_reason: str | None = None
    #: Set once the manager has recorded how the run ended.
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class RunManager:
    def __init__(
        self,
        catalog: Catalog,
        store: StateAdapterProtocol,
        hub: EventHub,
        logger: LoggerProtocol,
        *,
        max_concurrent_runs: int,
        on_active: Any = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.hub = hub
        self.logger = logger
        self.max_concurrent_runs = max_concurrent_runs
        self.live: dict[str, LiveRun] = {}
        #: Ids a request is starting or resuming, between its first check and ``_launch``.
        self._claimed: set[str] = set()
        self._bookkeeping: set[asyncio.Future[None]] = set()
        self.accepting = True
        #: Runs cancelled at the end of a shutdown's grace period; a sync agent of
        #: one may still hold a worker thread (see cli/serve.py).
        self.interrupted = 0
        self._per_key: Counter[str] = Counter()
        self._on_active = on_active
        self._stopper: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ starting runs

    def graph(self, name: str) -> GraphEntry:
        entry = self.catalog.get(name)
        if entry is None:
            raise unknown_graph(name, self.catalog)
        return entry

    async def start(
        self,
        graph: str,
        state: Mapping[str, Any],
        *,
        run_id: str | None = None,
        key: str | None = None,
    ) -> LiveRun:
        entry = self.graph(graph)
        check_inputs(entry, state)
        self._admit(key)
        if run_id is None:
            new = os.urandom(16).hex()
            return self._launch(new, entry, entry.runner.arun(state, run_id=new), key)
        with self._claim(run_id, lambda: run_exists(run_id)):
            await self._check_new_id(run_id)
            self._admit(key)  # again: shutdown may have begun while the store was read
            return self._launch(run_id, entry, entry.runner.arun(state, run_id=run_id), key)

    async def resume(
        self,
        run_id: str,
        values: Mapping[str, Any] | None,
        *,
        force: bool = False,
        key: str | None = None,
    ) -> LiveRun:
        def busy() -> ProblemError:
            return ProblemError(
                409, "not-resumable", f"run {run_id} is running in this server; wait for it"
            )

        with self._claim(run_id, busy):
            return await self._resume(run_id, values, force, key)

    async def _resume(
        self, run_id: str, values: Mapping[str, Any] | None, force: bool, key: str | None
    ) -> LiveRun:
        stored = await self.load(run_id)
        entry = self.catalog.get(stored.graph)
        if entry is None:
            raise ProblemError(
                409,
                "not-resumable",
                f"run {run_id} is a run of graph {stored.graph!r}, which this server does not serve",
            )
        check_resume(stored, values, force)
        try:
            check_resumable(stored, entry.runner.fingerprint, values, force=force)
        except ResumeError as exc:
            raise ProblemError(409, "not-resumable", str(exc)) from None
        self._admit(key)
        return self._launch(run_id, entry, entry.runner.aresume(stored, values), key)

    def _admit(self, key: str | None) -> None:
        if not self.accepting:
            raise ProblemError(
                503,
                "shutting-down",
                "the server is shutting down and starts no new run; retry on another instance",
                headers={"Retry-After": "5"},
            )
        who = key or ANONYMOUS
        if self._per_key[who] >= self.max_concurrent_runs:
            raise ProblemError(
                429,
                "too-many-runs",
                f"{self.max_concurrent_runs} runs of this caller are in flight "
                "(server.max_concurrent_runs); retry when one has finished",
                headers={"Retry-After": "1"},
            )

    async def _check_new_id(self, run_id: str) -> None:
        check_run_id(run_id)
        if await self.store.load_run(run_id) is not None:
            raise run_exists(run_id)

    @contextmanager
    def _claim(self, run_id: str, busy: Callable[[], ProblemError]) -> Iterator[None]:
        """Hold ``run_id`` from a request's first check until ``_launch`` makes it live.

        The checks read the store; without the claim, a second request for the
        same id (a client's retry, a replayed request) arriving meanwhile passes
        them too and the workflow runs twice. It gets ``busy()`` (a 409) instead.
        """
        if run_id in self.live or run_id in self._claimed:
            raise busy()
        self._claimed.add(run_id)
        try:
            yield
        finally:
            self._claimed.discard(run_id)

    def _launch(self, run_id: str, entry: GraphEntry, work: Any, key: str | None) -> LiveRun:
        who = key or ANONYMOUS
        self.hub.open(run_id)
        task: asyncio.Task[RunResult] = asyncio.ensure_future(_contained(work))
        live = LiveRun(run_id, entry.name, who, task)
        self.live[run_id] = live
        self._per_key[who] += 1
        self._idle.clear()
        if self._on_active is not None:
            self._on_active(1)
        task.add_done_callback(lambda _: self._keep(asyncio.ensure_future(self._ended(live))))
        self.logger.info(f"run {run_id} of graph {entry.name!r} started (key {who})")
        return live

    def _keep(self, task: asyncio.Future[None]) -> None:
        """Hold a reference until the task is done (the loop keeps only weak ones)."""
        self._bookkeeping.add(task)
        task.add_done_callback(self._bookkeeping.discard)

    async def _ended(self, live: LiveRun) -> None:
        """Record how a run's task ended: publish its last events, release its slot."""
        task, run_id = live.task, live.run_id
        now = time.time()
        final: list[dict[str, Any]] = []
        if task.cancelled() and live.stop_reason is None:
            # Nobody here cancelled it: an agent raised CancelledError itself.
            detail = "an agent raised CancelledError (the run was not cancelled by request)"
            await self._mark(run_id, "failed", detail)
            final = [_finished(live, now, "failed", detail)]
        elif task.cancelled():
            status = live.stop_reason or "cancelled"
            detail = (
                "cancelled by request"
                if status == "cancelled"
                else "the server shut down before the run finished; resume it"
            )
            try:
                await self.store.finish_run(run_id, status, detail)
            except Exception as exc:  # the record stays "running": resume needs force then
                self.logger.error(f"run {run_id}: could not mark it {status}: {exc}")
            final = [_finished(live, now, status, detail)]
        elif (failure := task.exception()) is not None:
            self.logger.error(
                f"run {run_id} of graph {live.graph!r} failed in the server: {failure!r}"
            )
            await self._mark(run_id, "failed", str(failure))
            final = [_finished(live, now, "failed", str(failure))]
        else:
            result = task.result()
            final = closing_events(run_id, live.graph, now, result, result.duration)
            self.logger.info(f"run {run_id} of graph {live.graph!r} ended {result.status}")
        self.hub.close(run_id, *final)
        self.live.pop(run_id, None)
        self._per_key[live.key] -= 1
        if self._per_key[live.key] <= 0:
            del self._per_key[live.key]
        if self._on_active is not None:
            self._on_active(-1)
        live.ended.set()
        if not self.live:
            self._idle.set()

    async def _mark(self, run_id: str, status: str, error: str) -> None:
        """Store how a run ended that the runner could not record itself."""
        try:
            stored = await self.store.load_run(run_id)
            if stored is not None and stored.status == "running":
                await self.store.finish_run(run_id, status, error)
        except Exception as exc:
            self.logger.error(f"run {run_id}: could not mark it {status}: {type(exc).__name__}")

    # ------------------------------------------------------------------ waiting, reading

    async def wait(self, live: LiveRun, within: float | None) -> RunResult | None:
        """The run's result, or None when ``within`` seconds passed first (the run goes on)."""
        task = live.task
        if not task.done():
            try:
                if within is None:
                    await asyncio.shield(task)
                else:
                    await asyncio.wait_for(asyncio.shield(task), within)
            except TimeoutError:
                return None
            except asyncio.CancelledError:
                if task.cancelled():
                    self._stopped(live)
                raise
        if task.cancelled():
            self._stopped(live)
        return task.result()

    def _stopped(self, live: LiveRun) -> None:
        reason = live.stop_reason or "cancelled"
        raise ProblemError(
            503 if reason == "interrupted" else 409,
            "shutting-down" if reason == "interrupted" else "not-running",
            f"run {live.run_id} was {reason} before it finished; "
            f"POST /v1/runs/{live.run_id}/resume goes on from its last checkpoint",
            extra={"run_id": live.run_id, "run_status": reason},
        )

    async def load(self, run_id: str) -> StoredRun:
        if "\x00" in run_id or len(run_id) > 512:  # no store can hold it; do not ask one
            raise ProblemError(
                404, "run-not-found", "no run with such an id in this server's store"
            )
        stored = await self.store.load_run(run_id)
        if stored is None:
            raise ProblemError(404, "run-not-found", f"no run {run_id} in this server's store")
        return stored

    # ------------------------------------------------------------------ stopping runs

    async def cancel(self, run_id: str) -> None:
        live = self.live.get(run_id)
        if live is None:
            stored = await self.load(run_id)
            raise ProblemError(
                409,
                "not-running",
                f"run {run_id} is {stored.status}, not running in this server",
                extra={"run_status": stored.status},
            )
        live.stop_reason = "cancelled"
        live.task.cancel()
        await live.ended.wait()  # _ended has marked it in the store

    def begin_shutdown(self, grace: float) -> None:
        """Stop accepting runs; interrupt those still in flight after ``grace`` seconds."""
        if not self.accepting:
            return
        self.accepting = False
        self.logger.info(
            f"shutting down: {len(self.live)} run(s) in flight get {grace:g} s to finish"
        )
        loop = asyncio.get_running_loop()
        self._stopper = loop.call_later(grace, self._interrupt_all)

    def _interrupt_all(self) -> None:
        for live in list(self.live.values()):
            if not live.task.done():
                live.stop_reason = "interrupted"
                live.task.cancel()
                self.interrupted += 1
        if self.live:
            self.logger.warning(
                f"interrupted {len(self.live)} run(s) at the end of the grace period; "
                "they are marked interrupted and can be resumed"
            )

    async def shutdown(self, grace: float) -> None:
        """Wait for the runs in flight (up to ``grace`` after shutdown began), then stop."""
        self.begin_shutdown(grace)
        await self._idle.wait()
        if self._stopper is not None:
            self._stopper.cancel()


def _finished(live: LiveRun, now: float, status: str, error: str) -> dict[str, Any]:
    return {
        "run_id": live.run_id,
        "graph": live.graph,
        "timestamp": now,
        "event": "run_finished",
        "status": status,
        "error": error,
        "duration": 0.0,
    }


async def _contained(work: Awaitable[RunResult]) -> RunResult:
    """Run ``work``; an agent's ``sys.exit()`` or KeyboardInterrupt fails its run only.

    asyncio re-raises those two out of the event loop, which would take the
    whole server down (or leave uvicorn answering a bare 500) for one run.
    """
    try:
        return await work
    except (SystemExit, KeyboardInterrupt) as exc:
        raise RuntimeError(
            f"an agent raised {type(exc).__name__}; the server ended this run instead of exiting"
        ) from exc
