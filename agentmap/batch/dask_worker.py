"""The worker side of the Dask executor: what runs in each Dask worker process.

``run_shard`` is the task the client submits: it runs one shard of rows with
the local asyncio engine (``run_rows``) on one long-lived event loop per
worker process, with the application built once per batch, and returns the
shard's result lines. ``share_limits`` divides the LLM limits between the
worker processes. Kept apart from the client (agentmap/batch/dask.py) so a
worker unpickling ``run_shard`` imports only this and agentmap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentmap.batch.durable import DurableRows
from agentmap.batch.inputs import InputRow
from agentmap.batch.local import RowRunner, run_rows

if TYPE_CHECKING:
    from agentmap.batch.job import BatchApplication, BatchJob
    from agentmap.settings import AgentMapSettings

__all__ = ["ShardCancelled", "ShardPlan", "run_shard", "share_limits"]

Factory = Callable[[], "BatchApplication"]


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """What every shard of one ``run_on_dask`` call shares; sent with each shard."""

    #: Identifies the call: a worker builds one application per token, never across jobs.
    token: str
    #: Worker processes the LLM limits are divided between.
    processes: int
    #: Rows of a shard in flight at once.
    concurrency: int


def share_limits(settings: AgentMapSettings, processes: int) -> AgentMapSettings:
    """``settings`` with the LLM limits divided between ``processes`` worker processes.

    Every worker process has its own LLM service, and so its own limiter; a
    provider counts requests per API key over all of them. Concurrency caps are
    rounded down (at least 1), so the workers together stay under the cap;
    rates are divided exactly (``rpm`` is a float). Fields this version's
    ``LLMSettings`` lacks are skipped. Returns ``settings`` itself when nothing
    changes.
    """
    llm = settings.llm
    if processes <= 1:
        return settings

    def cap(value: int) -> int:
        return max(1, value // processes)

    update: dict[str, Any] = {}
    if getattr(llm, "max_concurrency", None) is not None:
        update["max_concurrency"] = cap(llm.max_concurrency)  # type: ignore[arg-type]
    if getattr(llm, "provider_concurrency", None):
        update["provider_concurrency"] = {k: cap(v) for k, v in llm.provider_concurrency.items()}
    if getattr(llm, "rpm", None) is not None:
        update["rpm"] = llm.rpm / processes  # type: ignore[operator]
    if getattr(llm, "provider_rpm", None):
        update["provider_rpm"] = {k: v / processes for k, v in llm.provider_rpm.items()}
    if not update:
        return settings
    return settings.model_copy(update={"llm": llm.model_copy(update=update)})


@dataclass
class _Prepared:
    application: Any
    runner: RowRunner
    users: int = 0


@dataclass
class _WorkerState:
    """Per worker process: one event loop for every shard, and the runners built so far.

    One long-lived loop (in its own thread) rather than ``asyncio.run`` per
    shard: services such as HTTP clients and the LLM limiter's semaphores
    belong to the loop that first used them, so a runner must stay on one loop.
    It also makes the worker's LLM limits hold across shards running at once
    in several worker threads.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    prepared: OrderedDict[str, _Prepared] = field(default_factory=OrderedDict)


_WORKER = _WorkerState()
#: Seconds between a running shard's checks for its cancellation.
_POLL = 0.2
#: Applications a worker keeps; an idle one beyond this is closed (jobs on a shared cluster).
_KEEP = 2


def _worker_loop() -> asyncio.AbstractEventLoop:
    if _WORKER.loop is None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="agentmap-batch", daemon=True)
        thread.start()
        _WORKER.loop = loop
    return _WORKER.loop


async def _build(factory: Factory, job: BatchJob) -> _Prepared:
    # A coroutine so that services are created on the loop that will use them.
    application = factory()
    _, graph = application.load(job.workflow, job.graph)
    return _Prepared(application, application.runner(graph))


def _acquire(factory: Factory, job: BatchJob, plan: ShardPlan) -> _Prepared:
    with _WORKER.lock:
        loop = _worker_loop()
        prepared = _WORKER.prepared.get(plan.token)
        if prepared is None:
            build = asyncio.run_coroutine_threadsafe(_build(factory, job), loop)
            prepared = _WORKER.prepared[plan.token] = build.result()
        _WORKER.prepared.move_to_end(plan.token)
        prepared.users += 1
        idle = [t for t, p in _WORKER.prepared.items() if p.users == 0]
        for token in idle[: max(len(_WORKER.prepared) - _KEEP, 0)]:
            close = getattr(_WORKER.prepared.pop(token).application, "close", None)
            if callable(close):
                close()
        return prepared


def _cancelled(task_key: str | None) -> Callable[[], bool]:
    """Whether the scheduler has cancelled this shard's task (the client's Ctrl-C).

    Dask cannot stop a running task, so a shard watches its own task state and
    stops its rows itself: otherwise an interrupted batch would go on making
    LLM calls, and a closing local cluster would wait for them. Outside a
    worker (or should the worker's internals change) it answers False.
    """
    try:
        from distributed import get_worker

        tasks = get_worker().state.tasks
    except (ImportError, ValueError, AttributeError):
        return lambda: False

    def check() -> bool:
        task = tasks.get(task_key) if task_key is not None else None
        return task is not None and getattr(task, "state", None) == "cancelled"

    return check


class ShardCancelled(Exception):
    """Raised by a shard that stopped because its task was cancelled (never seen by a client)."""


def run_shard(
    factory: Factory,
    job: BatchJob,
    rows: list[InputRow],
    plan: ShardPlan,
    task_key: str | None = None,
    waiting: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Run one shard on this worker and return its result lines (the Dask task).

    The application and runner are built on the first shard of a job and
    reused by the next ones. A row's failure is a line, never an exception; an
    exception here (the workflow cannot be loaded on this machine, say) fails
    the batch with its message. For a durable job (``job.runs``) rows run as
    in a local durable batch (durable.py); ``waiting`` are the shard's
    suspended rows. The notes a durable batch makes about rows it leaves
    alone stay on the worker: the client's summary counts those rows, but
    does not say why.
    """
    prepared = _acquire(factory, job, plan)
    lines: list[dict[str, Any]] = []
    cancelled = _cancelled(task_key)
    durable = None
    if job.runs is not None:
        durable = DurableRows(
            prepared.runner,  # type: ignore[arg-type]  # a GraphRunner, typed as RowRunner here
            job.runs,
            fields=job.fields,
            job=job.tag,
            fresh_since=job.fresh_since,
        )
    try:
        batch = run_rows(
            prepared.runner,
            rows,
            lines.append,
            fields=job.fields,
            job=job.tag,
            concurrency=plan.concurrency,
            row_timeout=job.row_timeout,
            durable=durable,
            waiting=waiting,
        )
        done = asyncio.run_coroutine_threadsafe(batch, _worker_loop())
        while True:
            try:
                done.result(timeout=_POLL)
                break
            except concurrent.futures.TimeoutError:
                if cancelled():
                    done.cancel()  # run_rows cancels its rows and waits for them
                    with suppress(concurrent.futures.CancelledError):
                        done.result()
                    raise ShardCancelled(task_key) from None
    finally:
        with _WORKER.lock:
            prepared.users -= 1
    return lines
