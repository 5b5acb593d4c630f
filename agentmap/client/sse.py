"""Server-Sent Events, decoded line by line (the WHATWG event-stream rules).

A small decoder instead of a dependency: the server's streams are plain
``id`` / ``event`` / ``data`` messages, and both clients (sync and async)
feed it the lines httpx already splits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One SSE message: ``id`` (the per-run sequence number, as sent), ``event``
    (its kind: ``node_started``, ``run_finished``...) and ``data`` (the decoded
    JSON object, or the raw text when it is not JSON)."""

    id: str | None
    event: str
    data: Any = field(default=None)

    @property
    def seq(self) -> int | None:
        """``id`` as a number (the server numbers a run's events 1, 2, ...)."""
        try:
            return None if self.id is None else int(self.id)
        except ValueError:
            return None


class SSEDecoder:
    """Feed it lines without their line ending; it returns an ``Event`` at each blank line.

    Comments (``: ping``) and ``retry`` are skipped; several ``data`` lines are
    joined with newlines; the last ``id`` seen is kept in ``last_event_id`` so
    a caller can reconnect where it left off. A message the stream ends on
    without its blank line is dropped, as the standard says (it may be cut).
    """

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._event = ""
            return None
        text = "\n".join(self._data)
        kind = self._event or "message"
        self._data, self._event = [], ""
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        return Event(id=self.last_event_id, event=kind, data=data)
