"""Public entry points: a CSV file in, a validated ``WorkflowSpec`` out.

Loading collects every error of the file before raising, so that a user fixes
a workflow in one pass rather than one error per run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow.columns import FIELDS, Header, match_header
from agentmap.workflow.parsing import (
    FUNC_PREFIX,
    AgentTypes,
    CellError,
    parse_context,
    parse_inputs,
    parse_inputs_directive,
    parse_outputs,
    parse_targets,
    parse_tools,
)
from agentmap.workflow.reader import Record, read_table
from agentmap.workflow.spec import GraphSpec, NodeSpec, WorkflowSpec
from agentmap.workflow.subgraphs import SUBGRAPH_AGENT, resolve_subgraphs
from agentmap.workflow.suggest import suggest
from agentmap.workflow.validation import check_graph

__all__ = ["load_graph", "load_workflow", "parse_workflow_ref", "select_graph"]

_REF_SEPARATOR = "::"
_NO_CONTEXT: Mapping[str, Any] = MappingProxyType({})
_T = TypeVar("_T")
#: Known agent type names, or a function giving them for a CSV file (a subgraph in
#: another folder may use that folder's custom agents).
AgentTypesArg = Collection[str] | Callable[[Path], Collection[str]] | None


def parse_workflow_ref(ref: str | Path) -> tuple[Path, str | None]:
    """Split ``"flows/x.csv::Graph"`` into the file and the graph name (None if absent)."""
    text = str(ref)
    if _REF_SEPARATOR not in text:
        return Path(text), None
    path, _, graph = text.partition(_REF_SEPARATOR)
    path, graph = path.strip(), graph.strip()
    if not path or not graph:
        raise WorkflowError(
            f"bad workflow reference {text!r}: write file.csv or file.csv::GraphName"
        )
    return Path(path), graph


def load_workflow(path: str | Path, *, agent_types: Collection[str] | None = None) -> WorkflowSpec:
    """Read and validate every graph of a CSV file; raise one WorkflowError listing all errors.

    ``agent_types`` are the known agent type names (None skips the type check);
    ``graph`` (a subgraph call) is always known.
    """
    file = Path(path)
    table = read_table(file)
    header, diagnostics = match_header(table.header.cells, file, table.header.line)
    if "Node" not in header.index:
        raise WorkflowError([d for d in diagnostics if d.severity == "error"])
    known = None if agent_types is None else [*agent_types, SUBGRAPH_AGENT]
    builder = _Builder(file, header, AgentTypes(known))
    for record in table.rows:
        builder.add(record)
    graphs = builder.graphs()
    diagnostics += builder.diagnostics
    inputs = _declared_inputs(table.comments, graphs, file, diagnostics)
    for graph in graphs.values():
        diagnostics += check_graph(graph, graphs)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        errors.sort(key=_line)
        raise WorkflowError(errors)
    warnings = tuple(sorted((d for d in diagnostics if d.severity != "error"), key=_line))
    return WorkflowSpec(
        file=file, graphs=MappingProxyType(graphs), warnings=warnings, inputs=inputs
    )


def _declared_inputs(
    comments: list[Record],
    graphs: Mapping[str, GraphSpec],
    file: Path,
    diagnostics: list[Diagnostic],
) -> dict[str, tuple[str, ...]]:
    """The ``# inputs:`` rows: graph name (``""`` for the whole file) -> field names.

    Several rows for one graph add up. A row naming a graph the file does not
    have is a warning, not an error: the declaration only feeds the data-flow
    check, and a typo there must not stop a workflow from loading.
    """
    declared: dict[str, tuple[str, ...]] = {}
    for record in comments:
        directive = parse_inputs_directive(record.cells)
        if directive is None:
            continue
        graph, names = directive
        if graph and graph not in graphs:
            message = f"'# inputs({graph})' names no graph of this file, so it declares nothing"
            hint = suggest(graph, graphs)
            if hint is None:
                message += f"; the file has {', '.join(repr(name) for name in graphs)}"
            diagnostics.append(
                Diagnostic(message, file, record.line, None, None, graph, hint, "warning")
            )
            continue
        declared[graph] = tuple(dict.fromkeys((*declared.get(graph, ()), *names)))
    return declared


def _line(diagnostic: Diagnostic) -> int:
    return diagnostic.line or 0


def select_graph(workflow: WorkflowSpec, graph: str | None) -> GraphSpec:
    """The chosen graph; with no choice, the file's only graph."""
    names = workflow.graph_names
    listed = ", ".join(repr(name) for name in names)
    if graph is None:
        if len(names) == 1:
            return workflow.graphs[names[0]]
        message = (
            f"the file has {len(names)} graphs ({listed}); choose one with "
            f"{workflow.file}::GraphName or by passing its name as the graph"
        )
        raise WorkflowError(Diagnostic(message, file=workflow.file))
    if graph in workflow.graphs:
        return workflow.graphs[graph]
    raise WorkflowError(
        Diagnostic(
            f"no graph named {graph!r}; the file has {listed}",
            file=workflow.file,
            graph=graph,
            suggestion=suggest(graph, names),
        )
    )


