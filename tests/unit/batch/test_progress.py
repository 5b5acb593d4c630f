"""Plain progress lines: a line every interval, and one at the end."""

from __future__ import annotations

import io

import pytest

from agentmap.batch.progress import PlainProgress, progress_for
from agentmap.batch.summary import BatchSummary


def summary_of(total: int, completed: int, failed: int, *, wall: float = 0.0) -> BatchSummary:
    summary = BatchSummary(total)
    for _ in range(completed):
        summary.add({"status": "completed", "duration": 0.1})
    for _ in range(failed):
        summary.add({"status": "failed", "error": "x", "duration": 0.1})
    summary.wall = wall
    return summary


def test_line_shows_done_total_failed_rate_and_eta() -> None:
    stream = io.StringIO()
    summary = summary_of(10, 3, 1, wall=2.0)  # 2 rows/s, 6 left
    PlainProgress(interval=60, stream=stream).close(summary)
    assert stream.getvalue() == "batch: 4/10 rows (1 failed), 2.0 rows/s, ETA 0:00:03\n"


def test_eta_counts_hours_and_minutes() -> None:
    stream = io.StringIO()
    summary = summary_of(7_201, 1, 0, wall=1.0)  # 1 row/s, 7200 left
    PlainProgress(stream=stream).close(summary)
    assert stream.getvalue().endswith("ETA 2:00:00\n")
    stream = io.StringIO()
    summary = summary_of(3_727, 2, 0, wall=2.0)  # 3725 s = 1:02:05
    PlainProgress(stream=stream).close(summary)
    assert stream.getvalue().endswith("ETA 1:02:05\n")


def test_eta_is_a_dash_when_done_or_nothing_ran() -> None:
    stream = io.StringIO()
    PlainProgress(stream=stream).close(summary_of(2, 2, 0, wall=1.0))
    PlainProgress(stream=stream).close(summary_of(5, 0, 0, wall=1.0))
    assert stream.getvalue().splitlines() == [
        "batch: 2/2 rows (0 failed), 2.0 rows/s, ETA -",
        "batch: 0/5 rows (0 failed), 0.0 rows/s, ETA -",
    ]


def test_resumed_rows_count_as_done_but_not_in_the_rate() -> None:
    summary = BatchSummary(10)
    for _ in range(5):
        summary.add({"status": "completed", "duration": 0.1}, resumed=True)
    summary.add({"status": "completed", "duration": 0.1})
    summary.wall = 1.0
    stream = io.StringIO()
    PlainProgress(stream=stream).close(summary)
    assert stream.getvalue() == "batch: 6/10 rows (0 failed), 1.0 rows/s, ETA 0:00:04\n"


def test_update_prints_nothing_before_the_interval() -> None:
    stream = io.StringIO()
    progress = PlainProgress(interval=3600, stream=stream)
    summary = summary_of(10, 1, 0)
    for _ in range(100):
        progress.update(summary)
    assert stream.getvalue() == ""
    progress.close(summary)
    assert stream.getvalue().count("\n") == 1


def test_update_prints_once_per_interval() -> None:
    stream = io.StringIO()
    progress = PlainProgress(interval=0, stream=stream)
    summary = BatchSummary(3)
    for _ in range(3):
        summary.add({"status": "completed", "duration": 0.1})
        progress.update(summary)
    lines = stream.getvalue().splitlines()
    assert [text.split(" rows ")[0] for text in lines] == [
        "batch: 1/3",
        "batch: 2/3",
        "batch: 3/3",
    ]


def test_progress_off_is_none() -> None:
    assert progress_for(interval=1.0, enabled=False) is None


def test_progress_on_a_stream_that_is_not_a_terminal_is_plain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = progress_for(interval=5.0)
    assert isinstance(reporter, PlainProgress)
    assert reporter.interval == 5.0
    reporter.close(summary_of(1, 1, 0, wall=1.0))
    assert capsys.readouterr().err == "batch: 1/1 rows (0 failed), 1.0 rows/s, ETA -\n"
