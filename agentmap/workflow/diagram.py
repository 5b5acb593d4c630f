"""Drawing a graph, so that a person can look at a workflow instead of reading its CSV.

``to_mermaid`` gives Mermaid flowchart source (GitHub, GitLab and most Markdown
viewers render it); ``to_text`` gives an indented tree for a terminal. Both are
plain strings, and both walk the graph iteratively: a generated workflow may be
a chain of thousands of nodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from agentmap.workflow.parsing import is_func_target
from agentmap.workflow.spec import GraphSpec, NodeSpec
from agentmap.workflow.subgraphs import WORKFLOW_KEY, is_subgraph_node

__all__ = ["Route", "routes", "to_mermaid", "to_text"]

_DESCRIPTION_LENGTH = 60
#: Text-tree levels before a subtree is shown as a section of its own, so that a
#: deeply branching graph keeps its lines short and its output linear in size.
_MAX_DEPTH = 24
# Inside a quoted Mermaid label these would end the label, open a shape, start
# an entity code, a comment or a Markdown string, or be taken for HTML.
_MERMAID_ESCAPES = str.maketrans(
    {
        '"': "#quot;",
        "#": "#35;",
        "&": "#38;",
        "<": "#60;",
        ">": "#62;",
        "[": "#91;",
        "]": "#93;",
        "{": "#123;",
        "}": "#125;",
        "|": "#124;",
        "%": "#37;",
        "`": "#96;",
    }
)


@dataclass(frozen=True, slots=True)
class Route:
    """One way out of a node: a target of one of its next columns."""

    column: str  # "Edge", "Success_Next" or "Failure_Next"
    target: str  # a node name, or a ``func:module.function`` router
    #: One of several targets of one column: the runner runs them all, in parallel.
    parallel: bool
    #: An Edge with no Failure_Next is taken after success and after failure.
    always: bool

    @property
    def router(self) -> bool:
        return is_func_target(self.target)


def routes(node: NodeSpec) -> list[Route]:
    """The node's routes in column order (Edge, Success_Next, Failure_Next)."""
    found = []
    for column, targets in (
        ("Edge", node.edge),
        ("Success_Next", node.success_next),
        ("Failure_Next", node.failure_next),
    ):
        always = column == "Edge" and not node.failure_next
        found += [Route(column, target, len(targets) > 1, always) for target in targets]
    return found


def _subgraph(node: NodeSpec) -> str:
    """The graph a ``graph`` node runs, as written (Context ``workflow``, else the Prompt)."""
    reference = node.context.get(WORKFLOW_KEY)
    if isinstance(reference, str) and reference.strip():
        return reference.strip()
    return node.prompt.strip() or "?"


def _kind(node: NodeSpec) -> str:
    return f"graph → {_subgraph(node)}" if is_subgraph_node(node) else node.agent_type


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DESCRIPTION_LENGTH else text[: _DESCRIPTION_LENGTH - 1] + "…"


# -- Mermaid ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.translate(_MERMAID_ESCAPES)


def _arrow(route: Route) -> str:
    """Success solid, failure dotted, parallel thick; Edge labelled ``always``."""
    if route.parallel:
        label = {"Edge": "parallel always", "Failure_Next": "parallel on failure"}
        return f"==>|{label.get(route.column, 'parallel')}|"
    if route.column == "Failure_Next":
        return "-. failure .->"
    return "-->|always|" if route.always else "-->"


def to_mermaid(graph: GraphSpec) -> str:
    """Mermaid ``flowchart TD`` source for ``graph``.

    Node ids are ``n0``, ``n1``, ... in CSV order (names may hold anything);
    labels show the name, the agent type and the shortened Description. The
    entry node is a stadium, ``graph`` nodes are subroutines naming the graph
    they run, and ``func:`` routers are diamonds of their own.
    """
    ids = {name: f"n{i}" for i, name in enumerate(graph.nodes)}
    routers: dict[str, str] = {}
    lines = ["flowchart TD"]
    for name, node in graph.nodes.items():
        label = f"{_escape(name)}<br/>{_escape(_kind(node))}"
        if node.description.strip():
            label += f"<br/><i>{_escape(_short(node.description))}</i>"
        if is_subgraph_node(node):
            shape = f'[["{label}"]]'
        elif name == graph.entry:
            shape = f'(["{label}"])'
        else:
            shape = f'["{label}"]'
        lines.append(f"    {ids[name]}{shape}")
    for node in graph.nodes.values():
        for route in routes(node):
            if route.router:
                if route.target not in routers:
                    routers[route.target] = target = f"r{len(routers)}"
                    lines.append(f'    {target}{{"{_escape(route.target)}"}}')
                target = routers[route.target]
            else:
                target = ids[route.target]
            lines.append(f"    {ids[node.name]} {_arrow(route)} {target}")
    lines.append("    classDef entry stroke-width:3px")
    lines.append(f"    class {ids[graph.entry]} entry")
    if routers:
        lines.append("    classDef router stroke-dasharray:4 3")
        lines.append(f"    class {','.join(routers.values())} router")
    return "\n".join(lines) + "\n"


