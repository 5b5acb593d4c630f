"""State as JSON: the only format durable runs store (never pickle).

The standard library's encoder is used on purpose: it refuses NaN and infinity
(``allow_nan=False``) where a faster encoder writes ``null`` and silently
changes the value, and it keeps integers of any size. A step's delta is a few
small fields, so encoding costs a few microseconds against a budget of 150.

A value that cannot be stored is a ``StateValueError`` naming the node (or
the run's input) and the field, found by encoding field by field only once
the whole delta has failed, so the common case pays for one ``dumps``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmap.errors import StateValueError

__all__ = ["decode", "encode", "encode_delta"]

_dumps = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode


def encode(value: Any) -> str:
    """JSON text of ``value`` (raises ``TypeError``/``ValueError`` as ``json`` does)."""
    return _dumps(value)


def decode(text: str | bytes) -> Any:
    return json.loads(text)


def encode_delta(node: str | None, delta: Mapping[str, Any], *, what: str = "") -> str:
    """JSON text of the fields a node wrote; ``StateValueError`` naming the field otherwise.

    ``node`` None means the run's initial state (``what`` then says so).
    """
    if type(delta) is not dict:
        delta = dict(delta)  # a read-only view (the run's initial state) is not JSON to json
    try:
        text = _dumps(delta)
    except (TypeError, ValueError, RecursionError):
        pass
    else:
        if text.isascii() or _utf8(text):
            return text
    for key, value in delta.items():
        if not isinstance(key, str):
            raise StateValueError(
                f"{_where(node, what)} has a field named {key!r} ({type(key).__name__}); "
                "state field names must be strings to be stored as JSON",
                node=node,
                field=str(key),
            )
        problem = _problem(value)
        if problem is not None:
            raise StateValueError(
                f"{_where(node, what)} {'has' if node is None else 'wrote'} field {key!r}, "
                f"which cannot be stored as JSON: "
                f"{problem}. Durable runs keep state as JSON (str, int, float, bool, None, "
                "list, dict with string keys): convert the value, e.g. to a string or a dict",
                node=node,
                field=key,
            )
    raise StateValueError(f"{_where(node, what)}: state that cannot be stored as JSON")


def _where(node: str | None, what: str) -> str:
    if node is None:
        return what or "the run's initial state"
    return f"node {node!r}"


def _utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(value: Any) -> str | None:
    """Why ``value`` is not JSON, or None if it is."""
    try:
        text = _dumps(value)
    except RecursionError:
        return "it refers to itself (a cycle) or is nested too deeply"
    except ValueError as exc:
        message = str(exc)
        if "Circular" in message:
            return "it refers to itself (a cycle)"
        if "integer string conversion" in message:
            return "it holds an integer too long to write as text (over 4300 digits)"
        return "it holds NaN or infinity, which JSON has no number for"
    except TypeError as exc:
        return _type_problem(value) or str(exc)
    if not text.isascii() and not _utf8(text):
        return (
            "it holds text that is not valid Unicode (a lone surrogate, as bytes decoded "
            "with errors='surrogateescape' give)"
        )
    return None


def _type_problem(value: Any, path: str = "") -> str | None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path or 'the value'} has a key {key!r} of type {type(key).__name__}"
            found = _type_problem(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _type_problem(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    where = f" at {path}" if path else ""
    return f"a {type(value).__module__}.{type(value).__qualname__}{where}"
