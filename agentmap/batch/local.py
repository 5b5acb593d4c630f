"""The asyncio batch executor: rows through one runner, ``concurrency`` at a time.

This is the engine of every batch, local or distributed (a Dask worker runs it
over its shard). Rows are pulled from the iterator only when a slot is free, so
memory holds ``concurrency`` rows however long the input. Each row reports its
result line through ``emit`` the moment it finishes; a row that fails, raises
or times out becomes a failed line and never stops the others. Cancelling the
coroutine (Ctrl-C) cancels the rows in flight and waits for them, so no task
outlives the batch and no half-finished row is reported.

With ``durable`` (a ``DurableRows``: runs are stored, see durable.py) a row
runs under its deterministic run id, and a row without a final line is first
looked up in the state store; rows whose line is ``suspended`` (``waiting``)
are looked at too, and get a new line only when their run moved on. A state
store that fails (``StateBackendError`` raised out of a run) stops the batch
like an output error: a row must not be recorded as failed because the store
was down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from agentmap.batch.durable import DurableRows
from agentmap.batch.inputs import InputRow
from agentmap.batch.output import RowSet
from agentmap.batch.results import failed_result, run_result
from agentmap.errors import StateBackendError
from agentmap.runtime.events import current_batch
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
    waiting: Mapping[int, int] | None = None,
    *,
    durable: bool = False,
) -> Iterator[InputRow]:
    """The rows that still need a run, for every executor.

    Rows in ``skip`` (already in the output) are left out; an unreadable row
    needs no run either: its failed line is emitted here, as it is reached.
    A suspended row (in ``waiting``) is looked at again only when ``durable``:
    without a state store that outlives the batch its run is gone.
    """
    for row in rows:
        if skip is not None and row.row in skip:
            continue
        if waiting and row.row in waiting and not durable:
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
    durable: DurableRows | None = None,
    waiting: Mapping[int, int] | None = None,
) -> None:
    """Run every row not in ``skip``; ``emit`` each result line as its row finishes.

    ``waiting``: suspended rows (row -> ``waiting_digest``), looked at again
    only with ``durable``.
    """
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []

    async def one(row: InputRow) -> None:
        current_batch.set((job, row.row))  # this task's own context: trackers tag the run
        started = time.perf_counter()
        run_id = durable.run_id(row.row) if durable is not None else None
        line: dict[str, Any] | None
        try:
            async with asyncio.timeout(row_timeout) as scope:
                if durable is None:
                    result = await runner.arun(row.state)
                    line = _memory_line(row, result, fields, started, job)
                else:
                    at = waiting.get(row.row) if waiting else None
                    line = await durable.line(row, at, started)
        except TimeoutError as exc:
            error = (
                f"row timed out after {row_timeout:g} s (row_timeout)"
                if scope.expired()
                else f"{type(exc).__name__}: {exc}"
            )
            line = failed_result(row, error, time.perf_counter() - started, job, run_id=run_id)
        except StateBackendError:
            raise  # the store, not the row: stop the batch (rerun to resume)
        except Exception as exc:  # a bug in an agent or service: this row fails, not the batch
            line = failed_result(
                row,
                f"{type(exc).__name__}: {exc}",
                time.perf_counter() - started,
                job,
                run_id=run_id,
            )
        if line is not None:
            emit(line)

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None:
            failure.append(task.exception())  # type: ignore[arg-type]

    try:
        for row in rows_to_run(rows, emit, job, skip, waiting, durable=durable is not None):
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


def _memory_line(
    row: InputRow, result: RunResult, fields: Sequence[str], started: float, job: str
) -> dict[str, Any]:
    """A row's line when runs are not stored: a suspended run is lost with the batch.

    So it is a failed row, saying how to make it resumable, rather than a
    ``suspended`` line that nothing could ever go on with.
    """
    duration = time.perf_counter() - started
    waiting = result.waiting
    if result.status != "suspended" or waiting is None:
        return run_result(row, result, fields, duration, job)
    asked = f" ({waiting.question})" if waiting.question else ""
    line = run_result(row, result, fields, duration, job)
    del line["waiting"]
    line.update(
        status="failed",
        error=(
            f"suspended at node {waiting.node!r}{asked}, but runs are not stored "
            "(state.backend: memory), so the run ends with the batch; set state.backend "
            "to sqlite or postgres to resume suspended rows"
        ),
        failed_node=waiting.node,
    )
    return line
