"""JSON documents with the stdlib ``json`` module; a syntax error names its line and column."""

from __future__ import annotations

import json
from typing import Any

from agentmap.errors import StorageError

__all__ = ["dump_json", "parse_json"]


def parse_json(text: str, shown: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StorageError(
            f"{shown!r} line {exc.lineno}, column {exc.colno}: malformed JSON: {exc.msg}",
            path=shown,
        ) from None


def dump_json(data: Any, shown: str) -> str:
    """Indented JSON (readable diffs); a value JSON cannot hold is an error naming its type."""
    try:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise StorageError(f"cannot write {shown!r} as JSON: {exc}", path=shown) from None
