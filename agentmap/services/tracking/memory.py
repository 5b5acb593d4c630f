"""An execution tracker that keeps events in a list, for tests and the ``test`` preset."""

from __future__ import annotations

from typing import Any

__all__ = ["MemoryTracker"]


class MemoryTracker:
    """Keeps every event object as recorded, so tests can assert on the run's history."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def record(self, event: Any) -> None:
        self.events.append(event)

    def flush(self) -> None:
        """Nothing to write: the events are already where a reader looks."""

    def close(self) -> None:
        """Nothing to release; present so every tracker can be closed the same way."""

    def of_kind(self, kind: str) -> list[Any]:
        """Events whose ``kind`` is ``kind`` (``"node_started"``, ``"run_finished"``, ...)."""
        return [event for event in self.events if getattr(event, "kind", None) == kind]
