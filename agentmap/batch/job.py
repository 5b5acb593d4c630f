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
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agentmap.batch.errors import BatchError
from agentmap.batch.inputs import input_format, read_rows, scan_inputs
from agentmap.batch.local import run_rows
from agentmap.batch.output import JobIdentity, ResultWriter, resume_output
from agentmap.batch.progress import ProgressReporter, progress_for
from agentmap.batch.results import default_fields
from agentmap.batch.summary import BatchSummary

if TYPE_CHECKING:
    from agentmap.runtime.runner import GraphRunner
    from agentmap.settings import AgentMapSettings
    from agentmap.workflow.spec import GraphSpec, WorkflowSpec

__all__ = ["BatchApplication", "BatchJob", "arun_batch", "run_batch"]

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
            "--executor dask needs a picklable application factory: pass "
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
        raise BatchError(f"--output {output}: results are JSON lines; name the file *.jsonl")
    if inputs.exists() and output.exists() and os.path.samefile(inputs, output):
        raise BatchError(f"--output {output} is the inputs file; choose another file")
    if concurrency < 1:
        raise BatchError(f"--concurrency must be at least 1, got {concurrency}")
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1, got {workers}")
    if row_timeout is not None and row_timeout <= 0:
        raise BatchError(f"--row-timeout must be a positive number of seconds, got {row_timeout}")


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
    concurrency = concurrency if concurrency is not None else settings.concurrency
    row_timeout = row_timeout if row_timeout is not None else settings.row_timeout
    _check_options(inputs, output, concurrency, row_timeout, executor, workers)
    workflow_spec, chosen = application.load(workflow, graph)
    mapping = dict(mapping or {})
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
    # Built before the output is touched: an agent that cannot be built stops the
    # batch with its error and leaves no empty output file behind.
    runner = application.runner(chosen) if executor == "local" else None
    summary = BatchSummary(scan.rows)
    done = resume_output(
        output, identity, force=force, seen=lambda line: summary.add(line, resumed=True)
    )
    reporter: ProgressReporter | None
    if isinstance(progress, bool):
        reporter = progress_for(interval=settings.progress_interval, enabled=progress)
    else:
        reporter = progress

    writer = ResultWriter(output)

    def emit(line: dict[str, Any]) -> None:
        writer.write(line)
        summary.add(line)
        if reporter is not None:
            reporter.update(summary)

    rows = read_rows(inputs, mapping, id_field)
    try:
        if runner is not None:
            await run_rows(
                runner,
                rows,
                emit,
                fields=job.fields,
                job=job.tag,
                concurrency=concurrency,
                row_timeout=row_timeout,
                skip=done,
            )
        elif executor == "dask":
            from agentmap.batch.dask import run_on_dask

            await run_on_dask(
                _factory(app),
                job,
                rows,
                emit,
                skip=done,
                scheduler=scheduler,
                workers=workers,
                shard_size=settings.shard_size,
                settings=application.settings,
            )
        else:
            raise BatchError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    finally:
        writer.close()
        summary.finish()
        summary.interrupted = summary.done < summary.total
        if reporter is not None:
            reporter.close(summary)
        if summary_file is not None:
            write_summary(Path(summary_file), summary)
    return summary


def write_summary(path: Path, summary: BatchSummary) -> None:
    """Write the summary as JSON, atomically: a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise BatchError(f"cannot write --summary {path}: {exc.strerror or exc}") from None


def run_batch(
    app: AppSource, workflow: str | Path, inputs: str | Path, output: str | Path, **options: Any
) -> BatchSummary:
    """Synchronous facade over ``arun_batch`` (same arguments), for scripts."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_batch(app, workflow, inputs, output, **options))
    raise RuntimeError("run_batch() was called inside an event loop; use await arun_batch()")
