"""Every execution tracker receives events the same way and can give them back.

A new backend (otel, ...) is one more entry in ``BACKENDS``: a factory plus a
reader that returns what the backend stored, as ``event.to_dict()`` mappings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentmap.runtime.events import NodeFailed, NodeFinished, NodeStarted, RunFinished, RunStarted
from agentmap.services.protocols import ExecutionTrackerProtocol
from agentmap.services.tracking.jsonl import JsonlTracker
from agentmap.services.tracking.memory import MemoryTracker


@dataclass
class Backend:
    tracker: Any
    read: Callable[[], list[dict[str, Any]]]


def _memory(_: Path) -> Backend:
    tracker = MemoryTracker()
    return Backend(tracker, lambda: [event.to_dict() for event in tracker.events])


def _jsonl(tmp_path: Path) -> Backend:
    path = tmp_path / "logs" / "runs.jsonl"

    def read() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    return Backend(JsonlTracker(path), read)


BACKENDS: dict[str, Callable[[Path], Backend]] = {"memory": _memory, "jsonl": _jsonl}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    built = BACKENDS[request.param](tmp_path)
    yield built
    built.tracker.close()


def _run_events() -> list[Any]:
    return [
        RunStarted("r1", "G", 1.0, entry="Start"),
        NodeStarted("r1", "G", 1.1, node="Start", step=1),
        NodeFailed("r1", "G", 1.2, node="Start", step=1, error_type="ValueError", message="bad"),
        NodeFinished("r1", "G", 1.3, node="Start", step=1, success=False, duration=0.2),
        RunFinished("r1", "G", 1.4, status="failed", steps=1, error="bad"),
    ]


def test_satisfies_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.tracker, ExecutionTrackerProtocol)


def test_events_come_back_in_order_after_flush(backend: Backend) -> None:
    events = _run_events()
    for event in events:
        backend.tracker.record(event)
    backend.tracker.flush()
    assert backend.read() == [event.to_dict() for event in events]


def test_flush_twice_does_not_duplicate(backend: Backend) -> None:
    backend.tracker.record(_run_events()[0])
    backend.tracker.flush()
    backend.tracker.flush()
    backend.tracker.record(_run_events()[1])
    backend.tracker.flush()
    assert [item["event"] for item in backend.read()] == ["run_started", "node_started"]


def test_close_flushes(backend: Backend) -> None:
    backend.tracker.record(_run_events()[-1])
    backend.tracker.close()
    assert [item["event"] for item in backend.read()] == ["run_finished"]


# --------------------------------------------------------------------------- backend-specific


def test_memory_of_kind_filters_events() -> None:
    tracker = MemoryTracker()
    for event in _run_events():
        tracker.record(event)
    assert [e.node for e in tracker.of_kind("node_started")] == ["Start"]
    assert tracker.of_kind("node_retried") == []
    assert tracker.events[0].kind == "run_started"


def test_memory_keeps_only_the_newest_events_trimming_in_batches() -> None:
    tracker = MemoryTracker(max_events=100)
    for i in range(110):
        tracker.record(i)
    assert tracker.events == list(range(110))  # up to 10% over: no trim yet
    tracker.record(110)
    assert tracker.events == list(range(11, 111))  # the oldest overflow, in one go
    for i in range(111, 100_000):
        tracker.record(i)
    assert len(tracker.events) <= 110
    assert tracker.events[-100:] == list(range(99_900, 100_000))
    assert isinstance(tracker.events, list)


def test_memory_keeps_100k_events_by_default() -> None:
    tracker = MemoryTracker()
    for i in range(110_001):
        tracker.record(i)
    assert (len(tracker.events), tracker.events[0]) == (100_000, 10_001)
    with pytest.raises(ValueError, match="max_events"):
        MemoryTracker(max_events=0)


def test_jsonl_writes_nothing_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    tracker = JsonlTracker(path)
    tracker.record(_run_events()[0])
    assert not path.exists()
    tracker.flush()
    assert json.loads(path.read_text())["event"] == "run_started"


def test_jsonl_appends_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    for event in _run_events()[:2]:
        tracker = JsonlTracker(path)
        tracker.record(event)
        tracker.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "run_started",
        "node_started",
    ]


def test_jsonl_flushes_by_itself_when_the_buffer_fills(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    tracker = JsonlTracker(path, flush_every=3)
    events = _run_events()
    for event in events[:3]:
        tracker.record(event)
    assert len(path.read_text().splitlines()) == 3
    tracker.record(events[3])
    assert len(path.read_text().splitlines()) == 3
    tracker.close()
    assert len(path.read_text().splitlines()) == 4
