"""``run_batch``: one workflow over every row of an input file, into a results file.

This module ties the pieces together: it loads the workflow through the
application (so the environment's services and overrides apply), identifies
the job, resumes from what the output already holds, then hands the remaining
rows to an executor (``local``: asyncio in this process; ``dask``: shards on a
cluster) and records every result line as it arrives.

It never imports the container: the caller passes an ``Application`` (or a
zero-argument factory of one, which the Dask executor sends to its workers).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar

from agentmap.batch.errors import BatchError
from agentmap.batch.inputs import InputRow, input_format, read_rows, scan_inputs
from agentmap.batch.local import run_rows
from agentmap.batch.output import JobIdentity, ResultWriter, RowSet, resume_output
from agentmap.batch.progress import ProgressReporter, progress_for
from agentmap.batch.results import default_fields
from agentmap.batch.summary import BatchSummary, write_summary

if TYPE_CHECKING:
    from agentmap.runtime.runner import GraphRunner
    from agentmap.settings import AgentMapSettings
    from agentmap.workflow.spec import GraphSpec, WorkflowSpec

__all__ = ["BatchApplication", "BatchJob", "arun_batch", "run_batch"]

P = ParamSpec("P")
T = TypeVar("T")

Executor = Literal["local", "dask"]


class BatchApplication(Protocol):
    """What a batch needs of ``containers.Application``: settings, loading, runners."""

    @property
    def settings(self) -> AgentMapSettings: ...

    def load(
        self, workflow: str | Path, graph: str | None = None
    ) -> tuple[WorkflowSpec, GraphSpec]: ...

    def runner(self, graph: GraphSpec) -> GraphRunner: ...


AppSource = BatchApplication | Callable[[], BatchApplication]


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A batch as resolved before it starts; picklable, so a Dask worker gets it whole."""

    workflow: str
    graph: str
    inputs: Path
    output: Path
    fields: tuple[str, ...]
    mapping: Mapping[str, str] = field(default_factory=dict)
    id_field: str | None = None
    concurrency: int = 16
    row_timeout: float | None = None
    #: The job's identity, written in every result line.
    tag: str = ""


def _is_application(app: AppSource) -> bool:
    """An Application itself, rather than a factory of one."""
    return hasattr(app, "load") and hasattr(app, "runner")


def _application(app: AppSource) -> BatchApplication:
    if _is_application(app):
        return app  # type: ignore[return-value]
    if callable(app):
        return app()
    raise TypeError(f"app must be an Application or a function returning one, not {app!r}")


def _factory(app: AppSource) -> Callable[[], BatchApplication]:
    """A picklable way to build the application again, on another machine."""
    if not _is_application(app):
        return app  # type: ignore[return-value]
    factory = getattr(app, "factory", None)
    if factory is None:
        raise BatchError(
            "executor='dask' needs a picklable application factory: pass "
            "functools.partial(create_application, 'production') instead of an Application"
        )
    return factory  # type: ignore[no-any-return]


