"""Resolving every Prompt reference of a graph (and its subgraphs) when it is loaded.

Kept apart from the prompt service itself: the service answers one reference,
this walks a graph, remembers answers, and turns every failure into one
``WorkflowError`` with a diagnostic at each node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agentmap.errors import AgentMapError, Diagnostic, WorkflowError
from agentmap.services.prompts import PromptReferenceError, is_reference
from agentmap.services.protocols import PromptServiceProtocol
from agentmap.workflow.spec import GraphSpec, NodeSpec

__all__ = ["ServiceFor", "resolve_graph_prompts"]

#: Gives the prompt service for the nodes of the CSV at a path (None: no file).
ServiceFor = Callable[[Path | None], PromptServiceProtocol]


def resolve_graph_prompts(graph: GraphSpec, service_for: ServiceFor) -> GraphSpec:
    """A copy of ``graph`` (and its subgraphs) with every Prompt reference replaced by its text.

    ``service_for(node.file)`` gives the service that resolves a node's
    references (``PromptService.for_workflow``). Returns ``graph`` itself when
    no node holds a reference. Raises one ``WorkflowError`` listing every
    reference that does not resolve, each at its node and column ``Prompt``.
    """
    resolver = _GraphResolver(service_for)
    resolved = resolver.graph(graph)
    if resolver.problems:
        raise WorkflowError(list(dict.fromkeys(resolver.problems)))
    return resolved


class _GraphResolver:
    def __init__(self, service_for: ServiceFor) -> None:
        self._service_for = service_for
        self._services: dict[Path | None, PromptServiceProtocol] = {}
        self._outcomes: dict[tuple[Path | None, str], str | AgentMapError] = {}
        self._graphs: dict[int, GraphSpec] = {}
        self.problems: list[Diagnostic] = []

    def graph(self, graph: GraphSpec) -> GraphSpec:
        done = self._graphs.get(id(graph))
        if done is not None:
            return done
        nodes = {name: self.node(node) for name, node in graph.nodes.items()}
        subgraphs = {name: self.graph(child) for name, child in graph.subgraphs.items()}
        changed = any(nodes[n] is not graph.nodes[n] for n in nodes) or any(
            subgraphs[n] is not graph.subgraphs[n] for n in subgraphs
        )
        result = replace(graph, nodes=nodes, subgraphs=subgraphs) if changed else graph
        self._graphs[id(graph)] = result
        return result

    def node(self, node: NodeSpec) -> NodeSpec:
        if not is_reference(node.prompt):
            return node
        key = (node.file, node.prompt.strip())
        outcome = self._outcomes.get(key)
        if outcome is None:
            try:
                outcome = self._service(node.file).resolve_prompt(node.prompt)
            except AgentMapError as exc:
                outcome = exc
            self._outcomes[key] = outcome
        if isinstance(outcome, str):
            return replace(node, prompt=outcome)
        if isinstance(outcome, PromptReferenceError):
            message, suggestion = outcome.message, outcome.suggestion
        else:
            message, suggestion = str(outcome), None
        self.problems.append(
            Diagnostic.for_node(node, message, column="Prompt", suggestion=suggestion)
        )
        return node

    def _service(self, file: Path | None) -> PromptServiceProtocol:
        service = self._services.get(file)
        if service is None:
            service = self._service_for(file)
            self._services[file] = service
        return service
