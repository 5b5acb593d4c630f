"""CSV documents as lists of row dicts, with the stdlib ``csv`` module.

Cells are read as text (CSV has no types). On write, text stays as is, ``None``
becomes an empty cell and lists or dicts become JSON, so a row read back is
the row written, as text. The columns of a file are its header; rows bringing
new keys add columns at the end.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentmap.errors import StorageError

__all__ = ["cell", "dump_csv", "parse_csv"]

Row = dict[str, str]


def parse_csv(text: str, shown: str) -> tuple[list[str], list[Row]]:
    """The header and the rows; a malformed line is an error naming its number.

    A row with more cells than the header is malformed (a stray comma or
    quote); a shorter row is padded with empty cells, as spreadsheets write them.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return [], []
        if len(set(header)) != len(header) or any(not h.strip() for h in header):
            raise StorageError(
                f"{shown!r} line 1: the header must name every column once, got {header}",
                path=shown,
            )
        width = len(header)
        rows: list[Row] = []
        for cells in reader:
            if not cells:
                continue
            if len(cells) > width:
                raise StorageError(
                    f"{shown!r} line {reader.line_num}: {len(cells)} cells but the header has "
                    f"{width} columns (an unquoted comma?)",
                    path=shown,
                )
            if len(cells) < width:
                cells += [""] * (width - len(cells))
            rows.append(dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise StorageError(
            f"{shown!r} line {reader.line_num}: malformed CSV: {exc}", path=shown
        ) from None
    return header, rows


def cell(value: Any) -> str:
    """A value as CSV text: None empty, collections as JSON, everything else ``str``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def columns(header: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``header``, then every new key of ``rows`` in the order first seen."""
    out = list(header)
    seen = set(out)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def dump_csv(rows: Sequence[Mapping[str, Any]], header: Iterable[str] = ()) -> str:
    """CSV text of ``rows`` under ``header`` extended by their new keys."""
    names = columns(header, rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in names])
    return buffer.getvalue()
