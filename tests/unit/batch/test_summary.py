"""The batch summary: counts, latency percentiles, tokens and cost, the commonest errors."""

from __future__ import annotations

import itertools
import json
import string
from typing import Any

import pytest

from agentmap.batch.summary import BatchSummary


def ok(duration: float = 0.1, **extra: Any) -> dict[str, Any]:
    return {"status": "completed", "duration": duration, **extra}


def failed(error: str | None, duration: float = 0.1, **extra: Any) -> dict[str, Any]:
    return {"status": "failed", "error": error, "duration": duration, **extra}


def test_counts_completed_failed_resumed_and_ran() -> None:
    summary = BatchSummary(total=10)
    summary.add(ok(), resumed=True)
    summary.add(failed("boom"), resumed=True)
    summary.add(ok())
    summary.add(ok())
    summary.add(failed("boom"))
    assert (summary.completed, summary.failed) == (3, 2)
    assert (summary.resumed, summary.ran) == (2, 3)
    assert summary.done == 5
    data = summary.to_dict()
    assert (data["rows"], data["done"], data["remaining"]) == (10, 5, 5)


def test_a_suspended_row_counts_apart_and_once_by_its_latest_line() -> None:
    summary = BatchSummary(3)
    waiting = {"node": "Approve", "question": "ok?", "fields": ["approved"]}
    suspended = {"row": 2, "status": "suspended", "run_id": "r2", "waiting": waiting}
    summary.add({**suspended, "duration": 0.1, "tokens": 7}, resumed=True)
    assert (summary.completed, summary.failed, summary.suspended) == (0, 0, 1)
    assert summary.top_errors() == []
    assert summary.tokens == 0  # counted with the row's final line, which has the whole run's
    data = summary.to_dict()
    assert (data["done"], data["suspended"], data["remaining"]) == (0, 1, 2)
    assert data["waiting_example"] == {"row": 2, "run_id": "r2", "waiting": waiting}
    summary.add({"row": 2, "status": "completed", "via": "store", "tokens": 9, "duration": 1.0})
    assert (summary.completed, summary.suspended, summary.from_store) == (1, 0, 1)
    assert summary.tokens == 9
    assert summary.to_dict()["waiting_example"] is None
    summary.add({"row": 3, "status": "completed", "via": "resume", "duration": 1.0})
    assert (summary.done, summary.resumed_runs, summary.ran) == (2, 1, 2)


def test_tokens_calls_and_cost_add_up() -> None:
    summary = BatchSummary(3)
    summary.add(ok(tokens=10, llm_calls=1, cost=0.25))
    summary.add(ok(tokens=5, llm_calls=2, cost=0.5))
    summary.add(failed("x", tokens=0, llm_calls=0, cost=None))
    data = summary.to_dict()
    assert (data["tokens"], data["llm_calls"], data["cost"]) == (15, 3, 0.75)


def test_cost_is_none_without_llm_calls() -> None:
    summary = BatchSummary(1)
    summary.add(ok(tokens=0, llm_calls=0, cost=None))
    assert summary.to_dict()["cost"] is None


def test_cost_is_none_when_no_call_had_a_price() -> None:
    summary = BatchSummary(2)
    summary.add(ok(tokens=10, llm_calls=1, cost=None))
    summary.add(ok(tokens=10, llm_calls=1, cost=None))
    assert summary.to_dict()["cost"] is None


def test_remaining_never_goes_negative() -> None:
    summary = BatchSummary(1)
    summary.add(ok())
    summary.add(ok())
    assert summary.to_dict()["remaining"] == 0


# --- latency percentiles ---------------------------------------------------------------------


def test_percentile_of_nothing_is_none() -> None:
    summary = BatchSummary()
    assert summary.percentile(0.5) is None
    data = summary.to_dict()
    assert data["latency_p50"] is None
    assert data["latency_p95"] is None


@pytest.mark.parametrize(("q", "exact"), [(0.5, 0.5), (0.95, 0.95), (0.99, 0.99), (1.0, 1.0)])
def test_percentile_is_within_one_percent(q: float, exact: float) -> None:
    summary = BatchSummary()
    for ms in range(1, 1001):  # 1 ms .. 1 s, evenly
        summary.add(ok(duration=ms / 1000))
    value = summary.percentile(q)
    assert value is not None
    assert abs(value - exact) / exact <= 0.01


@pytest.mark.parametrize("seconds", [0.000_01, 0.003, 0.7, 12.5, 3600.0])
def test_percentile_of_one_value_is_within_one_percent_of_it(seconds: float) -> None:
    summary = BatchSummary()
    summary.add(ok(duration=seconds))
    value = summary.percentile(0.5)
    assert value is not None
    assert abs(value - seconds) / seconds <= 0.01


