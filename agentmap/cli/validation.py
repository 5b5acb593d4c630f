"""What ``agentmap validate`` checks beyond loading: runtime policies, routers, subgraphs,
prompt references, data flow.

Loading a CSV already reports every row and graph error. Here come the checks
that need more than the file: Context policies and ``func:`` routers (the
runtime's rules), the graphs that ``graph`` nodes run (other files), the
``prompt:`` / ``file:`` / ``yaml:`` references of the Prompt column, and the
data-flow check against the declared run inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.runtime.policies import check_runnable
from agentmap.services.prompt_graphs import resolve_graph_prompts
from agentmap.services.tools.loading import node_tools
from agentmap.workflow import load_workflow, parse_workflow_ref, select_graph
from agentmap.workflow.dataflow import check_data_flow, declared_inputs
from agentmap.workflow.overrides import apply_agent_overrides
from agentmap.workflow.spec import GraphSpec, WorkflowSpec
from agentmap.workflow.subgraphs import resolve_subgraphs

if TYPE_CHECKING:
    from containers.application import Application

__all__ = ["validate_workflow"]


def _with_subgraphs(graph: GraphSpec) -> Iterator[GraphSpec]:
    """``graph`` and every graph it runs, each once."""
    seen: set[int] = set()
    stack = [graph]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(current.subgraphs.values())


def _uses_tools(application: Application, graph: GraphSpec, agent_type: str) -> bool:
    """Whether the node's agent class takes tools (has ``configure_tools``); True if unknown."""
    try:
        registry = application.registry_for([graph.file] if graph.file is not None else [])
        return hasattr(registry.get(agent_type), "configure_tools")
    except Exception:  # an unknown type is the loader's error, already reported
        return True


def _tool_problems(application: Application, graphs: Iterable[GraphSpec]) -> list[Diagnostic]:
    """Tool sources that do not load, unknown tool names, schemas that cannot be built
    (errors); a Tool_Source on a node whose agent ignores tools (a warning)."""
    problems: list[Diagnostic] = []
    for graph in graphs:
        for node in graph.nodes.values():
            if node.tool_source and not _uses_tools(application, graph, node.agent_type):
                message = (
                    f"agent type {node.agent_type!r} does not use tools, so Tool_Source is "
                    "ignored; tools are for tool and llm nodes"
                )
                problems.append(
                    Diagnostic.for_node(node, message, column="Tool_Source", severity="warning")
                )
                continue
            if node.agent_type == "tool" and not node.tool_source:
                message = "a tool node needs a Tool_Source naming its tools' file or module"
                problems.append(Diagnostic.for_node(node, message, column="Tool_Source"))
            if not node.tool_source:
                continue
            try:
                tools = node_tools(node)
            except WorkflowError as exc:
                problems.extend(exc.diagnostics)
                continue
            chosen = node.context.get("tool") if node.agent_type == "tool" else None
            names = [tool.name for tool in tools]
            if isinstance(chosen, str) and chosen not in names:
                message = f"Context 'tool' names {chosen!r}, not one of the node's tools"
                problems.append(
                    Diagnostic.for_node(node, f"{message} ({', '.join(names)})", column="Context")
                )
    return problems


def validate_workflow(
    application: Application,
    workflow: str,
    graph: str | None,
    inputs: Sequence[str],
    *,
    strict: bool,
) -> WorkflowSpec:
    """The loaded workflow with every warning; raises ``WorkflowError`` on any error.

    With ``strict``, data-flow findings are errors too.
    """
    path, ref_graph = parse_workflow_ref(workflow)

    def load(file: Path) -> WorkflowSpec:
        return load_workflow(file, agent_types=application.agent_types_for(file))

    spec = load(path)
    name = graph or ref_graph
    chosen = [select_graph(spec, name)] if name else list(spec.graphs.values())
    resolved = [resolve_subgraphs(spec, g, load) for g in chosen]
    problems: list[Diagnostic] = []
    for top in resolved:
        try:
            resolve_graph_prompts(top, application.prompts_for)
        except WorkflowError as exc:
            problems.extend(exc.diagnostics)
    found = _tool_problems(application, (g for top in resolved for g in _with_subgraphs(top)))
    problems += [d for d in found if d.severity == "error"]
    tool_warnings = list(dict.fromkeys(d for d in found if d.severity != "error"))
    problems = list(dict.fromkeys(problems))  # graphs may share subgraphs
    overrides = application.settings.agents
    try:
        check_runnable(
            (apply_agent_overrides(g, overrides) for top in resolved for g in _with_subgraphs(top)),
            functions=(application.settings.paths.functions,),
        )
    except WorkflowError as exc:
        raise WorkflowError([*problems, *exc.diagnostics]) from None
    if problems:
        raise WorkflowError(problems)
    flow = [
        diagnostic
        for g in chosen
        for diagnostic in check_data_flow(g, (*declared_inputs(spec, g.name), *inputs))
    ]
    if strict and flow:
        raise WorkflowError([replace(d, severity="error") for d in flow])
    return replace(spec, warnings=(*spec.warnings, *tool_warnings, *flow))
