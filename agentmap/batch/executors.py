"""How a batch's rows run: in this event loop (``local``) or in shards on a Dask cluster.

``prepare`` is called before the output file is touched, so an agent that
cannot be built, or a durable state store that cannot be opened, stops the
batch with its error and leaves no empty output behind. It returns the
``Execute`` that runs the rows the output does not hold yet (a ``Todo``),
and the state store it opened (a durable batch looks rows up in it), which
the owner of the event loop closes in the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agentmap.batch.durable import DurableRows, Note
from agentmap.batch.errors import BatchError
from agentmap.batch.inputs import InputRow
from agentmap.batch.local import run_rows
from agentmap.batch.output import RowSet

if TYPE_CHECKING:
    from agentmap.batch.job import BatchApplication, BatchJob
    from agentmap.services.protocols import StateAdapterProtocol
    from agentmap.workflow.spec import GraphSpec

__all__ = ["Emit", "Execute", "Executor", "Todo", "is_application", "prepare"]

Executor = Literal["local", "dask"]
Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Todo:
    """What the output already holds, so the executor knows which rows to run or look at."""

    #: Rows with a completed or failed line: never run again.
    done: RowSet
    #: Rows whose latest line is suspended: row -> where it waits (``waiting_digest``).
    waiting: dict[int, int]
    #: Tells the summary about rows a durable batch left as they were.
    note: Note


#: Runs the rows not yet done of ``job``, each to one result line (or none: still suspended).
Execute = Callable[["BatchJob", Iterator[InputRow], Emit, Todo], Awaitable[None]]


def is_application(app: object) -> bool:
    """An Application itself, rather than a factory of one."""
    return hasattr(app, "load") and hasattr(app, "runner")


def _factory(app: Any) -> Callable[[], BatchApplication]:
    """A picklable way to build the application again, on another machine."""
    if not is_application(app):
        return app  # type: ignore[no-any-return]
    factory = getattr(app, "factory", None)
    if factory is None:
        raise BatchError(
            "executor='dask' needs a picklable application factory: pass "
            "functools.partial(create_application, 'production') instead of an Application"
        )
    return factory  # type: ignore[no-any-return]


async def prepare(
    app: Any,
    application: BatchApplication,
    job: BatchJob,
    graph: GraphSpec,
    executor: Executor,
    scheduler: str | None,
    workers: int | None,
) -> tuple[Execute, StateAdapterProtocol | None]:
    """The executor of the rows, and the state store opened for a durable ``job``.

    ``app`` is what the caller passed (an Application or a factory of one):
    the Dask executor sends a factory to its workers.
    """
    if executor == "local":
        runner = application.runner(graph)
        store = runner.state_adapter if job.runs is not None else None
        if store is not None:
            await store.open()

        async def local(job: BatchJob, rows: Iterator[InputRow], emit: Emit, todo: Todo) -> None:
            durable = None
            if job.runs is not None:
                durable = DurableRows(
                    runner,
                    job.runs,
                    fields=job.fields,
                    job=job.tag,
                    fresh_since=job.fresh_since,
                    once=True,
                    note=todo.note,
                )
            await run_rows(
                runner,
                rows,
                emit,
                fields=job.fields,
                job=job.tag,
                concurrency=job.concurrency,
                row_timeout=job.row_timeout,
                skip=todo.done,
                durable=durable,
                waiting=todo.waiting,
            )

        return local, store
    factory = _factory(app)
    settings = application.settings
    # The workers open their own; the client opens it to fail early, and for nothing else.
    store = getattr(application, "state_store", None) if job.runs is not None else None
    if store is not None:
        await store.open()

    async def dask(job: BatchJob, rows: Iterator[InputRow], emit: Emit, todo: Todo) -> None:
        from agentmap.batch.dask import run_on_dask

        await run_on_dask(
            factory,
            job,
            rows,
            emit,
            skip=todo.done,
            waiting=todo.waiting,
            scheduler=scheduler,
            workers=workers,
            shard_size=settings.batch.shard_size,
            settings=settings,
        )

    return dask, store
