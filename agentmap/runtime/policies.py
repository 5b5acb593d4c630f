"""Per-node execution policy (timeout, retries) read once from a node's Context.

Parsing happens when a runner is built, not per step, and a bad value is a
``WorkflowError`` naming the node, so a typo such as ``{"timeout": "30s"}``
fails before the first node runs rather than half-way through a batch.

Which failures are retried (docs/running.md, "Retries"): without ``retry_on``,
every failure that might succeed on a second attempt, that is, all but the
ones ``retryable_by_default`` rules out (the same idea as LangGraph's
``default_retry_on``). ``retry_on`` replaces that rule with a list of exception
names, or ``"*"``/``"all"`` for every failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmap.errors import AgentMapError, Diagnostic, WorkflowError
from agentmap.runtime.backoff import RETRY_BASE_DELAY, RETRY_MAX_DELAY, backoff_delay
from agentmap.runtime.routers import load_routers
from agentmap.workflow.spec import FUNCTIONS_FOLDER, GraphSpec, NodeSpec, beside_workflow

__all__ = [
    "NOT_RETRIED",
    "RETRY_EVERYTHING",
    "RETURNED_ERROR",
    "RetryPolicy",
    "check_runnable",
    "node_policy",
    "retryable_by_default",
]

#: The error type recorded when an agent returns ``{"error": ...}`` instead of raising.
RETURNED_ERROR = "AgentReturnedError"

#: Failures a second attempt with the same inputs repeats: bugs in the agent
#: (wrong type, missing key, bad value) and AgentMap's own errors (a workflow or
#: configuration mistake). An exception class may decide for itself with a
#: boolean ``retryable`` attribute (the LLM errors do: authentication and bad
#: request are not retryable, rate limits and timeouts are), which wins.
NOT_RETRIED: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    AttributeError,
    NameError,
    AgentMapError,
)

#: ``retry_on`` values that retry every failure.
RETRY_EVERYTHING = frozenset({"*", "all"})


def retryable_by_default(error: BaseException) -> bool:
    """Whether a node failure is retried when its Context has no ``retry_on``.

    The class's ``retryable`` attribute decides when it is a bool (detected by
    attribute so the runtime needs no import of the services that define such
    errors); otherwise everything but ``NOT_RETRIED`` is retried.
    """
    flag = getattr(error, "retryable", None)
    if isinstance(flag, bool):
        return flag
    return not isinstance(error, NOT_RETRIED)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout: float | None = None
    retries: int = 0
    #: Exception names to retry (matched against the class and its bases), or
    #: None for ``retryable_by_default``; ``RETRY_EVERYTHING`` entries retry all.
    retry_on: frozenset[str] | None = None
    base_delay: float = RETRY_BASE_DELAY
    max_delay: float = RETRY_MAX_DELAY

    def should_retry(self, error: BaseException | None) -> bool:
        """``error``: the exception the agent raised, or None if it returned ``{"error": ...}``.

        A returned error is retried by default (the agent reported a failure,
        not a bug) and matches ``retry_on`` as ``AgentReturnedError``.
        """
        retry_on = self.retry_on
        if retry_on is None:
            return error is None or retryable_by_default(error)
        if not retry_on.isdisjoint(RETRY_EVERYTHING):
            return True
        if error is None:
            return RETURNED_ERROR in retry_on
        return any(cls.__name__ in retry_on for cls in type(error).__mro__)

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        """Back-off before attempt ``attempt + 1`` (see ``agentmap.runtime.backoff``)."""
        return backoff_delay(attempt - 1, self.base_delay, self.max_delay, rand)


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


def node_policy(
    node: NodeSpec, *, base_delay: float = RETRY_BASE_DELAY, max_delay: float = RETRY_MAX_DELAY
) -> RetryPolicy:
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


def check_runnable(graphs: Iterable[GraphSpec], *, functions: Sequence[Path] = ()) -> None:
    """What ``agentmap validate`` adds to the loader's checks: the runtime's own.

    Raises ``WorkflowError`` with every Context policy value a run would reject
    and every ``func:`` router that does not load (from ``functions`` or a
    ``functions`` folder beside the CSV); returns nothing when all is well.
    """
    problems: list[Diagnostic] = []
    for graph in graphs:
        folders = [*functions]
        if graph.file is not None:
            folders.append(beside_workflow(graph.file, FUNCTIONS_FOLDER))
        for node in graph.nodes.values():
            try:
                node_policy(node)
            except WorkflowError as exc:
                problems.extend(exc.diagnostics)
            try:
                load_routers(node, folders)
            except WorkflowError as exc:
                problems.extend(exc.diagnostics)
    if problems:
        raise WorkflowError(problems)
