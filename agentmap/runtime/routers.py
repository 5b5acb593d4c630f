"""Loading ``func:module.function`` routers: Python functions that choose a node's next node(s).

Calling them, and every other decision about where a run goes next, is
``agentmap.runtime.routing``'s.

A router is loaded from a file in the configured functions folder (or a
``functions`` folder beside the CSV), never imported from ``sys.path``: a
workflow file must not be able to run arbitrary installed code by naming it.
Loading happens when the runner is built, so a missing module or function is
a ``WorkflowError`` before the first node runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentmap._imports import import_file
from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow.parsing import FUNC_PREFIX, is_func_target
from agentmap.workflow.spec import NodeSpec
from agentmap.workflow.suggest import suggest
from agentmap.workflow.validation import NEXT_COLUMNS

__all__ = ["Router", "load_routers"]


class Router:
    """A loaded router function and the reference it was written as."""

    __slots__ = ("func", "is_async", "ref")

    def __init__(self, ref: str, func: Callable[..., Any]) -> None:
        self.ref = ref
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func)


def _column(node: NodeSpec, ref: str) -> str:
    return next((col for col, attr in NEXT_COLUMNS if ref in getattr(node, attr)), "Edge")


def _load(node: NodeSpec, ref: str, folders: Sequence[Path]) -> Router:
    dotted = ref[len(FUNC_PREFIX) :].strip()
    module_name, _, func_name = dotted.rpartition(".")
    relative = Path(*module_name.split(".")).with_suffix(".py")
    candidates = [folder / relative for folder in folders]
    file = next((path for path in candidates if path.is_file()), None)
    column = _column(node, ref)
    if file is None:
        searched = ", ".join(str(path) for path in candidates) or "no functions folder"
        raise WorkflowError(
            Diagnostic.for_node(
                node,
                f"router {ref} not found: looked for {searched} (settings paths.functions "
                "or a functions/ folder beside the CSV)",
                column=column,
            )
        )
    try:
        module = import_file(file, "agentmap_functions")
    except Exception as exc:
        raise WorkflowError(
            Diagnostic.for_node(
                node,
                f"router {ref}: {file} failed to import: {type(exc).__name__}: {exc}",
                column=column,
            )
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise WorkflowError(
            Diagnostic.for_node(
                node,
                f"router {ref}: {file} has no function {func_name!r}",
                column=column,
                suggestion=suggest(func_name, names),
            )
        )
    return Router(ref, func)


def load_routers(node: NodeSpec, folders: Sequence[Path]) -> dict[str, Router]:
    """The routers named in ``node``'s next columns, by reference."""
    return {ref: _load(node, ref, folders) for ref in node.targets if is_func_target(ref)}
