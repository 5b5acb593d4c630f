"""AgentMap 0.9's ``query`` filters and reader ``format`` choices over lists of records.

A query is a dict: each key other than ``limit``, ``offset``, ``sort`` and
``order`` is a field that must equal the value (a list value: any of them).
CSV cells are text, so values are compared as text (``{"id": 3}`` matches the
cell ``"3"``), the way a user reading the file would compare them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmap.errors import StorageError
from agentmap.services.storage._csv import cell

__all__ = ["apply_query", "as_query", "same", "select_id"]

_SPECIAL = frozenset({"limit", "offset", "sort", "order"})


def same(a: Any, b: Any) -> bool:
    return a == b or cell(a) == cell(b)


def as_query(query: Any, shown: str) -> dict[str, Any] | None:
    """``query`` as a dict (JSON text is parsed); None or empty: no filter."""
    if query is None or query == "" or query == {}:
        return None
    if isinstance(query, str):
        try:
            query = json.loads(query)
        except json.JSONDecodeError:
            query = None
    if not isinstance(query, Mapping):
        raise StorageError(
            f"query for {shown!r} must be a dict of field: value (or its JSON text)", path=shown
        )
    return dict(query)


def _matches(record: Any, filters: Mapping[str, Any]) -> bool:
    if not isinstance(record, Mapping):
        return False
    for field, wanted in filters.items():
        value = record.get(field)
        if isinstance(wanted, list | tuple):
            if not any(same(value, w) for w in wanted):
                return False
        elif not same(value, wanted):
            return False
    return True


def apply_query(records: list[Any], query: Mapping[str, Any], shown: str) -> list[Any]:
    filters = {k: v for k, v in query.items() if k not in _SPECIAL}
    out = [r for r in records if _matches(r, filters)] if filters else list(records)
    sort = query.get("sort")
    if sort:
        descending = str(query.get("order", "asc")).lower() == "desc"
        out.sort(
            key=lambda r: cell(r.get(sort)) if isinstance(r, Mapping) else "", reverse=descending
        )
    try:
        offset = int(query.get("offset") or 0)
        limit = query.get("limit")
        end = None if limit is None else offset + int(limit)
    except (TypeError, ValueError):
        raise StorageError(
            f"query for {shown!r}: limit and offset must be whole numbers", path=shown
        ) from None
    return out[offset:end]


def select_id(records: list[Any], document_id: Any, id_field: str) -> int | None:
    """The index of the first record whose ``id_field`` equals ``document_id``."""
    for index, record in enumerate(records):
        if isinstance(record, Mapping) and same(record.get(id_field), document_id):
            return index
    return None
