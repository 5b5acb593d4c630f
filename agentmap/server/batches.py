"""The batches a server process runs: an upload through the batch engine, in the server's loop.

A batch is ``agentmap batch`` over HTTP: the very engine (``arun_batch``),
fed the upload saved under ``server.batch_dir/<batch_id>/inputs.jsonl``,
appending one line per row to ``results.jsonl`` beside it and writing
``summary.json`` at the end. It runs as an asyncio task of the server's loop
with the graph and runner the server's catalog already holds, so its rows
share the server's state store, tracker and metrics with the API's runs.

Batch ids live in this process only (the last ``keep`` finished batches are
remembered); the files stay on disk. Progress reaches clients as events in an
``EventLog`` (the runs' SSE machinery): one per percent of the rows, or every
few seconds on a slow batch, so the log stays small for a million rows.

At shutdown the batches in flight get ``server.shutdown_grace`` seconds, then
are cancelled: the engine cancels their rows in flight and every finished row
is in ``results.jsonl``; with a durable state backend ``agentmap batch`` over
the same files finishes the job (docs/serving.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmap.batch.job import arun_batch
from agentmap.batch.summary import BatchSummary
from agentmap.server.events import EventLog
from agentmap.server.problems import ProblemError
from agentmap.workflow.spec import WorkflowSpec

if TYPE_CHECKING:
    from agentmap.runtime.runner import GraphRunner
    from agentmap.server.app import ServerState
    from agentmap.server.catalog import GraphEntry
    from agentmap.settings import AgentMapSettings
    from agentmap.workflow.spec import GraphSpec

__all__ = ["BatchManager", "LiveBatch"]

INPUTS, RESULTS, SUMMARY = "inputs.jsonl", "results.jsonl", "summary.json"
#: Seconds after which a slow batch reports progress although no new percent is done.
_HEARTBEAT = 5.0


@dataclass(slots=True)
class LiveBatch:
    batch_id: str
    graph: str
    folder: Path
    total: int
    concurrency: int
    id_field: str | None
    key: str
    started_at: float = field(default_factory=time.time)
    #: running, completed (every row has its line), failed (the batch stopped on an
    #: error, not a row's), interrupted (the server shut down first).
    status: str = "running"
    finished_at: float | None = None
    error: str | None = None
    #: The engine's live summary (counts so far; the final one once finished).
    summary: BatchSummary | None = None
    log: EventLog = field(default_factory=EventLog, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def results(self) -> Path:
        return self.folder / RESULTS

    def counts(self) -> dict[str, int]:
        s = self.summary
        if s is None:
            return {"total": self.total, "done": 0, "succeeded": 0, "failed": 0, "suspended": 0}
        done = s.done + s.suspended
        return {
            "total": self.total,
            "done": done,
            "succeeded": s.completed,
            "failed": s.failed,
            "suspended": s.suspended,
        }

    def view(self) -> dict[str, Any]:
        """What ``GET /v1/batches/{id}`` answers."""
        ended = self.status != "running"
        return {
            "batch_id": self.batch_id,
            "graph": self.graph,
            "status": self.status,
            **self.counts(),
            "concurrency": self.concurrency,
            "id_field": self.id_field,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "results": f"/v1/batches/{self.batch_id}/results",
            "summary": self.summary.to_dict() if ended and self.summary is not None else None,
        }

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "graph": self.graph,
            "timestamp": time.time(),
            "event": kind,
            **data,
        }


class _Progress:
    """The engine's progress reporter: row counts to events and metrics, cheaply per row."""

    def __init__(self, batch: LiveBatch, on_rows: Any) -> None:
        self.batch = batch
        self._on_rows = on_rows
        self._percent = -1
        self._at = time.monotonic()
        self._seen = {"completed": 0, "failed": 0, "suspended": 0}

    def update(self, summary: BatchSummary) -> None:
        batch = self.batch
        batch.summary = summary
        for status, seen in self._seen.items():
            now_count: int = getattr(summary, status)
            if now_count > seen:
                self._on_rows(batch.graph, status, now_count - seen)
            self._seen[status] = now_count
        handled = summary.done + summary.suspended
        percent = handled * 100 // batch.total if batch.total else 100
        now = time.monotonic()
        if percent != self._percent or now - self._at >= _HEARTBEAT:
            self._percent, self._at = percent, now
            batch.log.append(batch.event("progress", **batch.counts()))

    def close(self, summary: BatchSummary) -> None:
        self.batch.summary = summary


