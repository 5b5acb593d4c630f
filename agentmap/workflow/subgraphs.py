"""``graph`` nodes: resolving the graphs they run, once, when the workflow loads.

A subgraph reference is resolved at load time rather than when the node runs,
so a missing file, a typo'd graph name or two graphs that call each other fail
``agentmap validate`` (and the first second of a batch) instead of the
thousandth row. The result is stored in ``GraphSpec.subgraphs``, which makes
a loaded graph self-contained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow.spec import GraphSpec, NodeSpec, WorkflowSpec

__all__ = ["SUBGRAPH_AGENT", "WORKFLOW_KEY", "is_subgraph_node", "resolve_subgraphs"]

#: The agent type of a node that runs another graph.
SUBGRAPH_AGENT = "graph"
#: The Context key naming that graph: ``file.csv::Graph``, ``::Graph`` or ``file.csv``.
WORKFLOW_KEY = "workflow"
_SEPARATOR = "::"

WorkflowLoader = Callable[[Path], WorkflowSpec]


def is_subgraph_node(node: NodeSpec) -> bool:
    return node.agent_type.casefold() == SUBGRAPH_AGENT


def _reference(node: NodeSpec) -> tuple[Path, str | None]:
    """Where a ``graph`` node's graph lives: (CSV file, graph name or None for its only graph).

    The Context key ``workflow`` wins; the Prompt is accepted too, as AgentMap
    CSVs name the subgraph there. Relative paths are taken from the directory
    of the CSV that holds the node, falling back to the current directory.
    """
    raw = node.context.get(WORKFLOW_KEY)
    column = "Context"
    if raw is None and node.prompt.strip():
        raw, column = node.prompt.strip(), "Prompt"
    if not isinstance(raw, str) or not raw.strip():
        raise WorkflowError(
            Diagnostic.for_node(
                node,
                f"a graph node needs the graph to run: Context "
                f'{{"{WORKFLOW_KEY}": "file.csv::Graph"}} (or "::Graph" for this file)',
                column="Context",
            )
        )
    text = raw.strip()
    file_part, separator, graph = text.partition(_SEPARATOR)
    file_part, graph = file_part.strip(), graph.strip()
    if separator and not graph:
        raise WorkflowError(
            Diagnostic.for_node(
                node, f"bad subgraph reference {text!r}: write file.csv::Graph", column=column
            )
        )
    if not separator and not file_part.lower().endswith(".csv"):
        graph, file_part = file_part, ""  # a bare name is a graph of this file
    here = node.file or Path("<workflow>")
    if not file_part:
        return here, graph or None
    path = Path(file_part)
    if not path.is_absolute():
        beside = here.parent / path
        path = beside if beside.exists() or not path.exists() else path
    return path, graph or None


class _Resolver:
    def __init__(self, load: WorkflowLoader) -> None:
        self._load = load
        self._files: dict[Path, WorkflowSpec] = {}
        self._done: dict[tuple[Path, str], GraphSpec] = {}
        #: The chain of graph nodes being resolved, to explain a recursion.
        self._stack: list[tuple[tuple[Path, str], NodeSpec | None]] = []

    def add_file(self, workflow: WorkflowSpec) -> None:
        self._files[_key(workflow.file)] = workflow

    def workflow(self, path: Path, node: NodeSpec) -> WorkflowSpec:
        key = _key(path)
        spec = self._files.get(key)
        if spec is None:
            if not path.exists():
                raise WorkflowError(
                    Diagnostic.for_node(
                        node, f"subgraph workflow file {str(path)!r} not found", column="Context"
                    )
                )
            try:
                spec = self._files[key] = self._load(path)
            except WorkflowError as exc:
                note = Diagnostic.for_node(
                    node,
                    f"runs a graph of {str(path)!r}, which does not load (errors above)",
                    column="Context",
                )
                raise WorkflowError([*exc.diagnostics, note]) from None
        return spec

    def resolve(self, workflow: WorkflowSpec, graph: GraphSpec, via: NodeSpec | None) -> GraphSpec:
        key = (_key(workflow.file), graph.name)
        done = self._done.get(key)
        if done is not None:
            return done
        for index, (entry, _) in enumerate(self._stack):
            if entry == key:
                raise WorkflowError(self._recursion(index, via))
        self._stack.append((key, via))
        children: dict[str, GraphSpec] = {}
        for node in graph.nodes.values():
            if not is_subgraph_node(node):
                continue
            path, name = _reference(node)
            child_workflow = self.workflow(path, node)
            child = _select(child_workflow, name, node)
            children[node.name] = self.resolve(child_workflow, child, node)
        self._stack.pop()
        resolved = replace(graph, subgraphs=children) if children else graph
        self._done[key] = resolved
        return resolved

    def _recursion(self, start: int, via: NodeSpec | None) -> Diagnostic:
        chain = [node for _, node in self._stack[start + 1 :] if node is not None]
        if via is not None:
            chain.append(via)
        steps = " -> ".join(f"{n.graph}.{n.name} ({n.location})" for n in chain)
        first = chain[0] if chain else via
        message = (
            f"subgraph recursion: {steps} runs graph {chain[0].graph!r} again, so the run "
            "would never end; a graph may not call itself, directly or through others"
            if chain
            else "subgraph recursion"
        )
        if first is None:
            return Diagnostic(message)
        return Diagnostic.for_node(first, message, column="Context")


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # pragma: no cover - unreadable paths fail when loaded
        return path


def _select(workflow: WorkflowSpec, name: str | None, node: NodeSpec) -> GraphSpec:
    names = workflow.graph_names
    if name is None:
        if len(names) == 1:
            return workflow.graphs[names[0]]
        message = (
            f"the subgraph file {str(workflow.file)!r} has {len(names)} graphs "
            f"({', '.join(names)}); name one: {WORKFLOW_KEY} = file.csv::Graph"
        )
    elif name in workflow.graphs:
        return workflow.graphs[name]
    else:
        message = f"no graph named {name!r} in {str(workflow.file)!r}; it has {', '.join(names)}"
    from agentmap.workflow.suggest import suggest

    hint = suggest(name, names) if name else None
    raise WorkflowError(Diagnostic.for_node(node, message, column="Context", suggestion=hint))


def resolve_subgraphs(workflow: WorkflowSpec, graph: GraphSpec, load: WorkflowLoader) -> GraphSpec:
    """``graph`` with the graph of every ``graph`` node (recursively) in ``subgraphs``.

    ``load`` reads another CSV file (with the same agent types). Raises
    ``WorkflowError`` for a missing reference, file or graph, and for graphs
    that call each other.
    """
    if not any(is_subgraph_node(node) for node in graph.nodes.values()):
        return graph
    resolver = _Resolver(load)
    resolver.add_file(workflow)
    return resolver.resolve(workflow, graph, None)
