"""``run_batch``: one workflow over every row of an input file, into a results file.

This module ties the pieces together: it loads the workflow through the
application (so the environment's services and overrides apply), identifies
the job, resumes from what the output already holds, then hands the remaining
rows to an executor (``local``: asyncio in this process; ``dask``: shards on a
cluster) and records every result line as it arrives.

It never imports the container: the caller passes an ``Application`` (or a
zero-argument factory of one, which the Dask executor sends to its workers).

With a durable state backend each row's run gets a run id the next attempt
computes again (``BatchJob.runs``), so rows that were interrupted or
suspended go on from the store rather than start over (agentmap/batch/durable.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from agentmap.batch.durable import is_durable, runs_prefix
from agentmap.batch.errors import BatchError
from agentmap.batch.executors import Execute, Executor, Todo, is_application, prepare
from agentmap.batch.inputs import input_format, read_rows, scan_inputs
from agentmap.batch.output import JobIdentity, ResultWriter, resume_output
from agentmap.batch.progress import ProgressReporter, progress_for
from agentmap.batch.results import default_fields
from agentmap.batch.summary import BatchSummary, write_summary
from agentmap.runtime.runner import closing

if TYPE_CHECKING:
    from agentmap.runtime.runner import GraphRunner
    from agentmap.settings import AgentMapSettings
    from agentmap.workflow.spec import GraphSpec, WorkflowSpec

__all__ = ["BatchApplication", "BatchJob", "arun_batch", "run_batch"]

P = ParamSpec("P")
T = TypeVar("T")

#: Set by ``run_batch``, which owns its event loop: the batch closes the state store in
#: it (a postgres pool belongs to its loop). ``arun_batch`` leaves the store to the owner
#: of the loop, whose other runs may still use it.
_OWNS_LOOP: ContextVar[bool] = ContextVar("agentmap_batch_owns_loop", default=False)


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
    #: With a durable state backend: the prefix of each row's run id (``<runs>-<row>``).
    runs: str | None = None
    #: When the output was started anew (it did not exist, or ``force`` set it aside),
    #: epoch seconds: runs stored before are an earlier batch's and are replaced.
    fresh_since: float | None = None


def _application(app: AppSource) -> BatchApplication:
    if is_application(app):
        return app  # type: ignore[return-value]
    if callable(app):
        return app()
    raise TypeError(f"app must be an Application or a function returning one, not {app!r}")


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
    durable: bool,
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
        runs=runs_prefix(identity.tag, output) if durable else None,
    )
    return _Plan(job, identity, chosen, scan.rows)


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
        summary.interrupted = summary.done + summary.suspended < summary.total
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
    ``output`` does not hold yet; with a durable state backend, an interrupted
    row's run goes on from its checkpoints and a suspended row's line is
    completed once its run was resumed. See docs/batch.md for every option.
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
        durable=is_durable(application.settings),
    )
    execute, store = await prepare(
        app, application, plan.job, plan.graph, executor, scheduler, workers
    )
    reporter = _reporter(progress, settings.progress_interval)
    if store is None or not _OWNS_LOOP.get():
        return await _execute(plan, execute, force, reporter, summary_file)
    return await closing(_execute(plan, execute, force, reporter, summary_file), store)


async def _execute(
    plan: _Plan,
    execute: Execute,
    force: bool,
    reporter: ProgressReporter | None,
    summary_file: str | Path | None,
) -> BatchSummary:
    """Read what the output holds, then run the rest into it."""
    output = plan.job.output
    summary = BatchSummary(plan.rows)
    waiting: dict[int, int] = {}
    done = resume_output(
        output,
        plan.identity,
        force=force,
        seen=lambda line: summary.add(line, resumed=True),
        waiting=waiting,
    )
    # A file that is not there (never written, deleted, or set aside by force) starts over.
    job = replace(plan.job, fresh_since=None if output.exists() else time.time())
    todo = Todo(done, waiting, summary.note)
    recorder = _Recorder(output, summary, reporter)
    try:
        rows = read_rows(job.inputs, job.mapping, job.id_field)
        await execute(job, rows, recorder.emit, todo)
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
            owner = _OWNS_LOOP.set(True)  # the loop's main task copies this context
            try:
                return asyncio.run(coroutine_function(*args, **kwargs))
            finally:
                _OWNS_LOOP.reset(owner)
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