class _Served:
    """The server's Application, answering with the catalog's graph and runner.

    ``arun_batch`` loads its workflow and builds a runner through the
    application it is given; the server has both already (validated at
    start-up, the runner wired to the server's tracker), so nothing is parsed
    again and a batch runs exactly what ``POST /v1/runs`` runs.
    """

    def __init__(self, settings: AgentMapSettings, entry: GraphEntry) -> None:
        self._settings = settings
        self._entry = entry

    @property
    def settings(self) -> AgentMapSettings:
        return self._settings

    def load(
        self, workflow: str | Path, graph: str | None = None
    ) -> tuple[WorkflowSpec, GraphSpec]:
        entry = self._entry
        return WorkflowSpec(file=entry.file, graphs={entry.name: entry.spec}), entry.spec

    def runner(self, graph: GraphSpec) -> GraphRunner:
        return self._entry.runner


class BatchManager:
    def __init__(self, state: ServerState, keep: int = 1000) -> None:
        self.state = state
        self.root = state.settings.batch_dir.resolve()
        self.keep = keep
        self.live: dict[str, LiveBatch] = {}
        self._done: OrderedDict[str, LiveBatch] = OrderedDict()
        self.accepting = True

    def folder(self) -> tuple[str, Path]:
        """A new batch id and its (new, empty) folder."""
        batch_id = os.urandom(12).hex()
        folder = self.root / batch_id
        folder.mkdir(parents=True)
        return batch_id, folder

    def get(self, batch_id: str) -> LiveBatch:
        batch = self.live.get(batch_id) or self._done.get(batch_id)
        if batch is None:
            raise ProblemError(
                404,
                "batch-not-found",
                f"no batch {batch_id} in this server process (batch ids do not outlive "
                f"the process; results stay in server.batch_dir/{batch_id}/ on its disk)",
            )
        return batch

    def start(
        self,
        batch_id: str,
        entry: GraphEntry,
        total: int,
        *,
        id_field: str | None,
        concurrency: int,
        key: str,
    ) -> LiveBatch:
        batch = LiveBatch(
            batch_id, entry.name, self.root / batch_id, total, concurrency, id_field, key
        )
        batch.log.append(batch.event("progress", **batch.counts()))
        self.live[batch_id] = batch
        self.state.metrics.batches_active.inc()
        batch.task = asyncio.ensure_future(self._run(batch, entry))
        self.state.logger.info(
            f"batch {batch_id} of graph {entry.name!r} started: {total} rows, "
            f"concurrency {concurrency} (key {key})"
        )
        return batch

    async def _run(self, batch: LiveBatch, entry: GraphEntry) -> None:
        srv = self.state
        progress = _Progress(batch, srv.metrics.batch_rows)
        try:
            batch.summary = await arun_batch(
                _Served(srv.application.settings, entry),
                entry.file,
                batch.folder / INPUTS,
                batch.results,
                graph=entry.name,
                id_field=batch.id_field,
                concurrency=batch.concurrency,
                progress=progress,
                summary_file=batch.folder / SUMMARY,
            )
            batch.status = "completed"
        except asyncio.CancelledError:
            batch.status = "interrupted"
            batch.error = (
                "the server shut down before the batch finished; results.jsonl holds "
                "every finished row"
            )
            raise
        except Exception as exc:  # the engine stopped (the state store failed, a full disk)
            batch.status, batch.error = "failed", f"{type(exc).__name__}: {exc}"
            srv.logger.error(f"batch {batch.batch_id} of graph {batch.graph!r} failed: {exc!r}")
        finally:
            self._ended(batch)

    def _ended(self, batch: LiveBatch) -> None:
        batch.finished_at = time.time()
        summary = batch.summary.to_dict() if batch.summary is not None else None
        counts = batch.counts()
        last = batch.log.events[-1] if batch.log.events else {}
        if any(last.get(name) != value for name, value in counts.items()):
            batch.log.append(batch.event("progress", **counts))
        batch.log.append(
            batch.event("finished", status=batch.status, error=batch.error, summary=summary)
        )
        batch.log.close()
        metrics = self.state.metrics
        metrics.batches_active.dec()
        metrics.batches.labels(batch.status, batch.graph).inc()
        self.live.pop(batch.batch_id, None)
        self._done[batch.batch_id] = batch
        while len(self._done) > self.keep:
            self._done.popitem(last=False)
        self.state.logger.info(
            f"batch {batch.batch_id} of graph {batch.graph!r} ended {batch.status}: "
            f"{counts['succeeded']} completed, {counts['failed']} failed of {batch.total}"
        )

    async def shutdown(self, grace: float) -> None:
        """Stop taking batches; cancel those still running after ``grace`` seconds."""
        self.accepting = False
        tasks = [b.task for b in self.live.values() if b.task is not None]
        if not tasks:
            return
        self.state.logger.info(f"shutting down: {len(tasks)} batch(es) get {grace:g} s to finish")
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            self.state.logger.warning(
                f"interrupted {len(pending)} batch(es) at the end of the grace period"
            )
