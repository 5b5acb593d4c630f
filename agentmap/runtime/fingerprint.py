"""A workflow's fingerprint: what a stored run compares against before it resumes.

Resume replays recorded outcomes through the graph as it is *now*; if a node
changed (another prompt, another route), the replayed run is not the run that
was stored. So every run stores a digest per node and per column, and a
resume compares them with the graph it loaded and says what changed: nodes
added, removed, and for a changed node which columns. The digest is of the
loaded graph (environment overrides and resolved prompts included), so a
change made by a preset counts too; a change elsewhere in the CSV (another
graph, a Description) does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from agentmap.workflow.spec import GraphSpec, NodeSpec

__all__ = ["describe_changes", "fingerprint"]

_VERSION = 1


def fingerprint(graph: GraphSpec) -> dict[str, Any]:
    """``{"v": 1, "entry": ..., "nodes": {node: {column: digest}}}`` (JSON-ready)."""
    return {
        "v": _VERSION,
        "entry": graph.entry,
        "nodes": {name: _node(graph, node) for name, node in graph.nodes.items()},
    }


def _node(graph: GraphSpec, node: NodeSpec) -> dict[str, str]:
    # repr of strings and tuples is exact and much cheaper than JSON (a resume of a
    # 1,000-node graph computes this for every node); Context is a dict, whose key
    # order must not count, so it goes through JSON with sorted keys.
    aspects: dict[str, str] = {
        "AgentType": node.agent_type,
        "Input_Fields": repr([str(m) for m in node.inputs]),
        "Output_Field": repr([str(m) for m in node.outputs]),
        "Prompt": node.prompt,
        "Context": json.dumps(dict(node.context), sort_keys=True, default=repr)
        if node.context
        else "",
        "routes": repr((node.edge, node.success_next, node.failure_next)),
    }
    if node.tool_source or node.tools:
        aspects["Tools"] = repr((node.tool_source, node.tools))
    child = graph.subgraphs.get(node.name)
    if child is not None:
        aspects["subgraph"] = json.dumps(fingerprint(child), sort_keys=True)
    return {column: _digest(text) for column, text in aspects.items()}


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def describe_changes(stored: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str | None:
    """What differs between a stored fingerprint and the current one; None if nothing."""
    if not stored:
        return None
    old: Mapping[str, Mapping[str, str]] = stored.get("nodes") or {}
    new: Mapping[str, Mapping[str, str]] = current.get("nodes") or {}
    changes = []
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    if added:
        changes.append(f"node{'s' if len(added) > 1 else ''} added: {', '.join(added)}")
    if removed:
        changes.append(f"node{'s' if len(removed) > 1 else ''} removed: {', '.join(removed)}")
    for name, columns in new.items():
        before = old.get(name)
        if before is None or before == columns:
            continue
        differ = [c for c in sorted(set(columns) | set(before)) if columns.get(c) != before.get(c)]
        changes.append(f"node {name!r} changed ({', '.join(differ)})")
    if stored.get("entry") != current.get("entry") and not (added or removed):
        changes.append(f"entry node {stored.get('entry')!r} -> {current.get('entry')!r}")
    return "; ".join(changes) or None
