"""The results file: one JSON line per input row, appended as rows finish.

Three promises rest on this module. *Nothing lost*: each line is written with
one ``write`` to a file opened for appending, the moment its row finishes, so a
crash (even ``kill -9``) loses only the rows still running. *Nothing twice*: a
rerun reads the file first and skips every row it already holds; a line torn by
the crash is cut off and its row runs again. *Not someone else's file*: every
line carries the job's identity (a hash of the workflow and of the inputs), and
a file written by a different job is refused rather than mixed into.

A ``suspended`` line (a durable batch's row waiting for a person) is not a
final one: a row may have it and, later, its completed or failed line. The
latest line of a row is its result, and a completed or failed line always
wins (see ``resume_output``'s ``waiting``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmap.batch.durable import waiting_digest
from agentmap.batch.errors import BatchError, OutputMismatchError

__all__ = ["JobIdentity", "ResultWriter", "RowSet", "encode_result", "resume_output"]


@dataclass(frozen=True, slots=True)
class JobIdentity:
    """Which workflow (and output fields) ran over which inputs: stored in every line."""

    workflow: str
    inputs: str

    @property
    def tag(self) -> str:
        return f"{self.workflow}.{self.inputs}"

    @classmethod
    def of(
        cls,
        *,
        workflow_file: Path,
        graph: str,
        fields: Sequence[str] | None,
        inputs_sha256: str,
        mapping: Mapping[str, str],
        id_field: str | None,
    ) -> JobIdentity:
        try:
            workflow_bytes = workflow_file.read_bytes()
        except OSError as exc:
            raise BatchError(
                f"cannot read workflow {workflow_file}: {exc.strerror or exc}"
            ) from None
        workflow = hashlib.sha256(workflow_bytes)
        workflow.update(json.dumps([graph, list(fields) if fields else None]).encode())
        inputs = hashlib.sha256(inputs_sha256.encode())
        inputs.update(json.dumps([sorted(mapping.items()), id_field]).encode())
        return cls(workflow.hexdigest()[:12], inputs.hexdigest()[:12])


class RowSet:
    """Row numbers already done, one bit each: a million rows cost 125 kB."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, row: int) -> bool:
        """Mark ``row``; False if it was already marked (or is not a row number)."""
        if row < 1:
            return False
        byte, bit = divmod(row, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + 1024))
        mask = 1 << bit
        if self._bits[byte] & mask:
            return False
        self._bits[byte] |= mask
        self.count += 1
        return True

    def discard(self, row: int) -> bool:
        """Unmark ``row``; False if it was not marked."""
        if row not in self:
            return False
        byte, bit = divmod(row, 8)
        self._bits[byte] &= ~(1 << bit) & 0xFF
        self.count -= 1
        return True

    def __contains__(self, row: object) -> bool:
        if not isinstance(row, int) or row < 1:
            return False
        byte, bit = divmod(row, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))


#: The way out of an output file that another job wrote.
_START_OVER = (
    "Use {option[force]} to start over (the old file is kept as {backup}), "
    "or choose another {option[output]}"
)


def _mismatch(path: Path, line: int, found: str, job: JobIdentity) -> OutputMismatchError:
    workflow, _, inputs = found.partition(".")
    if workflow != job.workflow and inputs != job.inputs:
        what = "another workflow and another input set"
    elif workflow != job.workflow:
        what = "another workflow (the CSV, the graph or {option[fields]} changed)"
    else:
        what = (
            "another input set (the inputs file, {option[mapping]} or {option[id_field]} changed)"
        )
    return OutputMismatchError.naming(
        "{path} holds results of " + what + ": line {line} has job {found}, "
        "this batch is {tag}. " + _START_OVER,
        path=path,
        line=line,
        found=found,
        tag=job.tag,
        backup=f"{path.name}.bak",
    )


def resume_output(
    path: Path,
    job: JobIdentity,
    *,
    force: bool = False,
    seen: Callable[[dict[str, Any]], None] | None = None,
    waiting: dict[int, int] | None = None,
) -> RowSet:
    """The rows ``path`` already holds results for; ``seen`` gets each of those results.

    A torn last line (no newline: the process died while writing it) is cut
    off. ``force`` moves a file of another job aside to ``<name>.bak``.

    With ``waiting``, a ``suspended`` line does not make its row done: the row
    goes into ``waiting`` (row -> ``waiting_digest`` of where it waits) and
    ``seen`` gets the line, unless the row has a completed or failed line,
    which always wins. A later suspended line of a row replaces an earlier
    one. Without ``waiting`` every line counts as done, as before durable
    batches.
    """
    done = RowSet()
    if not path.exists():
        return done
    try:
        handle = path.open("rb+")
    except OSError as exc:
        raise BatchError(f"cannot open output {path}: {exc.strerror or exc}") from None
    with handle:
        offset = 0
        number = 0
        for raw in handle:
            number += 1
            if not raw.endswith(b"\n"):
                handle.truncate(offset)  # torn by a crash mid-write: that row runs again
                break
            offset += len(raw)
            try:
                result = json.loads(raw)
                tag, row = result["job"], result["row"]
            except (ValueError, TypeError, KeyError):
                if not raw.strip():
                    continue
                if force:
                    return _set_aside(path)
                raise OutputMismatchError.naming(
                    "{path}:{number} is not a result line of agentmap batch. " + _START_OVER,
                    path=path,
                    number=number,
                    backup=f"{path.name}.bak",
                ) from None
            if tag != job.tag:
                if force:
                    return _set_aside(path)
                raise _mismatch(path, number, str(tag), job)
            if not isinstance(row, int) or isinstance(row, bool):
                continue
            if waiting is not None and result.get("status") == "suspended":
                if row >= 1 and row not in done:
                    waiting[row] = waiting_digest(result.get("waiting"))
                    if seen is not None:
                        seen(result)
                continue
            if done.add(row):
                if waiting is not None:
                    waiting.pop(row, None)
                if seen is not None:
                    seen(result)
    return done


def _set_aside(path: Path) -> RowSet:
    path.replace(path.with_name(path.name + ".bak"))
    return RowSet()


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in a JSON input): escape it
        return json.dumps(value, default=repr).encode("ascii")


def encode_result(result: dict[str, Any]) -> bytes:
    """One line of JSON; an output value JSON cannot hold is written as a note, not lost silently.

    Nothing a row's run produced may stop the batch here: a value JSON cannot
    hold (non-string keys, nested too deeply, circular) is replaced by a note.
    """
    try:
        text = _dumps(result)
    except (TypeError, ValueError, RecursionError):
        output = result.get("output") or {}
        safe = {}
        for key, value in output.items():
            try:
                _dumps(value)
                safe[key] = value
            except (TypeError, ValueError, RecursionError):
                safe[key] = f"<{type(value).__name__} JSON cannot hold: {_short_repr(value)}>"
        text = _dumps({**result, "output": safe})
    return text + b"\n"


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return "too deeply nested or circular"
    return text if len(text) <= 200 else text[:200] + "..."


class ResultWriter:
    """Appends result lines, each with a single ``write`` so a line is never interleaved."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BatchError(f"cannot write output {path}: {exc.strerror or exc}") from None

    def write(self, result: dict[str, Any]) -> None:
        if self._fd is None:
            raise BatchError(f"output {self.path} is closed")
        data = memoryview(encode_result(result))
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
