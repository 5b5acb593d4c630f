"""Graph-level checks that need every node of a graph: targets, reachability, exits.

All walks are iterative and linear in nodes + edges, because a generated
workflow may be a chain of thousands of nodes and must neither hit Python's
recursion limit nor slow down loading.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from agentmap.errors import Diagnostic
from agentmap.workflow.parsing import is_func_target
from agentmap.workflow.spec import GraphSpec, NodeSpec
from agentmap.workflow.suggest import suggest

__all__ = ["NEXT_COLUMNS", "check_graph"]

_SHOWN = 10  # cycle members named in a message; a generated cycle can be huge
# Fuzzy matching costs ~30 ms against 5,000 names: suggest for the first few
# dangling targets only, so a file full of broken targets still fails fast.
_SUGGESTED = 20

#: The columns that name next nodes, with the NodeSpec attribute holding each.
NEXT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Edge", "edge"),
    ("Success_Next", "success_next"),
    ("Failure_Next", "failure_next"),
)


def check_graph(graph: GraphSpec, graphs: Mapping[str, GraphSpec]) -> list[Diagnostic]:
    """Dangling targets (errors), unreachable nodes (warnings), cycles with no exit (errors).

    ``graphs`` are all graphs of the file, used to explain a target that names a
    node of another graph (targets never cross graphs).
    """
    nodes = graph.nodes
    diagnostics: list[Diagnostic] = []
    successors: dict[str, list[str]] = {}
    # Nodes that may end a run: no next node at all, a func: router (it may route
    # anywhere, so it is given the benefit of the doubt) or a dangling target
    # (already an error; treating it as an exit avoids a second, confusing one).
    exits: list[str] = []
    routers: set[str] = set()
    dangling = 0
    for node in nodes.values():
        found: list[str] = []
        exit_here = not node.targets
        for column, attr in NEXT_COLUMNS:
            for target in getattr(node, attr):
                if is_func_target(target):
                    routers.add(node.name)
                    exit_here = True
                elif target in nodes:
                    found.append(target)
                else:
                    exit_here = True
                    hint = dangling < _SUGGESTED
                    dangling += 1
                    diagnostics.append(_dangling(graph, node, column, target, graphs, hint))
        successors[node.name] = found
        if exit_here:
            exits.append(node.name)
    diagnostics.extend(_unreachable(graph, successors, routers))
    diagnostics.extend(_trapped_cycles(graph, successors, exits))
    return diagnostics


def _dangling(
    graph: GraphSpec,
    node: NodeSpec,
    column: str,
    target: str,
    graphs: Mapping[str, GraphSpec],
    hint: bool,
) -> Diagnostic:
    message = f"target {target!r} is not a node of this graph"
    owner = next((g.name for g in graphs.values() if g is not graph and target in g.nodes), None)
    if owner is not None:
        message += f" (it is a node of graph {owner!r}; a graph agent can run another graph)"
    return Diagnostic.for_node(
        node, message, column=column, suggestion=suggest(target, graph.nodes) if hint else None
    )


def _unreachable(
    graph: GraphSpec, successors: Mapping[str, list[str]], routers: set[str]
) -> list[Diagnostic]:
    seen = {graph.entry}
    queue = deque(seen)
    while queue:
        name = queue.popleft()
        if name in routers:
            return []  # a func: router may route to any node: nothing is provably unreachable
        for target in successors[name]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return [
        Diagnostic.for_node(
            node,
            f"node is unreachable from the entry node {graph.entry!r}; it never runs",
            column="Node",
            severity="warning",
        )
        for node in graph.nodes.values()
        if node.name not in seen
    ]


def _trapped_cycles(
    graph: GraphSpec, successors: Mapping[str, list[str]], exits: Iterable[str]
) -> list[Diagnostic]:
    """Cycles from which no exit can be reached: a run entering them never ends."""
    predecessors: dict[str, list[str]] = {name: [] for name in successors}
    for source, targets in successors.items():
        for target in targets:
            predecessors[target].append(source)
    can_exit = set(exits)
    queue = deque(can_exit)
    while queue:
        for source in predecessors[queue.popleft()]:
            if source not in can_exit:
                can_exit.add(source)
                queue.append(source)
    trapped = [name for name in successors if name not in can_exit]
    if not trapped:
        return []
    diagnostics = []
    order = {name: i for i, name in enumerate(graph.nodes)}
    for component in _components(trapped, successors):
        first = component[0]
        if len(component) == 1 and first not in successors[first]:
            continue  # leads into a trapped cycle, which is reported itself
        component.sort(key=order.__getitem__)
        first = component[0]
        node = graph.nodes[first]
        names = ", ".join(repr(name) for name in component[:_SHOWN])
        if len(component) > _SHOWN:
            names += f" and {len(component) - _SHOWN} more"
        column = next((c for c, attr in NEXT_COLUMNS if getattr(node, attr)), "Edge")
        diagnostics.append(
            Diagnostic(
                f"cycle with no exit: no path from {names} reaches a node without a next "
                "node, so a run entering this loop never ends",
                file=node.file,
                line=node.line,
                column=column,
                node=first,
                graph=graph.name,
            )
        )
    return diagnostics


def _components(roots: list[str], successors: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's algorithm, with an explicit stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in roots:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors[root]))]
        while work:
            name, pending = work[-1]
            for target in pending:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(successors[target])))
                    break
                if target in on_stack:
                    low[name] = min(low[name], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[name])
                if low[name] == index[name]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == name:
                            break
                    components.append(component)
    return components