# -- text ------------------------------------------------------------------------------


def _marker(route: Route) -> str:
    """``✓ ->`` success, ``✗ ->`` failure, ``→`` Edge; ``‖`` before a parallel target."""
    arrow = {"Edge": "→", "Success_Next": "✓ ->", "Failure_Next": "✗ ->"}[route.column]
    return f"{arrow} ‖" if route.parallel else arrow


def _describe(node: NodeSpec) -> str:
    text = f"{node.name} [{_kind(node)}]"
    if node.description.strip():
        text += f" — {_short(node.description)}"
    return text


@dataclass
class _Frame:
    """A printed node whose routes are being printed below it."""

    routes: Iterator[tuple[bool, Route]]  # (is the last route, route)
    lead: str  # what precedes the connector of each route line
    single: bool  # one route only: printed straight below, with no connector
    depth: int


def to_text(graph: GraphSpec) -> str:
    """An indented tree of ``graph`` from its entry node, for reading in a terminal.

    Each node is shown once, with its agent type and its routes; a route to a
    node shown already (a loop, a join) says ``(see above)``. A node with one
    route continues straight below it, so a chain stays at one indentation.
    Nodes that no route reaches are listed at the end.
    """
    nodes = graph.nodes
    lines = [f"graph {graph.name} ({len(nodes)} node{'s' if len(nodes) != 1 else ''})"]
    shown: set[str] = set()
    later: set[str] = set()  # deferred to a section of their own: too deep here
    sections = deque([graph.entry])
    while sections:
        root = sections.popleft()
        if root == graph.entry:
            lines.append(f"{_describe(nodes[root])}  (entry)")
        else:
            lines += ["", f"{_describe(nodes[root])}  (continued from above)"]
        shown.add(root)
        stack = [_frame(nodes[root], "", 0)]
        while stack:
            frame = stack[-1]
            item = next(frame.routes, None)
            if item is None:
                stack.pop()
                continue
            last, route = item
            connector = "" if frame.single else ("└─ " if last else "├─ ")
            head = f"{frame.lead}{connector}{_marker(route)} "
            target = route.target
            if route.router:
                lines.append(f"{head}{target} (router: picks the next node at run time)")
            elif target in shown:
                lines.append(f"{head}{target} (see above)")
            elif target in later:
                lines.append(f"{head}{target} (see below)")
            elif frame.depth >= _MAX_DEPTH:
                lines.append(f"{head}{_describe(nodes[target])} (continued below)")
                later.add(target)
                sections.append(target)
            else:
                lines.append(head + _describe(nodes[target]))
                shown.add(target)
                if frame.single:
                    lead, depth = frame.lead, frame.depth
                else:
                    lead, depth = frame.lead + ("   " if last else "│  "), frame.depth + 1
                stack.append(_frame(nodes[target], lead, depth))
    missing = [name for name in nodes if name not in shown]
    if missing:
        if any(route.router for node in nodes.values() for route in routes(node)):
            lines.append("\nnot reached by a listed route (a func: router may still lead here):")
        else:
            lines.append("\nunreachable (no route leads here):")
        lines += [f"  {_describe(nodes[name])}" for name in missing]
    return "\n".join(lines) + "\n"


def _frame(node: NodeSpec, lead: str, depth: int) -> _Frame:
    found = routes(node)
    items = ((i == len(found) - 1, route) for i, route in enumerate(found))
    return _Frame(items, lead, len(found) == 1, depth)
