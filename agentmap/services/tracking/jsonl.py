"""An execution tracker that appends one JSON object per event to a file.

``record`` runs on the runner's hot path, so it only appends the event object
to a buffer: ``event.to_dict()`` plus JSON encoding cost several µs per event,
a large share of the per-node budget, so they run in ``flush`` instead. That is safe
because events are built per occurrence and hold only immutable scalars
(names, numbers, messages; never state values).

The file is opened, appended to and closed in each ``flush`` (and when the
buffer fills), so no handle stays open and several processes can append to
one file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentmap.services.redaction import secret_masker

__all__ = ["JsonlTracker"]

# One encoder for every line: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonlTracker:
    def __init__(self, path: Path, *, flush_every: int = 1000, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self._mask = secret_masker(secrets)
        self.flush_every = flush_every
        self._buffer: list[Any] = []
        self._buffer_lock = threading.Lock()  # held for an append or a swap only
        self._write_lock = threading.Lock()  # keeps concurrent flushes in order

    def record(self, event: Any) -> None:
        with self._buffer_lock:
            self._buffer.append(event)
            full = len(self._buffer) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._buffer_lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return
            encode = _ENCODER.encode
            lines = self._mask("".join(encode(event.to_dict()) + "\n" for event in pending))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(lines)

    def close(self) -> None:
        self.flush()