def test_percentile_separates_fast_and_slow_rows() -> None:
    summary = BatchSummary()
    for _ in range(90):
        summary.add(ok(duration=0.01))
    for _ in range(10):
        summary.add(ok(duration=5.0))
    p50, p95 = summary.percentile(0.5), summary.percentile(0.95)
    assert p50 is not None
    assert p95 is not None
    assert p50 == pytest.approx(0.01, rel=0.01)
    assert p95 == pytest.approx(5.0, rel=0.01)
    data = summary.to_dict()
    assert data["latency_p50"] == pytest.approx(0.01, rel=0.02)
    assert data["latency_p95"] == pytest.approx(5.0, rel=0.01)


def test_rows_without_a_duration_are_not_in_the_percentiles() -> None:
    summary = BatchSummary()
    summary.add({"status": "completed"})
    summary.add({"status": "completed", "duration": "soon"})
    assert summary.percentile(0.5) is None
    summary.add(ok(duration=2.0))
    assert summary.percentile(0.01) == pytest.approx(2.0, rel=0.01)


def test_a_zero_duration_is_counted() -> None:
    summary = BatchSummary()
    summary.add(failed("unreadable", duration=0.0))
    value = summary.percentile(0.5)
    assert value is not None
    assert value < 1e-5


# --- errors ----------------------------------------------------------------------------------


def test_top_errors_group_messages_that_differ_only_by_numbers() -> None:
    summary = BatchSummary()
    summary.add(failed("line 12: not valid JSON"))
    summary.add(failed("line 13: not valid JSON"))
    summary.add(failed("row timed out after 2.5 s (row_timeout)"))
    summary.add(failed("line 140: not valid JSON"))
    summary.add(failed("row timed out after 30 s (row_timeout)"))
    summary.add(failed("ValueError: bad input"))
    assert summary.top_errors() == [
        ("line N: not valid JSON", 3),
        ("row timed out after N s (row_timeout)", 2),
        ("ValueError: bad input", 1),
    ]


def test_top_errors_use_the_first_line_and_cut_long_messages() -> None:
    summary = BatchSummary()
    summary.add(failed("  first line\nTraceback...\n  more"))
    summary.add(failed("first line\nanother tail"))
    summary.add(failed("x" * 500))
    summary.add(failed(""))
    summary.add(failed(None))
    top = dict(summary.top_errors(10))
    assert top["first line"] == 2
    assert top["x" * 200] == 1
    assert top["(no message)"] == 2


def test_top_errors_is_limited_to_n() -> None:
    summary = BatchSummary()
    for index, name in enumerate("abcdefg"):
        for _ in range(index + 1):
            summary.add(failed(f"error {name}"))
    assert [e for e, _ in summary.top_errors(3)] == ["error g", "error f", "error e"]
    assert len(summary.top_errors()) == 5


def test_completed_rows_are_not_errors() -> None:
    summary = BatchSummary()
    summary.add(ok(error="ignored"))
    assert summary.top_errors() == []


def test_distinct_errors_are_capped_and_the_rest_counted_as_other() -> None:
    summary = BatchSummary()
    words = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=3))
    messages = [f"error {next(words)}" for _ in range(1010)]  # no digits: all distinct keys
    for message in messages:
        summary.add(failed(message))
    summary.add(failed(messages[0]))  # a kept message still counts
    assert len(summary.top_errors(5000)) == 1000 + 1  # kept messages, then the other
    top = summary.top_errors(1)
    assert top[0] == (messages[0], 2)
    assert top[-1] == ("(other messages)", 10)
    assert summary.failed == 1011


# --- to_dict and rate ------------------------------------------------------------------------


def test_to_dict_keys_and_json() -> None:
    summary = BatchSummary(4)
    summary.add(ok(tokens=3, llm_calls=1, cost=0.001))
    summary.add(failed("line 3: bad"), resumed=True)
    summary.finish()
    summary.interrupted = True
    data = summary.to_dict()
    assert list(data) == [
        "rows",
        "done",
        "completed",
        "failed",
        "suspended",
        "remaining",
        "resumed",
        "ran",
        "resumed_runs",
        "from_store",
        "interrupted",
        "wall_seconds",
        "rows_per_second",
        "latency_p50",
        "latency_p95",
        "llm_calls",
        "tokens",
        "cost",
        "top_errors",
        "waiting_example",
        "notes",
    ]
    assert data["top_errors"] == [{"error": "line N: bad", "rows": 1}]
    assert data["interrupted"] is True
    assert (data["resumed"], data["ran"]) == (1, 1)
    assert json.loads(json.dumps(data)) == data


def test_rate_counts_only_rows_run_by_this_attempt() -> None:
    summary = BatchSummary(10)
    for _ in range(6):
        summary.add(ok(), resumed=True)
    for _ in range(4):
        summary.add(ok())
    summary.wall = 2.0
    assert summary.rate() == 2.0
    assert summary.to_dict()["rows_per_second"] == 2.0


def test_finish_records_the_wall_time() -> None:
    summary = BatchSummary()
    assert summary.wall == 0.0
    summary.finish()
    assert summary.wall > 0.0
    assert summary.rate() == 0.0  # nothing ran
