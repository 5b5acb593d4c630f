"""The asyncio batch executor: rows through one runner, ``concurrency`` at a time.

This is the engine of every batch, local or distributed (a Dask worker runs it
over its shard). Rows are pulled from the iterator only when a slot is free, so
memory holds ``concurrency`` rows however long the input. Each row reports its
result line through ``emit`` the moment it finishes; a row that fails, raises
or times out becomes a failed line and never stops the others. Cancelling the
coroutine (Ctrl-C) cancels the rows in flight and waits for them, so no task
outlives the batch and no half-finished row is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from agentmap.batch.inputs import InputRow
from agentmap.batch.output import RowSet
from agentmap.batch.results import failed_result, run_result
from agentmap.runtime.result import RunResult

__all__ = ["RowRunner", "rows_to_run", "run_rows"]


class RowRunner(Protocol):
    """What runs one row: a ``GraphRunner``."""

    async def arun(self, state: Mapping[str, Any] | None = None) -> RunResult: ...


def rows_to_run(
    rows: Iterable[InputRow],
    emit: Callable[[dict[str, Any]], None],
    job: str,
    skip: RowSet | None = None,
) -> Iterator[InputRow]:
    """The rows that still need a run, for every executor.

    Rows in ``skip`` (already in the output) are left out; an unreadable row
    needs no run either: its failed line is emitted here, as it is reached.
    """
    for row in rows:
        if skip is not None and row.row in skip:
            continue
        if row.state is None:
            emit(failed_result(row, row.error or "unreadable row", 0.0, job))
            continue
        yield row


async def run_rows(
    runner: RowRunner,
    rows: Iterable[InputRow],
    emit: Callable[[dict[str, Any]], None],
    *,
    fields: Sequence[str],
    job: str,
    concurrency: int,
    row_timeout: float | None = None,
    skip: RowSet | None = None,
) -> None:
    """Run every row not in ``skip``; ``emit`` each result line as its row finishes."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []

    async def one(row: InputRow) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(row_timeout) as scope:
                result = await runner.arun(row.state)
        except TimeoutError as exc:
            error = (
                f"row timed out after {row_timeout:g} s (row_timeout)"
                if scope.expired()
                else f"{type(exc).__name__}: {exc}"
            )
            line = failed_result(row, error, time.perf_counter() - started, job)
        except Exception as exc:  # a bug in an agent or service: this row fails, not the batch
            line = failed_result(
                row, f"{type(exc).__name__}: {exc}", time.perf_counter() - started, job
            )
        else:
            line = run_result(row, result, fields, time.perf_counter() - started, job)
        emit(line)

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None:
            failure.append(task.exception())  # type: ignore[arg-type]

    try:
        for row in rows_to_run(rows, emit, job, skip):
            await slots.acquire()
            if failure:
                break
            task = asyncio.create_task(one(row))
            running.add(task)
            task.add_done_callback(finished)
        while running:
            await asyncio.wait(set(running))
    except BaseException:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(set(running))
        raise
    if failure:
        # emit() itself failed (the output disk is full, say): stop, and say why.
        raise failure[0]
