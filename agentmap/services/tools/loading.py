"""Finding a node's tools: its ``Tool_Source`` (a file or a module) and ``Available_Tools``.

``Tool_Source`` is a Python file when it ends in ``.py`` or holds a path
separator (relative paths are read from the CSV's folder), otherwise an
importable module name (``mypackage.tools``), as in AgentMap 0.9. With
``Available_Tools`` the listed functions are offered (decorated or not);
without it, every ``@agentmap.tool`` function of the source.

Every problem (a missing file, a module that fails to import, an unknown tool
name, a function whose schema cannot be built) is a ``WorkflowError`` naming
the file, line, node and column, raised by ``agentmap validate`` and when the
node's agent is built, never in the middle of a run.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from agentmap._imports import import_file
from agentmap.errors import Diagnostic, WorkflowError
from agentmap.services.tools.core import TOOL_MARK, Tool, ToolSchemaError, build_tool
from agentmap.workflow.spec import NodeSpec
from agentmap.workflow.suggest import suggest

__all__ = ["ToolLoadError", "load_tools", "node_tools"]

_lock = threading.Lock()
_built: dict[tuple[str, tuple[str, ...]], tuple[Tool, ...]] = {}


class ToolLoadError(ValueError):
    """A tool source or name that does not load; ``column`` is the CSV column to blame."""

    def __init__(self, message: str, column: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.suggestion = suggestion


def _is_file(source: str) -> bool:
    return source.endswith(".py") or "/" in source or "\\" in source


def _module(source: str, base: Path | None) -> tuple[ModuleType, str]:
    """The source's module and how to name it in messages."""
    if _is_file(source):
        path = Path(source).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ToolLoadError(f"Tool_Source {source!r}: no such file {path}", "Tool_Source")
        where = str(path)

        def loader() -> ModuleType:
            return import_file(path, "agentmap_tools")
    else:
        if not all(part.isidentifier() for part in source.split(".")):
            raise ToolLoadError(
                f"Tool_Source {source!r} is neither a .py file nor a module name", "Tool_Source"
            )
        where = f"module {source}"

        def loader() -> ModuleType:
            return importlib.import_module(source)

    try:
        return loader(), where
    except ModuleNotFoundError as exc:
        if exc.name is not None and source.startswith(exc.name) and not _is_file(source):
            message = f"Tool_Source {source!r}: no module named {exc.name!r}"
            raise ToolLoadError(message, "Tool_Source") from exc
        raise ToolLoadError(
            f"Tool_Source {source!r}: {where} failed to import: {type(exc).__name__}: {exc}",
            "Tool_Source",
        ) from exc
    except Exception as exc:
        raise ToolLoadError(
            f"Tool_Source {source!r}: {where} failed to import: {type(exc).__name__}: {exc}",
            "Tool_Source",
        ) from exc


def load_tools(
    source: str, names: Sequence[str] = (), *, base: Path | None = None
) -> tuple[Tool, ...]:
    """The tools ``names`` of ``source`` (all its ``@tool`` functions when ``names`` is empty).

    ``base`` is the folder a relative file is read from (the CSV's). Raises ``ToolLoadError``.
    """
    module, where = _module(source, base)
    key = (f"{id(module)}:{source}", tuple(names))
    with _lock:
        cached = _built.get(key)
    if cached is not None:
        return cached
    funcs: list[tuple[Callable[..., Any], str | None]] = []
    if names:
        for name in names:
            func = getattr(module, name, None)
            if func is None:
                func = next((v for v in vars(module).values() if _marked_name(v) == name), None)
            if not callable(func):
                known = [
                    n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                ]
                raise ToolLoadError(
                    f"Available_Tools names {name!r}, but {where} has no such function",
                    "Available_Tools",
                    suggest(name, known),
                )
            funcs.append((func, name))
        column = "Available_Tools"
    else:
        funcs = [(v, None) for v in vars(module).values() if callable(v) and hasattr(v, TOOL_MARK)]
        if not funcs:
            raise ToolLoadError(
                f"Tool_Source {source!r}: {where} has no @agentmap.tool function; decorate "
                "the tools, or list them in Available_Tools",
                "Tool_Source",
            )
        column = "Tool_Source"
    tools: list[Tool] = []
    for func, listed in funcs:
        try:
            tools.append(build_tool(func, listed))
        except ToolSchemaError as exc:
            raise ToolLoadError(f"{where}: {exc}", column) from None
    seen: set[str] = set()
    for built in tools:
        if built.name in seen:
            raise ToolLoadError(f"{where}: two tools are named {built.name!r}", column)
        seen.add(built.name)
    result = tuple(tools)
    with _lock:
        _built[key] = result
    return result


def _marked_name(value: object) -> str | None:
    mark = getattr(value, TOOL_MARK, None)
    return mark.get("name") if isinstance(mark, dict) else None


def node_tools(node: NodeSpec) -> tuple[Tool, ...]:
    """The tools of ``node`` (none when it has no Tool_Source); ``WorkflowError`` at its row."""
    if not node.tool_source:
        return ()
    base = node.file.parent if node.file is not None else None
    try:
        return load_tools(node.tool_source, node.tools, base=base)
    except ToolLoadError as exc:
        raise WorkflowError(
            Diagnostic.for_node(node, str(exc), column=exc.column, suggestion=exc.suggestion)
        ) from None
