"""Per-node execution policy (timeout, retries) read once from a node's Context.

Parsing happens when a runner is built, not per step, and a bad value is a
``WorkflowError`` naming the node, so a typo such as ``{"timeout": "30s"}``
fails before the first node runs rather than half-way through a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.runtime.routers import load_routers
from agentmap.workflow.spec import GraphSpec, NodeSpec

__all__ = ["RETURNED_ERROR", "RetryPolicy", "check_runnable", "node_policy"]

#: The error type recorded when an agent returns ``{"error": ...}`` instead of raising.
RETURNED_ERROR = "AgentReturnedError"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout: float | None = None
    retries: int = 0
    retry_on: frozenset[str] | None = None
    base_delay: float = 0.5
    max_delay: float = 30.0

    def should_retry(self, error_types: tuple[str, ...]) -> bool:
        """``error_types``: the failure's class name and its base classes' names."""
        return self.retry_on is None or not self.retry_on.isdisjoint(error_types)

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        """Back-off before attempt ``attempt + 1``: exponential, capped, with equal jitter.

        Equal jitter (half fixed, half random) spreads retries from many rows of a
        batch apart while still guaranteeing a minimum wait.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + rand() * ceiling / 2


def _fail(node: NodeSpec, key: str, message: str) -> WorkflowError:
    return WorkflowError(
        Diagnostic.for_node(node, f"Context key {key!r} {message}", column="Context")
    )


def _number(node: NodeSpec, key: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if integer else "a number of seconds"
        raise _fail(node, key, f"must be {kind}, got {value!r}")
    if value < 0 or (integer and value != int(value)):
        raise _fail(node, key, f"must be a non-negative {'integer' if integer else 'number'}")
    return float(value)


def node_policy(node: NodeSpec, *, base_delay: float, max_delay: float) -> RetryPolicy:
    ctx = node.context
    timeout = ctx.get("timeout")
    retries = ctx.get("retries", 0)
    retry_on = ctx.get("retry_on")
    if isinstance(retry_on, str):
        retry_on = [retry_on]
    if retry_on is not None and (
        not isinstance(retry_on, list | tuple) or not all(isinstance(x, str) for x in retry_on)
    ):
        raise _fail(
            node, "retry_on", f"must be an exception name or a list of them, got {retry_on!r}"
        )
    delay = ctx.get("retry_delay", base_delay)
    return RetryPolicy(
        timeout=None if timeout is None else _number(node, "timeout", timeout) or None,
        retries=int(_number(node, "retries", retries, integer=True)),
        retry_on=None if retry_on is None else frozenset(retry_on),
        base_delay=_number(node, "retry_delay", delay),
        max_delay=max_delay,
    )


def check_runnable(
    graphs: Iterable[GraphSpec], *, functions: Sequence[Path] = ()
) -> list[Diagnostic]:
    """What ``agentmap validate`` adds to the loader's checks: the runtime's own.

    Raises ``WorkflowError`` with every Context policy value a run would reject
    and every ``func:`` router that does not load (from ``functions`` or a
    ``functions`` folder beside the CSV); returns warnings (none so far).
    """
    problems: list[Diagnostic] = []
    for graph in graphs:
        folders = [*functions]
        if graph.file is not None:
            folders.append(graph.file.parent / "functions")
        for node in graph.nodes.values():
            try:
                node_policy(node, base_delay=0.0, max_delay=0.0)
            except WorkflowError as exc:
                problems.extend(exc.diagnostics)
            try:
                load_routers(node, folders)
            except WorkflowError as exc:
                problems.extend(exc.diagnostics)
    if problems:
        raise WorkflowError(problems)
    return []
