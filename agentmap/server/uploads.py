"""A batch upload, streamed to a file and checked line by line as it arrives.

The batch engine would turn a bad line into a failed row; the API refuses the
whole upload instead (422 naming each bad line), because over HTTP the client
is still there to fix it, and a batch of rows that cannot run is better never
started. Nothing here keeps more than one line and one chunk in memory: a
64 MiB upload costs its file on disk, not 64 MiB of RAM.

Lines are numbered as ``agentmap batch`` numbers them (every physical line,
blank ones included), so the line a 422 names is the line the engine's result
``line`` would name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from agentmap.server.problems import FieldError, ProblemError

__all__ = ["JsonlReceiver"]

#: Problems listed before the check gives up on an upload.
MAX_ERRORS = 20


class JsonlReceiver:
    """Writes an upload's chunks to ``path``; checks that each line is a JSON object.

    ``needed`` are the fields every row must hold (the graph's required inputs,
    and ``id_field``); a line without one is a problem naming line and field.
    """

    def __init__(self, path: Path, needed: Sequence[str] = (), *, graph: str = "") -> None:
        self.path = path
        self.needed = tuple(needed)
        self.graph = graph
        self.rows = 0
        self.bytes = 0
        self.errors: list[FieldError] = []
        self._line = 0
        #: Pieces of the line still open at the end of the last chunk.
        self._pending: list[bytes] = []
        #: Whether some problem is a malformed line (not only a missing field).
        self._malformed = False
        self._file: BinaryIO = path.open("wb")

    def feed(self, chunk: bytes) -> None:
        """Write ``chunk``; check every line it completes. Raises once too much is wrong."""
        if not chunk:
            return
        self._file.write(chunk)
        self.bytes += len(chunk)
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line = chunk[start:end]
            if self._pending:
                line = b"".join((*self._pending, line))
                self._pending.clear()
            self._check(line)
            start = end + 1
        if start < len(chunk):
            self._pending.append(chunk[start:])
        if len(self.errors) >= MAX_ERRORS:
            self._refuse()

    def finish(self) -> int:
        """Close the file after the last chunk; the number of rows, or a 422 problem."""
        if self._pending:
            self._check(b"".join(self._pending))
            self._pending.clear()
        self._file.close()
        if self.errors:
            self._refuse()
        if self.rows == 0:
            raise ProblemError(
                422,
                "invalid-request",
                "the upload holds no rows: send JSON lines, one object per line"
                if not self.bytes
                else "the upload holds only blank lines: send one JSON object per line",
                [FieldError("body", "no rows")],
            )
        return self.rows

    def close(self) -> None:
        self._file.close()

    def _check(self, raw: bytes) -> None:
        self._line += 1
        line = self._line
        if not raw.strip():
            return
        self.rows += 1
        if len(self.errors) >= MAX_ERRORS:
            return
        try:
            record = json.loads(raw.decode("utf-8-sig" if line == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            self._bad(line, f"not UTF-8 text: {exc.reason}")
            return
        except json.JSONDecodeError as exc:
            self._bad(line, f"not valid JSON: {exc.msg} (column {exc.colno})")
            return
        if not isinstance(record, dict):
            self._bad(line, f"expected a JSON object, got {_json_kind(record)}")
            return
        for name in self.needed:
            if name not in record:
                self.errors.append(FieldError(f"line {line}.{name}", "missing; the row needs it"))

    def _bad(self, line: int, message: str) -> None:
        self._malformed = True
        self.errors.append(FieldError(f"line {line}", message))

    def _refuse(self) -> None:
        self.close()
        errors = self.errors
        first = errors[0]
        more = len(errors) - 1
        shown = f"{first.field}: {first.message}"
        if more:
            shown += f" (and {more}{'+' if len(errors) >= MAX_ERRORS else ''} more)"
        missing = not self._malformed
        if missing:
            detail = f"rows of graph {self.graph!r} must hold its inputs; {shown}"
        else:
            detail = f"every line must be a JSON object; {shown}"
        raise ProblemError(422, "missing-inputs" if missing else "invalid-request", detail, errors)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"
