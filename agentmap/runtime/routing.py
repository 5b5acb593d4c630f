"""Where a run goes after a node: the one module that decides.

The inputs are the node, whether it succeeded, the node its agent chose with
``__next__`` (if any) and the state. The rules, in order:

1. a valid ``__next__`` choice is the only next node;
2. otherwise a success follows Success_Next/Edge and a failure Failure_Next;
3. a failure with no Failure_Next (nor Edge) is unhandled: the run fails;
4. a ``func:`` router among the targets is replaced by the node(s) it returns.

More than one target is a fan-out, which the runner hands to
``agentmap.runtime.parallel`` to coordinate; none ends the run (or branch).
``__next__`` is validated by ``check_choice`` as soon as the agent returns, so
an invalid choice fails the node like any other bad result (its Failure_Next
is followed and its outputs are not written).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from agentmap.runtime.keys import NEXT_KEY
from agentmap.runtime.nodes import NOT_CHOSEN, CompiledNode, NodeFailure
from agentmap.runtime.routers import Router
from agentmap.workflow.parsing import is_func_target
from agentmap.workflow.spec import NodeSpec
from agentmap.workflow.suggest import suggest

__all__ = ["Decision", "check_choice", "next_nodes"]

#: (the nodes to run next, or the error that ends the run unhandled).
Decision = tuple[tuple[str, ...], str | None]
_END: Decision = ((), None)


def check_choice(node: CompiledNode, raw: Any) -> str | None:
    """The node an agent chose with ``__next__`` (None if it chose nothing).

    Raises ``NodeFailure`` if the choice is not one of the node's success
    targets; a ``func:`` router among them is not a node an agent can jump to.
    """
    if raw is NOT_CHOSEN:
        return None
    allowed = tuple(t for t in node.on_success if not is_func_target(t))
    if not isinstance(raw, str) or raw not in allowed:
        raise NodeFailure(
            "RoutingError",
            f"node {node.name!r} chose {raw!r} via {NEXT_KEY}, which is not one of "
            f"its targets ({', '.join(allowed) or 'none'})",
        )
    return raw


async def next_nodes(
    node: CompiledNode,
    ok: bool,
    chosen: str | None,
    failure: str,
    state: dict[str, Any],
    graph_nodes: Mapping[str, NodeSpec],
) -> Decision:
    """Where the run goes after ``node``: (next nodes, None) or ((), unhandled error).

    ``chosen`` comes from ``check_choice``; ``failure`` is the node's error
    message when ``ok`` is false (it goes into the unhandled-failure error).
    """
    if chosen is not None:
        return (chosen,), None
    targets = node.on_success if ok else node.on_failure
    if not targets:
        if ok:
            return _END
        return (), (
            f"node {node.name!r} failed and has no Failure_Next or Edge to handle it: {failure}"
        )
    if node.routers is None:
        return targets, None
    return await _call_routers(node.spec, targets, node.routers, state, graph_nodes)


async def _call_routers(
    node: NodeSpec,
    targets: tuple[str, ...],
    routers: Mapping[str, Router],
    state: dict[str, Any],
    graph_nodes: Mapping[str, NodeSpec],
) -> Decision:
    """``targets`` with each router replaced by the node(s) it chose; or an error.

    A router gets a read-only view of the state and returns a node name, a
    list of names (run in parallel) or None (the branch ends here).
    """
    chosen: list[str] = []
    view = MappingProxyType(state)
    for target in targets:
        router = routers.get(target)
        if router is None:
            chosen.append(target)
            continue
        try:
            result = router.func(view)
            if router.is_async:
                result = await result
        except Exception as exc:
            return (), f"node {node.name!r}: router {target} raised {type(exc).__name__}: {exc}"
        names = [result] if isinstance(result, str) else [] if result is None else result
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            return (), (
                f"node {node.name!r}: router {target} returned {result!r}; "
                "return a node name, a list of node names, or None"
            )
        for name in names:
            if name not in graph_nodes:
                hint = suggest(name, list(graph_nodes))
                return (), (
                    f"node {node.name!r}: router {target} chose {name!r}, which is not a node "
                    f"of graph {node.graph!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                )
        chosen.extend(names)
    return tuple(dict.fromkeys(chosen)), None