def _check_options(
    inputs: Path,
    output: Path,
    concurrency: int,
    row_timeout: float | None,
    executor: str,
    workers: int | None,
) -> None:
    if executor not in ("local", "dask"):
        raise BatchError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    input_format(inputs)
    if output.suffix.lower() not in (".jsonl", ".ndjson"):
        raise BatchError.naming(
            "{option[output]} {output}: results are JSON lines; name the file *.jsonl",
            output=output,
        )
    if inputs.exists() and output.exists() and os.path.samefile(inputs, output):
        raise BatchError.naming(
            "{option[output]} {output} is the inputs file; choose another file", output=output
        )
    if concurrency < 1:
        raise BatchError.naming(
            "{option[concurrency]} must be at least 1, got {got}", got=concurrency
        )
    if workers is not None and workers < 1:
        raise BatchError.naming("{option[workers]} must be at least 1, got {got}", got=workers)
    if row_timeout is not None and row_timeout <= 0:
        raise BatchError.naming(
            "{option[row_timeout]} must be a positive number of seconds, got {got}",
            got=row_timeout,
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A batch as decided before its output is touched."""

    job: BatchJob
    identity: JobIdentity
    graph: GraphSpec
    #: Rows in the inputs file.
    rows: int


def _plan(
    application: BatchApplication,
    workflow: str | Path,
    inputs: Path,
    output: Path,
    *,
    graph: str | None,
    fields: Sequence[str] | None,
    mapping: Mapping[str, str],
    id_field: str | None,
    concurrency: int,
    row_timeout: float | None,
) -> _Plan:
    """Load the workflow and read the inputs once, to identify the job."""
    workflow_spec, chosen = application.load(workflow, graph)
    scan = scan_inputs(inputs)
    identity = JobIdentity.of(
        workflow_file=workflow_spec.file,
        graph=chosen.name,
        fields=fields,
        inputs_sha256=scan.sha256,
        mapping=mapping,
        id_field=id_field,
    )
    job = BatchJob(
        workflow=str(workflow_spec.file),
        graph=chosen.name,
        inputs=inputs,
        output=output,
        fields=tuple(fields) if fields else default_fields(chosen),
        mapping=mapping,
        id_field=id_field,
        concurrency=concurrency,
        row_timeout=row_timeout,
        tag=identity.tag,
    )
    return _Plan(job, identity, chosen, scan.rows)


Emit = Callable[[dict[str, Any]], None]
#: Runs the rows not yet done (``rows``, ``emit``, ``skip``), each to one result line.
Execute = Callable[[Iterator[InputRow], Emit, RowSet], Awaitable[None]]


def _executor(
    app: AppSource,
    application: BatchApplication,
    plan: _Plan,
    executor: Executor,
    scheduler: str | None,
    workers: int | None,
) -> Execute:
    """How the rows will run: in this event loop, or in shards on a Dask cluster.

    Called before the output is touched: an agent that cannot be built stops
    the batch with its error and leaves no empty output file behind.
    """
    job = plan.job
    if executor == "local":
        runner = application.runner(plan.graph)

        async def local(rows: Iterator[InputRow], emit: Emit, skip: RowSet) -> None:
            await run_rows(
                runner,
                rows,
                emit,
                fields=job.fields,
                job=job.tag,
                concurrency=job.concurrency,
                row_timeout=job.row_timeout,
                skip=skip,
            )

        return local
    factory = _factory(app)
    settings = application.settings

    async def dask(rows: Iterator[InputRow], emit: Emit, skip: RowSet) -> None:
        from agentmap.batch.dask import run_on_dask

        await run_on_dask(
            factory,
            job,
            rows,
            emit,
            skip=skip,
            scheduler=scheduler,
            workers=workers,
            shard_size=settings.batch.shard_size,
            settings=settings,
        )

    return dask


class _Recorder:
    """Takes each result line: appends it to the output, counts it, shows progress."""

    def __init__(
        self, output: Path, summary: BatchSummary, reporter: ProgressReporter | None
    ) -> None:
        self.summary = summary
        self.reporter = reporter
        self.writer = ResultWriter(output)

    def emit(self, line: dict[str, Any]) -> None:
        self.writer.write(line)
        self.summary.add(line)
        if self.reporter is not None:
            self.reporter.update(self.summary)

    def close(self, summary_file: str | Path | None) -> None:
        """Close the output and finish the summary, however the batch ended."""
        self.writer.close()
        summary = self.summary
        summary.finish()
        summary.interrupted = summary.done < summary.total
        if self.reporter is not None:
            self.reporter.close(summary)
        if summary_file is not None:
            write_summary(Path(summary_file), summary)


def _reporter(progress: ProgressReporter | bool, interval: float) -> ProgressReporter | None:
    if isinstance(progress, bool):
        return progress_for(interval=interval, enabled=progress)
    return progress


async def arun_batch(
    app: AppSource,
    workflow: str | Path,
    inputs: str | Path,
    output: str | Path,
    *,
    graph: str | None = None,
    fields: Sequence[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    id_field: str | None = None,
    concurrency: int | None = None,
    row_timeout: float | None = None,
    force: bool = False,
    executor: Executor = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: ProgressReporter | bool = False,
    summary_file: str | Path | None = None,
) -> BatchSummary:
    """Run ``workflow`` once per row of ``inputs``; append one result line per row to ``output``.

    Rerunning the same call after an interruption runs only the rows that
    ``output`` does not hold yet. See docs/batch.md for every option.
    """
    application = _application(app)
    settings = application.settings.batch
    inputs, output = Path(inputs), Path(output)
    concurrency = settings.concurrency if concurrency is None else concurrency
    row_timeout = settings.row_timeout if row_timeout is None else row_timeout
    _check_options(inputs, output, concurrency, row_timeout, executor, workers)
    plan = _plan(
        application,
        workflow,
        inputs,
        output,
        graph=graph,
        fields=fields,
        mapping=dict(mapping or {}),
        id_field=id_field,
        concurrency=concurrency,
        row_timeout=row_timeout,
    )
    execute = _executor(app, application, plan, executor, scheduler, workers)
    summary = BatchSummary(plan.rows)
    done = resume_output(
        output, plan.identity, force=force, seen=lambda line: summary.add(line, resumed=True)
    )
    recorder = _Recorder(output, summary, _reporter(progress, settings.progress_interval))
    try:
        await execute(read_rows(inputs, plan.job.mapping, id_field), recorder.emit, done)
    finally:
        recorder.close(summary_file)
    return summary


def _sync_facade(
    coroutine_function: Callable[P, Coroutine[Any, Any, T]], name: str
) -> Callable[P, T]:
    """A blocking twin of ``coroutine_function`` with the very same (typed) parameters.

    Written once through ``ParamSpec`` rather than by repeating the signature:
    mypy checks a caller of the twin against ``arun_batch``'s parameters, and
    ``inspect.signature`` (help(), IDEs) follows ``__wrapped__`` to them.
    """

    @functools.wraps(coroutine_function)
    def facade(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine_function(*args, **kwargs))
        raise RuntimeError(
            f"{name}() was called inside an event loop; use await {coroutine_function.__name__}()"
        )

    facade.__name__ = facade.__qualname__ = name
    facade.__doc__ = (
        f"Synchronous facade over ``{coroutine_function.__name__}`` (the same parameters), "
        "for scripts."
    )
    return facade


#: ``arun_batch`` for scripts: blocks until the batch is done (not inside an event loop).
run_batch = _sync_facade(arun_batch, "run_batch")
