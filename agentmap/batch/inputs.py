"""Input rows of a batch, read as a stream from a JSON-lines or CSV file.

A batch may hold millions of rows, so nothing here keeps more than one row in
memory. A row that cannot be read (a line that is not JSON, a CSV record with
the wrong number of cells) does not stop the batch: it comes out as an
``InputRow`` carrying its error and line number, and becomes a failed result
for that row alone. Only a problem with the file as a whole (missing, an
unknown format, a ``mapping`` column the CSV header lacks) is a ``BatchError``.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from agentmap.batch.errors import BatchError

__all__ = ["InputRow", "InputScan", "input_format", "read_rows", "scan_inputs"]

InputFormat = Literal["jsonl", "csv"]

_MAX_CELL = 1 << 28

_FORMATS: dict[str, InputFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}


@dataclass(frozen=True, slots=True)
class InputRow:
    """One input record: a run's initial state, or why it could not be read."""

    #: 1-based position among the file's records: the row's identity in the output.
    row: int
    #: Line of the file where the record starts (CSV records may span lines).
    line: int
    state: dict[str, Any] | None = None
    error: str | None = None
    #: The value of the ``id_field`` column, when one is chosen.
    id: Any = None


@dataclass(frozen=True, slots=True)
class InputScan:
    """What a first pass over the inputs learns: how many rows, and their fingerprint."""

    rows: int
    sha256: str


def input_format(path: Path) -> InputFormat:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise BatchError(
            f"{path}: unknown input format {path.suffix or '(no extension)'!r}; "
            "use a .jsonl (one JSON object per line) or .csv file"
        ) from None


def _open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BatchError(f"input file not found: {path}") from None
    except OSError as exc:
        raise BatchError(f"cannot read input file {path}: {exc.strerror or exc}") from None


def _text_lines(path: Path, raw: Iterable[bytes]) -> Iterator[str]:
    """The file's lines as text, decoded one by one so a bad byte is reported at its line.

    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped.
    """
    for number, data in enumerate(raw, start=1):
        try:
            yield data.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise BatchError(f"{path}:{number} is not UTF-8 text: {exc.reason}") from None


def _records(reader: Any) -> Iterator[list[str] | csv.Error]:
    """CSV records, with a rejected record (a NUL byte, a huge cell) as its error, not a stop."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def scan_inputs(path: Path) -> InputScan:
    """Count the records and hash the bytes: for the progress total and the job's identity."""
    fmt = input_format(path)
    digest = hashlib.sha256()
    with _open_binary(path) as raw:
        lines = _text_lines(path, _hashed(raw, digest))  # one read serves both
        if fmt == "jsonl":
            rows = sum(1 for line in lines if line.strip())
        else:
            _allow_long_cells()
            rows = max(sum(1 for record in _records(csv.reader(lines)) if record) - 1, 0)
    return InputScan(rows, digest.hexdigest())


def _hashed(raw: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """``raw``'s lines, each added to ``digest`` as it is read."""
    for data in raw:
        digest.update(data)
        yield data


def _allow_long_cells() -> None:
    # The csv module rejects cells over 128 kB; documents fed to an LLM are often longer.
    if csv.field_size_limit() < _MAX_CELL:
        csv.field_size_limit(_MAX_CELL)


def read_rows(
    path: Path, mapping: Mapping[str, str] | None = None, id_field: str | None = None
) -> Iterator[InputRow]:
    """Yield every record of ``path`` as an ``InputRow``, in file order.

    ``mapping`` is ``{state field: input column}``: the column's value goes in
    under the field's name; other columns keep their names.
    """
    mapping = dict(mapping or {})
    if input_format(path) == "jsonl":
        yield from _jsonl_rows(path, mapping, id_field)
    else:
        yield from _csv_rows(path, mapping, id_field)


def _to_state(
    record: dict[str, Any], mapping: Mapping[str, str], id_field: str | None, row: int, line: int
) -> InputRow:
    missing = [column for column in mapping.values() if column not in record]
    if id_field is not None and id_field not in record:
        missing.append(id_field)
    if missing:
        names = ", ".join(repr(m) for m in dict.fromkeys(missing))
        return InputRow(row, line, error=f"line {line}: the row has no column {names}")
    if mapping:
        renamed = set(mapping.values())
        state = {k: v for k, v in record.items() if k not in renamed}
        for field_name, column in mapping.items():
            state[field_name] = record[column]
    else:
        state = record
    return InputRow(row, line, state, id=record[id_field] if id_field is not None else None)


def _jsonl_rows(path: Path, mapping: Mapping[str, str], id_field: str | None) -> Iterator[InputRow]:
    row = 0
    with _open_binary(path) as raw:
        for line, text in enumerate(_text_lines(path, raw), start=1):
            if not text.strip():
                continue
            row += 1
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield InputRow(row, line, error=f"line {line}: not valid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                kind = type(record).__name__
                yield InputRow(row, line, error=f"line {line}: expected a JSON object, got {kind}")
                continue
            yield _to_state(record, mapping, id_field, row, line)


def _csv_rows(path: Path, mapping: Mapping[str, str], id_field: str | None) -> Iterator[InputRow]:
    _allow_long_cells()
    with _open_binary(path) as raw:
        reader = csv.reader(_text_lines(path, raw))
        records = _records(reader)
        header: list[str] | None = None
        for record in records:  # blank lines before the header are skipped
            if isinstance(record, csv.Error):
                raise BatchError(f"{path}:{reader.line_num}: cannot read the CSV header: {record}")
            if record:
                header = [name.strip() for name in record]
                break
        if header is None:
            return
        needed = [*mapping.values(), *([id_field] if id_field is not None else [])]
        absent = [name for name in needed if name not in header]
        if absent:
            names = ", ".join(repr(a) for a in dict.fromkeys(absent))
            raise BatchError(
                f"{path}:{reader.line_num}: the CSV header has no column {names} "
                f"(columns: {', '.join(header)})"
            )
        row = 0
        start = reader.line_num + 1
        for cells in records:
            line, start = start, reader.line_num + 1
            if isinstance(cells, csv.Error):
                row += 1
                yield InputRow(row, line, error=f"line {line}: not a valid CSV record: {cells}")
                continue
            if not cells:
                continue
            row += 1
            if len(cells) != len(header):
                yield InputRow(
                    row,
                    line,
                    error=f"line {line}: {len(cells)} cells where the header has {len(header)}",
                )
                continue
            yield _to_state(dict(zip(header, cells, strict=True)), mapping, id_field, row, line)
