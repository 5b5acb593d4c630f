"""The batch summary: counts, latency percentiles, tokens, cost and the commonest errors.

It is fed every result line (those an earlier, interrupted attempt wrote, and
this attempt's), so it describes the whole output file. It must stay small for
a million rows: latencies go into a log-scale histogram (1 % wide buckets),
not a list, and error messages into a capped counter.
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

__all__ = ["BatchSummary", "write_summary"]

_BUCKETS_PER_DECADE = 230  # 10 ** (1 / 230) ≈ 1.0101: each bucket is 1 % wide
_MIN_LATENCY = 1e-6
_MAX_ERRORS = 1000  # distinct messages kept; the rest are counted as "other"
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
        if result.get("status") == "completed":
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

    @property
    def done(self) -> int:
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
            "remaining": max(self.total - self.done, 0),
            "resumed": self.resumed,
            "ran": self.ran,
            "interrupted": self.interrupted,
            "wall_seconds": round(self.wall, 3),
            "rows_per_second": round(self.rate(), 1),
            "latency_p50": round(p50, 6) if p50 is not None else None,
            "latency_p95": round(p95, 6) if p95 is not None else None,
            "llm_calls": self.llm_calls,
            "tokens": self.tokens,
            "cost": round(self.cost, 6) if self.priced else None,
            "top_errors": [{"error": e, "rows": n} for e, n in self.top_errors()],
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
