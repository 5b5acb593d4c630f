"""Parsers for the cells of one row; each raises ``CellError`` with a reason a user can act on.

They know nothing about lines, nodes or files: the loader adds the location,
which keeps these functions small enough to test cell by cell.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from agentmap.workflow.spec import FieldMapping
from agentmap.workflow.suggest import suggest

__all__ = [
    "FUNC_PREFIX",
    "AgentTypes",
    "CellError",
    "is_func_target",
    "parse_context",
    "parse_inputs",
    "parse_inputs_directive",
    "parse_outputs",
    "parse_targets",
    "parse_tools",
    "split_list",
]

FUNC_PREFIX = "func:"
_CUSTOM_PREFIX = "custom:"
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})
# "# inputs: a, b" or "# inputs(Graph): a|b"; "input" is accepted too, being an easy slip.
_INPUTS_DIRECTIVE = re.compile(
    r"#\s*inputs?\s*(?:\((?P<graph>[^()]*)\))?\s*:(?P<names>.*)", re.IGNORECASE | re.DOTALL
)
_NAME_SEPARATORS = re.compile(r"[,|]")


class CellError(ValueError):
    """A cell that cannot be parsed; ``suggestion`` is a likely correct value, if any."""

    def __init__(self, reason: str, suggestion: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


def split_list(cell: str) -> list[str]:
    """``a | b||c`` -> ``["a", "b", "c"]``: whitespace around items and empty items dropped."""
    if "|" not in cell:
        return [cell] if cell else []
    return [item for item in (part.strip() for part in cell.split("|")) if item]


def is_func_target(target: str) -> bool:
    return target.startswith(FUNC_PREFIX)


def parse_targets(cell: str) -> tuple[str, ...]:
    """Next-node names; ``func:module.function`` routers are kept as written."""
    if "|" not in cell and not is_func_target(cell):
        return (cell,) if cell else ()
    targets = split_list(cell)
    for target in targets:
        if is_func_target(target) and not _DOTTED.fullmatch(target[len(FUNC_PREFIX) :].strip()):
            raise CellError(f"{target!r} is not a function reference; write func:module.function")
    return tuple(targets)


def parse_inputs(cell: str) -> tuple[FieldMapping, ...]:
    """``a``, ``state_key:param`` (rename) or ``child=parent`` (subgraph mapping) items."""
    if "|" not in cell and ":" not in cell and "=" not in cell:
        return (FieldMapping(cell, cell),) if cell else ()
    mappings = []
    for item in split_list(cell):
        if ":" in item and "=" in item:
            raise CellError(f"{item!r} mixes ':' and '='; use state_key:param or child=parent")
        if ":" in item:
            state_key, name = _pair(item, ":")
        elif "=" in item:
            name, state_key = _pair(item, "=")
        else:
            state_key = name = item
        mappings.append(FieldMapping(state_key, name))
    _reject_repeats([m.name for m in mappings], "input parameter")
    return tuple(mappings)


def parse_outputs(cell: str) -> tuple[FieldMapping, ...]:
    """``a``, ``parent=child`` (subgraph mapping) or ``state_key:name`` (rename) items.

    ``state_key:name`` is accepted so that ``str(FieldMapping)`` reads back as
    the same mapping, and so that renaming reads the same way as in Input_Fields.
    """
    if "|" not in cell and ":" not in cell and "=" not in cell:
        return (FieldMapping(cell, cell),) if cell else ()
    mappings = []
    for item in split_list(cell):
        if ":" in item and "=" in item:
            raise CellError(f"{item!r} mixes ':' and '='; use parent=child or state_key:name")
        if "=" in item or ":" in item:
            state_key, name = _pair(item, "=" if "=" in item else ":")
        else:
            state_key = name = item
        mappings.append(FieldMapping(state_key, name))
    _reject_repeats([m.state_key for m in mappings], "output field")
    return tuple(mappings)


def _pair(item: str, separator: str) -> tuple[str, str]:
    left, _, right = item.partition(separator)
    left, right = left.strip(), right.strip()
    if not left or not right or separator in right:
        raise CellError(f"{item!r} must be two names joined by one {separator!r}")
    return left, right


def _reject_repeats(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CellError(f"{what} {name!r} is listed twice")
        seen.add(name)


def parse_tools(cell: str) -> tuple[str, ...]:
    """Available_Tools: tool names separated by ``|`` (or commas), each a Python identifier."""
    names = tuple(dict.fromkeys(n.strip() for n in _NAME_SEPARATORS.split(cell) if n.strip()))
    for name in names:
        if not name.isidentifier():
            raise CellError(f"{name!r} is not a tool name; list function names, e.g. add|lookup")
    return names


def parse_inputs_directive(cells: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """The run inputs a comment row declares: ``(graph, names)``, or None for a plain comment.

    ``# inputs: a, b`` (or ``a|b``) gives ``("", ("a", "b"))``, meaning every
    graph of the file; ``# inputs(Main): a`` gives ``("Main", ("a",))``. The CSV
    reader has already split the row at its commas, so the cells are joined back
    first: an unquoted ``# inputs: a, b`` is read as the user wrote it.
    """
    match = _INPUTS_DIRECTIVE.match(",".join(cells))
    if match is None:
        return None
    names = (name.strip() for name in _NAME_SEPARATORS.split(match["names"]))
    return (match["graph"] or "").strip(), tuple(dict.fromkeys(name for name in names if name))


def parse_context(cell: str) -> Mapping[str, Any]:
    """A JSON object, a Python dict literal, or free text (kept as ``{"text": cell}``).

    Only a cell starting with ``{`` is taken as structured, so prose that happens
    to contain braces elsewhere stays prose; but a cell that does start with
    ``{`` and fails to parse is an error, never silently demoted to text.
    """
    if not cell:
        return _EMPTY_CONTEXT
    if not cell.startswith("{"):
        return MappingProxyType({"text": cell})
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as exc:
        json_reason = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        try:
            value = ast.literal_eval(cell)  # literals only: never runs code
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as py_exc:
            raise CellError(
                f"Context starts with '{{' but is neither a JSON object ({json_reason}) "
                f"nor a Python dict literal ({_literal_reason(py_exc)})"
            ) from None
    except RecursionError:
        raise CellError("Context is nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise CellError(f"Context must be an object/dict, got {type(value).__name__}")
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        raise CellError(f"Context keys must be strings, got {bad[0]!r}")
    return MappingProxyType(value)


def _literal_reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.offset}"
    if isinstance(exc, ValueError) and "malformed node" in str(exc):
        return "only literals are allowed: no names, calls or expressions"
    return type(exc).__name__ if not str(exc) else str(exc)


class AgentTypes:
    """Resolves AgentType cells against the known types, returning their canonical spelling."""

    def __init__(self, known: Collection[str] | None) -> None:
        self.known: frozenset[str] | None = None if known is None else frozenset(known)
        self._folded: dict[str, str] = {}
        for name in sorted(self.known or ()):
            self._folded.setdefault(name.casefold(), name)

    def resolve(self, cell: str) -> str:
        """Empty means ``default``; ``custom:`` is optional; case is ignored."""
        name = cell
        if name[: len(_CUSTOM_PREFIX)].casefold() == _CUSTOM_PREFIX:
            name = name[len(_CUSTOM_PREFIX) :].strip()
            if not name:
                raise CellError("'custom:' must be followed by an agent type name")
        name = name or "default"
        if self.known is None or name in self.known:
            return name
        canonical = self._folded.get(name.casefold())
        if canonical is not None:
            return canonical
        hint = suggest(name, self.known)
        reason = f"unknown agent type {name!r}"
        if hint is None:
            reason += f"; known types: {', '.join(sorted(self.known, key=str.casefold))}"
        raise CellError(reason, hint)
