"""Every execution tracker receives events the same way and can give them back.

The shared tests are the shipped suite ``TrackerConformance``
(agentmap.testing.tracker_conformance), the same one a third-party backend
runs. A new backend (otel, ...) is one more subclass: a ``tracker`` fixture
plus ``read_events``, which returns what the backend stored as
``event.to_dict()`` mappings. Backend-specific tests follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmap.services.tracking.jsonl import JsonlTracker
from agentmap.services.tracking.memory import MemoryTracker
from agentmap.testing.tracker_conformance import ReadEvents, TrackerConformance, sample_events


class TestMemoryTracker(TrackerConformance):
    @pytest.fixture
    def tracker(self) -> Iterator[MemoryTracker]:
        tracker = MemoryTracker()
        yield tracker
        tracker.close()

    @pytest.fixture
    def read_events(self, tracker: MemoryTracker) -> ReadEvents:
        return lambda: [event.to_dict() for event in tracker.events]


class TestJsonlTracker(TrackerConformance):
    @pytest.fixture
    def tracker(self, tmp_path: Path) -> Iterator[JsonlTracker]:
        tracker = JsonlTracker(tmp_path / "logs" / "runs.jsonl")  # a folder made on first flush
        yield tracker
        tracker.close()

    @pytest.fixture
    def read_events(self, tracker: JsonlTracker) -> ReadEvents:
        def read() -> list[dict[str, Any]]:
            if not tracker.path.exists():
                return []
            lines = tracker.path.read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines]

        return read


# --------------------------------------------------------------------------- backend-specific


def test_memory_of_kind_filters_events() -> None:
    tracker = MemoryTracker()
    for event in sample_events():
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
    tracker.record(sample_events()[0])
    assert not path.exists()
    tracker.flush()
    assert json.loads(path.read_text())["event"] == "run_started"


def test_jsonl_appends_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    for event in sample_events()[:2]:
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
    events = sample_events()
    for event in events[:3]:
        tracker.record(event)
    assert len(path.read_text().splitlines()) == 3
    tracker.record(events[3])
    assert len(path.read_text().splitlines()) == 3
    tracker.close()
    assert len(path.read_text().splitlines()) == 4
