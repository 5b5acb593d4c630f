"""Per-environment agent settings merged over a graph's CSV Context.

``settings.agents`` maps a node name or an agent type to Context keys, so one
CSV runs with environment-appropriate limits (production: stricter timeouts,
more retries). Precedence: node name beats agent type beats the CSV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from agentmap.workflow.spec import GraphSpec, NodeSpec

__all__ = ["apply_agent_overrides", "effective_context"]


def _type_key(agent_type: str) -> str:
    name = agent_type.strip()
    if name.lower().startswith("custom:"):
        name = name[len("custom:") :]
    return name.strip().lower()


def effective_context(node: NodeSpec, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    by_type = {_type_key(k): v for k, v in overrides.items()}
    merged = dict(node.context)
    merged.update(by_type.get(_type_key(node.agent_type), {}))
    merged.update(overrides.get(node.name, {}))
    return merged


def apply_agent_overrides(
    graph: GraphSpec, overrides: Mapping[str, Mapping[str, Any]]
) -> GraphSpec:
    """A copy of ``graph`` whose nodes carry their effective Context (same graph if none apply).

    Subgraphs get the same overrides: a node name or agent type in settings
    applies wherever that node runs.
    """
    if not overrides:
        return graph
    nodes: dict[str, NodeSpec] = {}
    for name, node in graph.nodes.items():
        ctx = effective_context(node, overrides)
        nodes[name] = (
            node if ctx == dict(node.context) else replace(node, context=MappingProxyType(ctx))
        )
    subgraphs = {
        name: apply_agent_overrides(child, overrides) for name, child in graph.subgraphs.items()
    }
    return replace(graph, nodes=nodes, subgraphs=subgraphs)
