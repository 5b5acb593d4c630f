"""``agentmap batch``: a workflow over every row of a JSONL or CSV file.

Like main.py, this module imports only typer at load time (``agentmap --help``
must stay fast); the batch engine and the container load when the command runs.
Exit status: 0 every row completed (or is suspended, waiting for a person),
1 some rows failed, 2 the batch could not start (bad options, inputs or
output), 130 interrupted (rerun to resume).
"""

from __future__ import annotations

from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from agentmap.cli.common import (
    EnvOption,
    GraphOption,
    WorkflowArgument,
    fail,
    guard,
    open_application,
    split_names,
)

if TYPE_CHECKING:
    from agentmap.batch.progress import ProgressReporter
    from agentmap.batch.summary import BatchSummary
    from agentmap.errors import AgentMapError

__all__ = ["FLAGS", "batch", "error_message", "parse_mapping"]

T = TypeVar("T")


class ExecutorName(StrEnum):
    local = "local"
    dask = "dask"


#: The flag of each ``run_batch`` parameter that is an option here: the library's
#: errors name the parameter, the command's the flag.
FLAGS = {
    "inputs": "--inputs",
    "output": "--output",
    "graph": "--graph",
    "mapping": "--map",
    "fields": "--fields",
    "id_field": "--id-field",
    "concurrency": "--concurrency",
    "row_timeout": "--row-timeout",
    "force": "--force",
    "executor": "--executor",
    "scheduler": "--scheduler",
    "workers": "--workers",
    "summary_file": "--summary",
    "progress": "--progress",
}

InputsOption = Annotated[
    Path, typer.Option("--inputs", "-i", help="Rows: a .jsonl (JSON objects) or .csv file.")
]
OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Results, one JSON line per row (appended).")
]
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", help="field=column: put an input column in under another name."),
]
FieldsOption = Annotated[
    str | None,
    typer.Option(
        "--fields",
        help="State fields to keep in each result (a,b); default: "
        "every field the workflow's nodes write.",
    ),
]
IdFieldOption = Annotated[
    str | None, typer.Option("--id-field", help="Input column copied as each result's id.")
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option("--concurrency", "-c", help="Rows in flight at once (batch.concurrency)."),
]
RowTimeoutOption = Annotated[
    float | None,
    typer.Option("--row-timeout", help="Seconds before a row is recorded as failed."),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Start over when the output holds another job's results "
        "(the old file is kept as OUTPUT.bak).",
    ),
]
ExecutorOption = Annotated[
    ExecutorName,
    typer.Option(
        "--executor",
        help="local: asyncio in this process; dask: shards on a "
        "Dask cluster (pip install 'agentmap\\[dask]').",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address; default: start a local cluster."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Worker processes of the local Dask cluster (default 2); with "
        "--scheduler, how many workers to wait for before starting.",
    ),
]
SummaryOption = Annotated[
    Path | None, typer.Option("--summary", help="Also write the summary as JSON to this file.")
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def batch(
    workflow: WorkflowArgument,
    inputs: InputsOption,
    output: OutputOption,
    graph: GraphOption = None,
    mapping: MapOption = None,
    fields: FieldsOption = None,
    id_field: IdFieldOption = None,
    concurrency: ConcurrencyOption = None,
    row_timeout: RowTimeoutOption = None,
    force: ForceOption = False,
    executor: ExecutorOption = ExecutorName.local,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    summary_file: SummaryOption = None,
    progress: ProgressOption = True,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a workflow once per input row; append one JSON result line per row to --output.

    Rerun the same command after a crash or Ctrl-C: rows already in the output are skipped.
    With state.backend sqlite or postgres, interrupted rows resume from their checkpoints
    and suspended rows get their final line once `agentmap resume` finished their runs.
    """
    import asyncio

    captured = _Captured()

    def execute() -> BatchSummary:
        from agentmap.batch.job import arun_batch
        from agentmap.runtime.runner import closing

        with open_application(env) as application:
            captured.show(application.settings.batch.progress_interval, enabled=progress)
            batch_run = arun_batch(
                application,
                workflow,
                inputs,
                output,
                graph=graph,
                fields=split_names([fields]) if fields else None,
                mapping=parse_mapping(mapping),
                id_field=id_field,
                concurrency=concurrency,
                row_timeout=row_timeout,
                force=force,
                executor=executor.value,
                scheduler=scheduler,
                workers=workers,
                progress=captured,
                summary_file=summary_file,
            )
            return asyncio.run(closing(_terminate_on_sigterm(batch_run), application.state_store))

    try:
        summary = guard(execute, describe=error_message)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _interrupted(captured.summary, output, as_json=json_output)
    from agentmap.cli.batch_output import print_summary

    print_summary(summary, as_json=json_output, output=output, env=env)
    raise typer.Exit(0 if summary.failed == 0 else 1)


def parse_mapping(values: list[str] | None) -> dict[str, str]:
    """``["a=x,b=y", "c=z"]`` (``--map``, repeated or a list) -> ``{"a": "x", ...}``."""
    from agentmap.batch.errors import BatchError

    mapping: dict[str, str] = {}
    for value in values or ():
        for pair in value.split(","):
            if not pair.strip():
                continue
            field_name, sep, column = pair.partition("=")
            if not sep or not field_name.strip() or not column.strip():
                raise BatchError(f"--map {pair.strip()!r}: write field=column")
            mapping[field_name.strip()] = column.strip()
    return mapping


def error_message(error: AgentMapError) -> str:
    """The error's message, naming this command's flags where the library names parameters."""
    from agentmap.batch.errors import BatchError

    return error.spelled(FLAGS) if isinstance(error, BatchError) else str(error)


class _Captured:
    """Wraps the progress reporter to keep the final summary, even when the batch is cut short."""

    def __init__(self) -> None:
        self.inner: ProgressReporter | None = None
        self.summary: BatchSummary | None = None

    def show(self, interval: float, *, enabled: bool) -> None:
        """Show progress on stderr, every ``interval`` seconds where it cannot redraw a bar."""
        from agentmap.batch.progress import progress_for

        self.inner = progress_for(interval=interval, enabled=enabled)

    def update(self, summary: BatchSummary) -> None:
        if self.inner is not None:
            self.inner.update(summary)

    def close(self, summary: BatchSummary) -> None:
        self.summary = summary
        if self.inner is not None:
            self.inner.close(summary)


def _interrupted(summary: BatchSummary | None, output: Path, *, as_json: bool) -> NoReturn:
    """Ctrl-C or SIGTERM: the summary so far, then exit 130 with how to resume."""
    from agentmap.cli.batch_output import print_summary

    if summary is not None:
        print_summary(summary, as_json=as_json)
    fail(
        f"interrupted: rows in flight were cancelled; {output} holds every finished row. "
        "Rerun the same command to run only the rest",
        130,
    )


async def _terminate_on_sigterm(coroutine: Coroutine[Any, Any, T]) -> T:
    """SIGTERM (a job scheduler stopping us) ends the batch like Ctrl-C: cleanly."""
    import asyncio
    import contextlib
    import signal

    task = asyncio.ensure_future(coroutine)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
