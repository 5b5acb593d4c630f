"""Specs are immutable and picklable (a batch worker in another process receives them)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from agentmap.workflow import load_workflow
from agentmap.workflow.spec import FieldMapping, GraphSpec, NodeSpec

REPO = Path(__file__).resolve().parents[3]


def test_hand_built_specs_are_read_only() -> None:
    context = {"timeout": 5}
    node = NodeSpec("A", "G", context=context)
    context["timeout"] = 99  # the caller's dict is copied, not shared
    assert node.context["timeout"] == 5
    with pytest.raises(TypeError):
        node.context["timeout"] = 1  # type: ignore[index]
    graph = GraphSpec("G", {"A": node})
    with pytest.raises(TypeError):
        graph.nodes["B"] = node  # type: ignore[index]


def test_loaded_workflow_survives_pickling() -> None:
    workflow = load_workflow(REPO / "examples" / "quickstart.csv")
    copy = pickle.loads(pickle.dumps(workflow))
    assert copy == workflow
    node = copy.graphs["Quickstart"].nodes["CountWords"]
    assert dict(node.context) == {"top": 3, "min_words": 5}
    assert node.outputs[0] == FieldMapping("word_count", "word_count")
    assert node.line == 3
    with pytest.raises(TypeError):
        node.context["top"] = 1  # type: ignore[index]


def test_empty_graph_has_no_entry() -> None:
    with pytest.raises(ValueError, match="graph 'G' has no nodes"):
        _ = GraphSpec("G", {}).entry
