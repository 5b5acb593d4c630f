"""Tool_Source and Available_Tools as the loader reads them (no Python is imported here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentmap.errors import WorkflowError
from agentmap.workflow import load_workflow


def test_tool_names_are_split_on_pipes_or_commas(write_csv: Callable[..., Path]) -> None:
    path = write_csv('Node,Tool_Source,Tools\nA,tools.py,"add, mul|add"\nB,,\n')
    nodes = load_workflow(path).graphs["flow"].nodes
    assert (nodes["A"].tool_source, nodes["A"].tools) == ("tools.py", ("add", "mul"))
    assert (nodes["B"].tool_source, nodes["B"].tools) == ("", ())


def test_a_tool_list_without_a_source_is_an_error(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Available_Tools\nA,add\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.node, diagnostic.column) == (2, "A", "Tool_Source")
    assert "Available_Tools is set but Tool_Source is empty" in diagnostic.message


def test_a_tool_name_must_be_an_identifier(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,ToolSource,AvailableTools\nA,tools.py,add-two\n")
    with pytest.raises(WorkflowError, match="'add-two' is not a tool name"):
        load_workflow(path)
