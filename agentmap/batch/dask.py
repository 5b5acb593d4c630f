"""The Dask executor: shards of rows run on a cluster, results written by the client.

``run_on_dask`` streams the rows, groups the ones still to run into shards of
``shard_size`` and keeps about two shards per worker thread in flight. A
worker runs its shard with the same asyncio engine as a local batch
(``run_rows``), with its share of the concurrency, and sends the shard's lines
back; only then does the client ``emit`` them, in its own event loop, so the
output file has one writer and the local executor's promises hold unchanged.

Why whole shards come back at once: a worker that dies mid-shard has reported
nothing, so when the scheduler reruns that shard elsewhere (it does, up to
``distributed.scheduler.allowed-failures`` times) no row is written twice. The
price is that a row's line appears when its shard ends, not when the row
does, and a killed shard's finished rows run again. A shard that keeps
killing its workers (``KilledWorker``) is split in two and retried until the
row responsible is alone; that row gets a failed line, the others run.

Limits are shared, not multiplied: each shard runs ``ceil(concurrency /
worker threads)`` rows at a time, and each worker process gets the LLM limits
(``llm.max_concurrency``, ``provider_concurrency``, ``rpm``, ``provider_rpm``)
divided by the number of worker processes (see ``share_limits``).

Durable batches (``BatchJob.runs``, see durable.py) work the same way on the
workers: each row runs under its deterministic run id, so the workers must
share the client's state store (postgres, or one sqlite file that every
worker process can reach: a local cluster). A shard rerun after its worker
died finds the runs that finished and takes their lines from the store, and
resumes the ones in the middle of a node, instead of running them again.

dask and distributed are imported here, inside the client functions; what runs
on the workers is in agentmap/batch/dask_worker.py.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import math
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from agentmap.batch.dask_worker import ShardPlan, run_shard, share_limits
from agentmap.batch.errors import BatchError
from agentmap.batch.inputs import InputRow
from agentmap.batch.local import rows_to_run
from agentmap.batch.output import RowSet
from agentmap.batch.results import failed_result
from agentmap.errors import MissingExtraError

if TYPE_CHECKING:
    from agentmap.batch.job import BatchApplication, BatchJob
    from agentmap.settings import AgentMapSettings

__all__ = ["run_on_dask", "run_shards", "shared_factory"]

#: Seconds to wait for the first worker (or ``workers`` of them) to join a scheduler.
WORKER_WAIT = 60.0

Emit = Callable[[dict[str, Any]], None]
Factory = Callable[[], "BatchApplication"]


def _distributed() -> Any:
    """The ``distributed`` module, typed ``Any``: its annotations describe the sync API.

    In asynchronous mode most ``Client`` methods return coroutines although they
    are annotated with their synchronous result, so strict typing would only
    add casts.
    """
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("distributed", "dask", "The dask batch executor") from None
    return distributed


@asynccontextmanager
async def _client(
    distributed: Any, scheduler: str | None, workers: int | None
) -> AsyncIterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` processes (default 2)."""
    if scheduler is not None:
        try:
            client = await distributed.Client(scheduler, asynchronous=True)
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        async with client:
            yield client
        return
    # No dashboard (it needs bokeh), and the scheduler's HTTP server (health checks)
    # on a free local port rather than 8787, which another cluster may hold.
    async with (
        distributed.LocalCluster(
            n_workers=workers or 2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.WARNING,
            asynchronous=True,
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,
    ):
        yield client


async def _worker_threads(client: Any, scheduler: str | None, workers: int | None) -> list[int]:
    """Threads of each worker, once ``workers`` (at least one) have joined."""
    wanted = workers or 1
    try:
        await client.wait_for_workers(wanted, timeout=WORKER_WAIT)
    except TimeoutError:
        where = f"the Dask scheduler {scheduler}" if scheduler else "the local Dask cluster"
        raise BatchError.naming(
            "{where} has fewer than {wanted} worker(s) after {wait:g} s; "
            "start workers with `dask worker ADDRESS`, or lower {option[workers]}",
            where=where,
            wanted=wanted,
            wait=WORKER_WAIT,
        ) from None
    threads: dict[str, int] = await client.nthreads()
    return list(threads.values())


def shared_factory(factory: Factory, settings: AgentMapSettings | None, processes: int) -> Factory:
    """``factory`` that builds applications with the LLM limits divided between processes.

    A factory that takes a ``settings=`` keyword (``Application.factory`` does) is
    given the divided settings. Any other factory keeps its full limits on each
    worker, which multiplies them: say so rather than let a provider's 429s
    tell the user.
    """
    if settings is None:
        probe = factory()
        settings = probe.settings
        close = getattr(probe, "close", None)
        if callable(close):
            close()
    shared = share_limits(settings, processes)
    if shared is settings:
        return factory
    if _accepts_settings(factory):
        return functools.partial(factory, settings=shared)  # type: ignore[call-arg]
    warnings.warn(
        f"executor='dask': {factory!r} does not accept settings=, so each of the "
        f"{processes} workers applies the full llm rate and concurrency limits; pass "
        "Application.factory to have them divided between the workers",
        RuntimeWarning,
        stacklevel=3,
    )
    return factory


def _accepts_settings(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind is p.VAR_KEYWORD or (p.name == "settings" and p.kind is not p.POSITIONAL_ONLY)
        for p in parameters
    )


def _shards(rows: Iterable[InputRow], size: int) -> Iterator[list[InputRow]]:
    """Rows to run, ``size`` at a time."""
    shard: list[InputRow] = []
    for row in rows:
        shard.append(row)
        if len(shard) >= size:
            yield shard
            shard = []
    if shard:
        yield shard


def _killed_line(row: InputRow, exc: BaseException, job: BatchJob) -> dict[str, Any]:
    tries = getattr(exc, "allowed_failures", None)
    times = f" {tries + 1} times" if isinstance(tries, int) else ""
    return failed_result(
        row,
        f"the Dask worker running this row died{times} (KilledWorker); the row may "
        "exhaust the worker's memory or crash the interpreter",
        0.0,
        job.tag,
    )


async def run_on_dask(
    factory: Factory,
    job: BatchJob,
    rows: Iterable[InputRow],
    emit: Emit,
    *,
    skip: RowSet | None = None,
    waiting: Mapping[int, int] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    shard_size: int = 200,
    settings: AgentMapSettings | None = None,
) -> None:
    """Run every row not in ``skip`` on a Dask cluster; ``emit`` each line in this loop.

    ``waiting`` (suspended rows, row -> ``waiting_digest``) are sent with their
    shards when the job is durable, and left as they are otherwise.

    ``scheduler`` is the address of a running scheduler; without it a local
    cluster of ``workers`` processes (default 2) is started and closed again.
    With a scheduler, ``workers`` is how many workers to wait for before
    starting. ``settings`` (the application's) spares building one application
    here to learn the LLM limits. Cancelling the call cancels the shards in
    flight and closes the client (and the local cluster).
    """
    if shard_size < 1:
        raise BatchError(f"shard size must be at least 1, got {shard_size}")
    distributed = _distributed()
    async with _client(distributed, scheduler, workers) as client:
        threads = await _worker_threads(client, scheduler, workers)
        plan = ShardPlan(
            token=uuid.uuid4().hex,
            processes=len(threads),
            concurrency=math.ceil(job.concurrency / max(sum(threads), 1)),
        )
        shared = shared_factory(factory, settings, plan.processes)
        todo = rows_to_run(rows, emit, job.tag, skip, waiting, durable=job.runs is not None)
        await run_shards(
            distributed,
            client,
            shared,
            job,
            plan,
            _shards(todo, shard_size),
            emit,
            in_flight=2 * sum(threads),
            waiting=waiting,
        )


async def run_shards(
    distributed: Any,
    client: Any,
    factory: Factory,
    job: BatchJob,
    plan: ShardPlan,
    shards: Iterator[list[InputRow]],
    emit: Emit,
    *,
    in_flight: int,
    waiting: Mapping[int, int] | None = None,
) -> None:
    """Keep ``in_flight`` shards on the cluster; emit each shard's lines as it returns."""
    running: dict[asyncio.Task[list[dict[str, Any]]], tuple[Any, list[InputRow]]] = {}
    retry: list[list[InputRow]] = []  # halves of shards that kept killing workers
    numbers = itertools.count(1)

    async def result(future: Any) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = await future
        return lines

    def submit(shard: list[InputRow]) -> None:
        key = f"agentmap-shard-{plan.token}-{next(numbers)}"
        if waiting:
            mine = {row.row: waiting[row.row] for row in shard if row.row in waiting}
            future = client.submit(run_shard, factory, job, shard, plan, key, mine, key=key)
        else:  # the task as before durable batches: nothing to look up
            future = client.submit(run_shard, factory, job, shard, plan, key, key=key)
        running[asyncio.ensure_future(result(future))] = (future, shard)

    def fill() -> None:
        while len(running) < in_flight:
            shard = retry.pop() if retry else next(shards, None)
            if shard is None:
                return
            submit(shard)

    try:
        fill()
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                _, shard = running.pop(task)
                span = f"rows {shard[0].row}-{shard[-1].row}"
                if task.cancelled():
                    raise BatchError(f"the Dask cluster cancelled the shard of {span}")
                exc = task.exception()
                if isinstance(exc, distributed.KilledWorker):
                    if len(shard) == 1:
                        emit(_killed_line(shard[0], exc, job))
                    else:
                        half = len(shard) // 2
                        retry.extend((shard[half:], shard[:half]))
                elif exc is not None:
                    raise BatchError(
                        f"the shard of {span} failed on the Dask cluster: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                else:
                    for line in task.result():
                        emit(line)
            fill()
    finally:
        # Ctrl-C, a failed shard or a failed emit(): nothing may keep running for us.
        for task in running:
            task.cancel()
        if running:
            with suppress(Exception):
                await client.cancel([future for future, _ in running.values()])
            await asyncio.wait(running)
