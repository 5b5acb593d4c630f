"""Reading a workflow file into stripped rows that remember their line numbers.

Every later error message points at a line, so the reader's main job is to get
line numbers right (a quoted cell may span several physical lines) and to turn
every way a file can be unreadable into a ``WorkflowError`` that says where,
instead of a ``UnicodeDecodeError`` or ``csv.Error`` traceback.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from agentmap.errors import Diagnostic, WorkflowError

__all__ = ["Record", "Table", "read_table"]


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: its stripped cells and the physical line it starts on (1-based)."""

    line: int
    cells: list[str]


@dataclass(frozen=True, slots=True)
class Table:
    header: Record
    rows: list[Record]
    #: The ``#`` comment rows, kept because some carry directives (``# inputs: a, b``).
    comments: list[Record] = field(default_factory=list)


def read_table(file: Path) -> Table:
    """The header and data rows of ``file``; blank rows are dropped, comment rows set aside."""
    text = _read_text(file)
    if not text.strip():
        raise WorkflowError(
            Diagnostic("the file is empty; expected a header row such as Node,Edge", file=file)
        )
    records, comments = _parse(text, file)
    if not records:
        raise WorkflowError(
            Diagnostic("the file has only blank lines and comments; expected a header row", file)
        )
    header, rows = records[0], records[1:]
    if not rows:
        raise WorkflowError(
            Diagnostic("the file has a header but no node rows", file=file, line=header.line)
        )
    return Table(header, rows, comments)


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise WorkflowError(Diagnostic("workflow file not found", file=file)) from None
    except IsADirectoryError:
        raise WorkflowError(Diagnostic("is a directory, not a CSV file", file=file)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WorkflowError(Diagnostic(f"cannot read the file: {reason}", file=file)) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise WorkflowError(
            Diagnostic("the file is UTF-16 encoded; save it as UTF-8 (CSV UTF-8)", file=file)
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise WorkflowError(
            Diagnostic("binary data (a NUL byte): this is not a CSV text file", file, line)
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        message = f"byte 0x{byte:02x} is not valid UTF-8; save the file as UTF-8 (CSV UTF-8)"
        raise WorkflowError(Diagnostic(message, file=file, line=line)) from None


def _parse(text: str, file: Path) -> tuple[list[Record], list[Record]]:
    # newline="" keeps line endings inside quoted cells, which csv needs; strict
    # makes csv reject text after a closing quote instead of silently gluing it on;
    # skipinitialspace lets hand-written `a, "b, c"` quote the way it looks.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    records: list[Record] = []
    comments: list[Record] = []
    consumed = 0
    try:
        for row in reader:
            start, consumed = consumed + 1, reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if cells[0].startswith("#"):
                comments.append(Record(start, cells))
                continue
            records.append(Record(start, cells))
    except csv.Error as exc:
        diagnostic = _quoting_error(text, file, consumed + 1, reader.line_num, exc)
        raise WorkflowError(diagnostic) from None
    return records, comments


def _quoting_error(text: str, file: Path, start: int, end: int, exc: csv.Error) -> Diagnostic:
    reason = str(exc)
    if reason.startswith("unexpected end of data"):
        opened = _open_quote_line(text, start) or start
        return Diagnostic(
            f"unclosed quote: the quoted cell opened on line {opened} never ends (it runs to "
            'the end of the file); close it with " and write a quote inside a cell as ""',
            file=file,
            line=opened,
        )
    if "expected after" in reason:
        reason = 'text after the closing quote of a cell; write a quote inside a cell as ""'
    message = f"bad quoting: {reason}"
    if start != end:
        message += f" (this record started on line {start}: is a quote left open there?)"
    return Diagnostic(message, file=file, line=end)


def _open_quote_line(text: str, start: int) -> int | None:
    """The line on which the quote still open at end of file was opened.

    Mirrors csv's quoting rules from the start of the failing record; only
    called on the error path, so its speed does not matter.
    """
    quoted, at_field_start, opened = False, True, None
    lines = io.StringIO(text, newline="")  # the same line splitting as csv's line_num
    for number, line in enumerate(lines, 1):
        if number < start:
            continue
        chars = iter(line)
        for char in chars:
            if quoted:
                if char != '"':
                    continue
                following = next(chars, "")
                if following != '"':  # a doubled quote is a literal; a lone one closes
                    quoted, at_field_start = False, following in ",\r\n"
            elif char in ",\r\n":
                at_field_start = True
            elif char == '"' and at_field_start:
                quoted, opened = True, number
            elif char != " ":
                at_field_start = False
    return opened if quoted else None
