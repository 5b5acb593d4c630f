"""Progress of a batch: a rich bar on a terminal, a plain line every few seconds elsewhere.

CI logs and files cannot show a redrawn bar, and a line per row would bury
them; so when stderr is not a terminal a line is printed every
``batch.progress_interval`` seconds, and once at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from agentmap.batch.summary import BatchSummary

__all__ = ["PlainProgress", "ProgressReporter", "RichProgress", "progress_for"]


class ProgressReporter(Protocol):
    def update(self, summary: BatchSummary) -> None:
        """Called after every row; cheap, because it is called a million times."""

    def close(self, summary: BatchSummary) -> None: ...


def _handled(summary: BatchSummary) -> int:
    """Rows with a line: done, or suspended (waiting for a person, nothing left to run now)."""
    return summary.done + summary.suspended


def _eta(summary: BatchSummary) -> str:
    rate = summary.rate()
    remaining = summary.total - _handled(summary)
    if rate <= 0 or remaining <= 0:
        return "-"
    seconds = int(remaining / rate)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class PlainProgress:
    """``batch: 1200/10000 rows (3 failed), 450.2 rows/s, ETA 0:00:19``, now and then."""

    def __init__(self, interval: float = 10.0, stream: TextIO | None = None) -> None:
        self.interval = interval
        self._stream = stream or sys.stderr
        self._next = time.monotonic() + interval

    def _line(self, summary: BatchSummary) -> str:
        waiting = f", {summary.suspended} suspended" if summary.suspended else ""
        return (
            f"batch: {_handled(summary)}/{summary.total} rows ({summary.failed} failed{waiting}), "
            f"{summary.rate():.1f} rows/s, ETA {_eta(summary)}"
        )

    def update(self, summary: BatchSummary) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            print(self._line(summary), file=self._stream, flush=True)

    def close(self, summary: BatchSummary) -> None:
        print(self._line(summary), file=self._stream, flush=True)


class RichProgress:
    """A live bar: rows done and failed, rate, ETA; redrawn at most ten times a second.

    The bar starts at the first update, when the row total is known: a batch
    that stops before its first row (a refused output, say) never leaves a
    live display behind on the terminal.
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            refresh_per_second=10,
        )
        self._task: Any = None
        self._shown = 0.0

    def update(self, summary: BatchSummary) -> None:
        now = time.monotonic()
        if self._task is None:
            self._task = self._progress.add_task(
                "rows", total=summary.total or None, completed=_handled(summary), failed=0, rate="-"
            )
            self._progress.start()
        elif now - self._shown < 0.1:
            return
        self._shown = now
        self._progress.update(
            self._task,
            completed=_handled(summary),
            failed=summary.failed,
            rate=f"{summary.rate():.1f}",
        )

    def close(self, summary: BatchSummary) -> None:
        self._shown = 0.0
        self.update(summary)
        self._progress.stop()


def progress_for(*, interval: float, enabled: bool = True) -> ProgressReporter | None:
    """The reporter for this process's stderr, or None when progress is off."""
    if not enabled:
        return None
    if sys.stderr.isatty():
        return RichProgress()
    return PlainProgress(interval)
