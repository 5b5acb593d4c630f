"""The batch summary: counts, latency percentiles, tokens, cost and the commonest errors.

It is fed every result line (those an earlier, interrupted attempt wrote, and
this attempt's), so it describes the whole output file. It must stay small for
a million rows: latencies go into a log-scale histogram (1 % wide buckets),
not a list, and error messages into a capped counter.

A row counts once, by its latest line: a ``suspended`` line counts the row as
suspended until a completed or failed line of the same row replaces it (a
durable batch writes one when the run was resumed, see durable.py). A
suspended line's latency and LLM usage are not counted: the row's final line
carries the whole run's.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agentmap.batch.errors import BatchError
from agentmap.batch.output import RowSet

__all__ = ["BatchSummary", "write_summary"]

_BUCKETS_PER_DECADE = 230  # 10 ** (1 / 230) ≈ 1.0101: each bucket is 1 % wide
_MIN_LATENCY = 1e-6
_MAX_ERRORS = 1000  # distinct messages kept; the rest are counted as "other"
_MAX_NOTES = 20  # kinds of note kept (each with a count and its first text)
_NUMBERS = re.compile(r"\d+(\.\d+)?")


def _bucket(seconds: float) -> int:
    return int(math.log10(max(seconds, _MIN_LATENCY) / _MIN_LATENCY) * _BUCKETS_PER_DECADE)


def _bucket_value(bucket: int) -> float:
    return float(_MIN_LATENCY * 10 ** ((bucket + 0.5) / _BUCKETS_PER_DECADE))


def _error_key(error: str) -> str:
    """Group messages that differ only by numbers (line 12 / line 13) or a long tail."""
    first = error.strip().splitlines()[0] if error.strip() else "(no message)"
    return _NUMBERS.sub("N", first)[:200]


class BatchSummary:
    """What a batch did; ``to_dict()`` is what ``write_summary`` (``summary_file``) writes."""

    def __init__(self, total: int = 0) -> None:
        #: Rows in the inputs.
        self.total = total
        self.completed = 0
        self.failed = 0
        #: Rows whose latest line is ``suspended``: their runs wait for a person.
        self.suspended = 0
        #: The latest suspended line still standing: an example for "how to go on".
        self.waiting_example: dict[str, Any] | None = None
        #: Lines of this attempt whose interrupted run was resumed from its checkpoints.
        self.resumed_runs = 0
        #: Lines of this attempt read back from the state store (the run ended elsewhere).
        self.from_store = 0
        self._waiting = RowSet()
        #: Kind -> [rows, first text]: rows a durable batch left as they were, and why.
        self._notes: dict[str, list[Any]] = {}
        #: Rows an earlier attempt had already written (skipped this time).
        self.resumed = 0
        #: Rows still without a result (an interrupted batch).
        self.interrupted = False
        self.tokens = 0
        self.cost = 0.0
        #: Whether any row had a known price; without one the cost is unknown, not zero.
        self.priced = False
        self.llm_calls = 0
        self._latency: Counter[int] = Counter()
        self._errors: Counter[str] = Counter()
        self._other_errors = 0
        self._started = time.perf_counter()
        self.wall = 0.0
        self.ran = 0

    def add(self, result: dict[str, Any], *, resumed: bool = False) -> None:
        """Count a line; ``resumed``: an earlier attempt wrote it (read from the file)."""
        row = result.get("row")
        if isinstance(row, int) and self._waiting.discard(row):
            self.suspended -= 1  # replaced by this later line of the row
            if self.waiting_example is not None and self.waiting_example.get("row") == row:
                self.waiting_example = None
        if not resumed:
            via = result.get("via")
            if via == "resume":
                self.resumed_runs += 1
            elif via == "store":
                self.from_store += 1
        status = result.get("status")
        if status == "suspended":
            self.suspended += 1
            if isinstance(row, int):
                self._waiting.add(row)
            self.waiting_example = {
                "row": row,
                "run_id": result.get("run_id"),
                "waiting": result.get("waiting") or {},
            }
            if not resumed:
                self.ran += 1
            return
        if status == "completed":
            self.completed += 1
        else:
            self.failed += 1
            key = _error_key(str(result.get("error") or ""))
            if key in self._errors or len(self._errors) < _MAX_ERRORS:
                self._errors[key] += 1
            else:
                self._other_errors += 1
        if resumed:
            self.resumed += 1
        else:
            self.ran += 1
        duration = result.get("duration")
        if isinstance(duration, int | float):
            self._latency[_bucket(float(duration))] += 1
        self.tokens += int(result.get("tokens") or 0)
        self.llm_calls += int(result.get("llm_calls") or 0)
        cost = result.get("cost")
        if isinstance(cost, int | float):
            self.cost += cost
            self.priced = True

    def note(self, kind: str, text: str) -> None:
        """Something the user should know about some rows; one text kept per kind."""
        entry = self._notes.get(kind)
        if entry is not None:
            entry[0] += 1
        elif len(self._notes) < _MAX_NOTES:
            self._notes[kind] = [1, text]

    def notes(self) -> list[str]:
        """Each kind of note: its first text, and how many more rows are alike."""
        return [
            text if rows == 1 else f"{text} (and {rows - 1} more rows alike)"
            for rows, text in self._notes.values()
        ]

    @property
    def done(self) -> int:
        """Rows with a final line: completed or failed (a suspended row is not done)."""
        return self.completed + self.failed

    def finish(self) -> None:
        self.wall = time.perf_counter() - self._started

    def percentile(self, q: float) -> float | None:
        """Latency (seconds) below which ``q`` (0..1) of the rows finished, within 1 %."""
        count = sum(self._latency.values())
        if not count:
            return None
        rank = max(1, math.ceil(q * count))
        seen = 0
        for bucket in sorted(self._latency):
            seen += self._latency[bucket]
            if seen >= rank:
                return _bucket_value(bucket)
        return None  # pragma: no cover - rank <= count

    def top_errors(self, n: int = 5) -> list[tuple[str, int]]:
        top = self._errors.most_common(n)
        if self._other_errors:
            top.append(("(other messages)", self._other_errors))
        return top

    def rate(self) -> float:
        """Rows per second run by this attempt."""
        wall = self.wall or (time.perf_counter() - self._started)
        return self.ran / wall if wall > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        return {
            "rows": self.total,
            "done": self.done,
            "completed": self.completed,
            "failed": self.failed,
            "suspended": self.suspended,
            "remaining": max(self.total - self.done - self.suspended, 0),
            "resumed": self.resumed,
            "ran": self.ran,
            "resumed_runs": self.resumed_runs,
            "from_store": self.from_store,
            "interrupted": self.interrupted,
            "wall_seconds": round(self.wall, 3),
            "rows_per_second": round(self.rate(), 1),
            "latency_p50": round(p50, 6) if p50 is not None else None,
            "latency_p95": round(p95, 6) if p95 is not None else None,
            "llm_calls": self.llm_calls,
            "tokens": self.tokens,
            "cost": round(self.cost, 6) if self.priced else None,
            "top_errors": [{"error": e, "rows": n} for e, n in self.top_errors()],
            "waiting_example": self.waiting_example if self.suspended else None,
            "notes": self.notes(),
        }


def write_summary(path: Path, summary: BatchSummary) -> None:
    """Write the summary as JSON, atomically: a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise BatchError.naming(
            "cannot write {option[summary_file]} {path}: {reason}",
            path=path,
            reason=exc.strerror or exc,
        ) from None
