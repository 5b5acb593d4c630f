"""``agentmap batch``: a workflow over every row of a JSONL or CSV file.

Like main.py, this module imports only typer at load time (``agentmap --help``
must stay fast); the batch engine and the container load when the command runs.
Exit status: 0 every row completed, 1 some rows failed, 2 the batch could not
start (bad options, inputs or output), 130 interrupted (rerun to resume).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agentmap.batch.summary import BatchSummary

__all__ = ["batch"]


class ExecutorName(StrEnum):
    local = "local"
    dask = "dask"


def _mapping(values: list[str] | None) -> dict[str, str]:
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


class _Captured:
    """Wraps the progress reporter to keep the final summary, even when the batch is cut short."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.summary: BatchSummary | None = None

    def update(self, summary: BatchSummary) -> None:
        if self.inner is not None:
            self.inner.update(summary)

    def close(self, summary: BatchSummary) -> None:
        self.summary = summary
        if self.inner is not None:
            self.inner.close(summary)


def batch(
    workflow: Annotated[str, typer.Argument(help="CSV file, optionally file.csv::Graph.")],
    inputs: Annotated[
        Path, typer.Option("--inputs", "-i", help="Rows: a .jsonl (JSON objects) or .csv file.")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Results, one JSON line per row (appended)."),
    ],
    graph: Annotated[
        str | None, typer.Option("--graph", "-g", help="Graph to use when the CSV holds several.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=column: put an input column in under another name."),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="State fields to keep in each result (a,b); default: "
            "every field the workflow's nodes write.",
        ),
    ] = None,
    id_field: Annotated[
        str | None, typer.Option("--id-field", help="Input column copied as each result's id.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", help="Rows in flight at once (batch.concurrency)."),
    ] = None,
    row_timeout: Annotated[
        float | None,
        typer.Option("--row-timeout", help="Seconds before a row is recorded as failed."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start over when the output holds another job's results "
            "(the old file is kept as OUTPUT.bak).",
        ),
    ] = False,
    executor: Annotated[
        ExecutorName,
        typer.Option(
            "--executor",
            help="local: asyncio in this process; dask: shards on a "
            "Dask cluster (pip install 'agentmap\\[dask]').",
        ),
    ] = ExecutorName.local,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address; default: start a local cluster."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes of the local Dask cluster (default 2); with "
            "--scheduler, how many workers to wait for before starting.",
        ),
    ] = None,
    summary_file: Annotated[
        Path | None, typer.Option("--summary", help="Also write the summary as JSON to this file.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
    ] = True,
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="Environment preset (config/<env>.yaml)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a workflow once per input row; append one JSON result line per row to --output.

    Rerun the same command after a crash or Ctrl-C: rows already in the output are skipped.
    """
    from agentmap.cli.main import _application, _fail, _guard, _names

    captured = _Captured(None)

    def execute() -> BatchSummary:
        import asyncio

        from agentmap.batch.job import arun_batch
        from agentmap.batch.progress import progress_for

        with _application(env) as application:
            interval = application.settings.batch.progress_interval
            captured.inner = progress_for(interval=interval, enabled=progress)
            coroutine = arun_batch(
                application,
                workflow,
                inputs,
                output,
                graph=graph,
                fields=_names([fields]) if fields else None,
                mapping=_mapping(mapping),
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
            result: BatchSummary = asyncio.run(_terminate_on_sigterm(coroutine))
            return result

    import asyncio

    try:
        summary = _guard(execute)
    except (KeyboardInterrupt, asyncio.CancelledError):
        from agentmap.cli.batch_output import print_summary

        if captured.summary is not None:
            print_summary(captured.summary, as_json=json_output)
        _fail(
            f"interrupted: rows in flight were cancelled; {output} holds every finished row. "
            "Rerun the same command to run only the rest",
            130,
        )
    from agentmap.cli.batch_output import print_summary

    print_summary(summary, as_json=json_output)
    raise typer.Exit(0 if summary.failed == 0 else 1)


async def _terminate_on_sigterm(coroutine: Any) -> Any:
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
