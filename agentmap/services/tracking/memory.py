"""An execution tracker that keeps events in a list, for tests and the ``test`` preset."""

from __future__ import annotations

from typing import Any

__all__ = ["MemoryTracker"]


class MemoryTracker:
    """Keeps the latest ``max_events`` event objects as recorded, for assertions on history.

    The ``test`` preset uses this tracker, and a batch of 100,000 rows in that
    preset records millions of events through one tracker: kept forever, they
    would grow memory without bound. So only the newest ``max_events`` are
    guaranteed to be kept. Trimming happens in batches, once the list is 10%
    over the cap, so a ``record`` stays amortised O(1) (deleting the head of a
    list moves every element left); between trims ``events`` may hold up to
    10% more. ``events`` stays a plain list, oldest first, as tests expect.
    """

    def __init__(self, max_events: int = 100_000) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        self.max_events = max_events
        self._trim_at = max_events + max(1, max_events // 10)
        self.events: list[Any] = []

    def record(self, event: Any) -> None:
        self.events.append(event)
        if len(self.events) > self._trim_at:
            del self.events[: len(self.events) - self.max_events]

    def flush(self) -> None:
        """Nothing to write: the events are already where a reader looks."""

    def close(self) -> None:
        """Nothing to release; present so every tracker can be closed the same way."""

    def of_kind(self, kind: str) -> list[Any]:
        """Events whose ``kind`` is ``kind`` (``"node_started"``, ``"run_finished"``, ...)."""
        return [event for event in self.events if getattr(event, "kind", None) == kind]