def load_graph(
    ref: str | Path, graph: str | None = None, *, agent_types: AgentTypesArg = None
) -> tuple[WorkflowSpec, GraphSpec]:
    """Load ``file.csv[::Graph]`` and select its graph; ``graph`` may name it instead.

    The graphs its ``graph`` nodes run are loaded too (from this or other CSV
    files) and attached to the returned ``GraphSpec``.
    """
    path, ref_graph = parse_workflow_ref(ref)
    if graph is not None and ref_graph is not None and graph != ref_graph:
        raise WorkflowError(
            Diagnostic(
                f"two different graphs requested: {ref_graph!r} in the reference and "
                f"{graph!r} as the graph option; give only one",
                file=path,
            )
        )

    def load(file: Path) -> WorkflowSpec:
        known = agent_types(file) if callable(agent_types) else agent_types
        return load_workflow(file, agent_types=known)

    workflow = load(path)
    chosen = select_graph(workflow, graph if graph is not None else ref_graph)
    return workflow, resolve_subgraphs(workflow, chosen, load)


class _Builder:
    """Turns rows into NodeSpecs grouped by graph, collecting row-level problems."""

    def __init__(self, file: Path, header: Header, agent_types: AgentTypes) -> None:
        self.file = file
        self.agent_types = agent_types
        self.diagnostics: list[Diagnostic] = []
        self._width = header.width
        # Absent columns point one past the last cell, where each row gets an extra "".
        self._pos = {field: header.index.get(field, header.width) for field in FIELDS}
        self._unnamed = header.unnamed
        self._nodes: dict[str, dict[str, NodeSpec]] = {}
        self._declared: dict[str, int] = {}  # graph -> first line naming it
        self._folded: dict[str, str] = {}  # casefolded graph name -> graph name
        # Rows with an empty GraphName cell continue the previous row's graph; before
        # any graph is named (or with no GraphName column) that is the file's stem.
        self._current = file.stem
        self._cache: dict[str, dict[str, object]] = {field: {} for field in FIELDS}

    def graphs(self) -> dict[str, GraphSpec]:
        graphs: dict[str, GraphSpec] = {}
        for name, nodes in self._nodes.items():
            if nodes:
                graphs[name] = GraphSpec(name, MappingProxyType(nodes), self.file)
            else:
                line = self._declared[name]
                self._report("the graph has no nodes", line, "GraphName", None, name)
        return graphs

    def add(self, record: Record) -> None:
        line, width, pos = record.line, self._width, self._pos
        row = record.cells[:width]
        if len(row) < width:
            row += [""] * (width - len(row))
        row.append("")
        name = row[pos["Node"]]
        graph = self._graph(row[pos["GraphName"]], line)
        if len(record.cells) > width and any(record.cells[width:]):
            message = (
                f"the row has {len(record.cells)} cells but the header has {width} columns; "
                "quote cells that contain commas"
            )
            self._report(message, line, None, name or None, graph)
        if self._unnamed and any(row[i] for i in self._unnamed):
            message = "a value under a column with no header is ignored"
            self._report(message, line, None, name or None, graph, severity="warning")
            self._unnamed = ()  # once per file is enough to point at the problem
        if not self._valid_name(name, line, graph):
            return
        nodes = self._nodes[graph]
        if name in nodes:
            first = nodes[name].line
            message = f"duplicate node {name!r}: already declared on line {first} of this graph"
            self._report(message, line, "Node", name, graph)
            return
        nodes[name] = self._node(row, name, graph, line)

    def _graph(self, cell: str, line: int) -> str:
        if cell:
            self._current = cell
        graph = self._current
        if graph not in self._nodes:
            self._nodes[graph] = {}
            self._declared[graph] = line
            twin = self._folded.setdefault(graph.casefold(), graph)
            if twin != graph:
                message = f"graph names {twin!r} and {graph!r} differ only by case: two graphs"
                self._report(message, line, "GraphName", None, graph, severity="warning")
        return graph

    def _valid_name(self, name: str, line: int, graph: str) -> bool:
        if not name:
            reason = "the Node cell is empty; every row needs a node name"
        elif "\n" in name or "\r" in name:
            reason = "the node name spans several lines; is a quote left open above?"
        elif "|" in name or name.startswith(FUNC_PREFIX):
            reason = f"node name {name!r} cannot contain '|' or start with {FUNC_PREFIX!r}"
        else:
            return True
        self._report(reason, line, "Node", name or None, graph)
        return False

    def _node(self, row: list[str], name: str, graph: str, line: int) -> NodeSpec:
        pos, parse = self._pos, self._parse
        at = (name, graph, line)
        agent_type = parse("AgentType", row[pos["AgentType"]], self.agent_types.resolve, at)
        edge = parse("Edge", row[pos["Edge"]], parse_targets, at)
        success = parse("Success_Next", row[pos["Success_Next"]], parse_targets, at)
        failure = parse("Failure_Next", row[pos["Failure_Next"]], parse_targets, at)
        if edge and success:
            # Edge + Failure_Next is valid (DESIGN §3: failure -> Failure_Next, else
            # Edge); Edge + Success_Next leaves the success route ambiguous.
            message = (
                "Edge and Success_Next are both set; use Edge alone, or "
                "Success_Next (with Failure_Next if needed) without Edge"
            )
            self._report(message, line, "Edge", name, graph)
        tool_source = row[pos["Tool_Source"]]
        tools = parse("Available_Tools", row[pos["Available_Tools"]], parse_tools, at) or ()
        if tools and not tool_source:
            message = (
                "Available_Tools is set but Tool_Source is empty; name the tools' file or module"
            )
            self._report(message, line, "Tool_Source", name, graph)
        return NodeSpec(
            name=name,
            graph=graph,
            agent_type=agent_type or row[pos["AgentType"]],
            inputs=parse("Input_Fields", row[pos["Input_Fields"]], parse_inputs, at) or (),
            outputs=parse("Output_Field", row[pos["Output_Field"]], parse_outputs, at) or (),
            prompt=row[pos["Prompt"]],
            context=parse("Context", row[pos["Context"]], parse_context, at) or _NO_CONTEXT,
            description=row[pos["Description"]],
            edge=self._targets(edge or (), "Edge", at),
            success_next=self._targets(success or (), "Success_Next", at),
            failure_next=self._targets(failure or (), "Failure_Next", at),
            tool_source=tool_source,
            tools=tools,
            file=self.file,
            line=line,
        )

    def _parse(
        self, column: str, cell: str, parse: Callable[[str], _T], at: tuple[str, str, int]
    ) -> _T | None:
        """``parse(cell)``, memoised per column: generated workflows repeat most cells.

        Returns None (after reporting the error) for a cell that does not parse.
        """
        cache = self._cache[column]
        if cell in cache:
            return cast(_T, cache[cell])
        try:
            value = parse(cell)
        except CellError as exc:
            name, graph, line = at
            self._report(exc.reason, line, column, name, graph, exc.suggestion)
            return None
        cache[cell] = value
        return value

    def _targets(
        self, targets: tuple[str, ...], column: str, at: tuple[str, str, int]
    ) -> tuple[str, ...]:
        if len(targets) < 2:
            return targets
        unique = tuple(dict.fromkeys(targets))
        if len(unique) != len(targets):
            twice = next(t for i, t in enumerate(targets) if t in targets[:i])
            message = f"target {twice!r} is listed twice; it runs once"
            name, graph, line = at
            self._report(message, line, column, name, graph, severity="warning")
        return unique

    def _report(
        self,
        message: str,
        line: int,
        column: str | None,
        node: str | None,
        graph: str,
        suggestion: str | None = None,
        severity: str = "error",
    ) -> None:
        self.diagnostics.append(
            Diagnostic(message, self.file, line, column, node, graph, suggestion, severity)
        )
