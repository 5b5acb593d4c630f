"""The conformance suite every execution tracker (``ExecutionTrackerProtocol``) must pass.

Shipped in the test kit so that a third-party backend is checked by the same
tests as the built-in ones. Subclass it in a test module and provide two
fixtures: the ``tracker`` under test, and ``read_events``, a function that
returns what the backend stored so far, as ``event.to_dict()`` mappings in
the order it stored them::

    from agentmap.testing.tracker_conformance import TrackerConformance

    class TestJsonlTracker(TrackerConformance):
        @pytest.fixture
        def tracker(self, tmp_path):
            tracker = JsonlTracker(tmp_path / "runs.jsonl")
            yield tracker
            tracker.close()

        @pytest.fixture
        def read_events(self, tracker):
            def read():
                if not tracker.path.exists():
                    return []
                return [json.loads(line) for line in tracker.path.read_text().splitlines()]

            return read

What is checked is what the runner relies on: ``record`` may buffer (it is on
the hot path), but after ``flush`` (the runner calls it at the end of each
run) every event recorded is stored once, in order. Every tracker also has a
``close`` that flushes, so any tracker can be closed the same way.
``sample_events()`` is a short failed run's events, for a backend's own tests
too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentmap.runtime.events import NodeFailed, NodeFinished, NodeStarted, RunFinished, RunStarted
from agentmap.services.protocols import ExecutionTrackerProtocol

__all__ = ["ReadEvents", "TrackerConformance", "sample_events"]

ReadEvents = Callable[[], list[dict[str, Any]]]


def sample_events() -> list[Any]:
    """The events of a one-node run that failed, as the runner records them."""
    return [
        RunStarted("r1", "G", 1.0, entry="Start"),
        NodeStarted("r1", "G", 1.1, node="Start", step=1),
        NodeFailed("r1", "G", 1.2, node="Start", step=1, error_type="ValueError", message="bad"),
        NodeFinished("r1", "G", 1.3, node="Start", step=1, success=False, duration=0.2),
        RunFinished("r1", "G", 1.4, status="failed", steps=1, error="bad"),
    ]


class TrackerConformance:
    """Base class of a backend's conformance tests; define ``tracker`` and ``read_events``."""

    @pytest.fixture
    def tracker(self) -> ExecutionTrackerProtocol:
        raise NotImplementedError("define a `tracker` fixture in the subclass")

    @pytest.fixture
    def read_events(self) -> ReadEvents:
        raise NotImplementedError("define a `read_events` fixture in the subclass")

    def test_satisfies_the_protocol(self, tracker: Any) -> None:
        assert isinstance(tracker, ExecutionTrackerProtocol)

    def test_events_come_back_in_order_after_flush(
        self, tracker: Any, read_events: ReadEvents
    ) -> None:
        events = sample_events()
        for event in events:
            tracker.record(event)
        tracker.flush()
        assert read_events() == [event.to_dict() for event in events]

    def test_flush_twice_does_not_duplicate(self, tracker: Any, read_events: ReadEvents) -> None:
        tracker.record(sample_events()[0])
        tracker.flush()
        tracker.flush()
        tracker.record(sample_events()[1])
        tracker.flush()
        assert [item["event"] for item in read_events()] == ["run_started", "node_started"]

    def test_close_flushes(self, tracker: Any, read_events: ReadEvents) -> None:
        tracker.record(sample_events()[-1])
        tracker.close()
        assert [item["event"] for item in read_events()] == ["run_finished"]
