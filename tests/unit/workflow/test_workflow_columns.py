"""Header matching: canonical names, every alias, spelling variants, and header errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentmap.errors import WorkflowError
from agentmap.workflow import ALIASES, FIELDS, load_workflow
from agentmap.workflow.columns import field_for, normalize

EVERY_SPELLING = [(field, field) for field in FIELDS] + [
    (alias, field) for field, aliases in ALIASES.items() for alias in aliases
]


def test_the_alias_table_is_the_designs() -> None:
    assert ALIASES == {
        "GraphName": ("graph_name", "Graph", "WorkflowName", "Workflow"),
        "Node": ("node_name", "NodeName", "Step", "StepName", "Name"),
        "AgentType": ("agent_type", "Agent", "Type"),
        "Edge": ("next_node", "NextNode", "Target", "Next"),
        "Success_Next": ("next_on_success", "SuccessTarget", "on_success"),
        "Failure_Next": ("next_on_failure", "FailureTarget", "on_failure"),
        "Input_Fields": ("Inputs", "InputFields"),
        "Output_Field": ("Output", "OutputField"),
        "Prompt": ("Instructions", "Template", "prompt_template"),
        "Context": ("Config", "Configuration"),
        "Description": ("desc", "Details"),
        "Tool_Source": ("ToolSource", "ToolFile", "ToolModule"),
        "Available_Tools": ("AvailableTools", "Tools", "ToolList"),
    }


@pytest.mark.parametrize(("header", "field"), EVERY_SPELLING)
def test_every_spelling_maps_to_its_field(header: str, field: str) -> None:
    assert field_for(header) == field
    assert field_for(header.upper()) == field
    assert field_for(header.lower()) == field


@pytest.mark.parametrize(
    "header", ["Success_Next", "success next", "SUCCESS-NEXT", "successnext", " Success_ Next "]
)
def test_case_underscores_dashes_and_spaces_are_ignored(header: str) -> None:
    assert normalize(header) == "successnext"
    assert field_for(header) == "Success_Next"


@pytest.mark.parametrize(("header", "field"), EVERY_SPELLING)
def test_every_alias_is_read_from_a_file(
    write_csv: Callable[..., Path], header: str, field: str
) -> None:
    values = {
        "GraphName": "G",
        "Node": "Start",
        "AgentType": "echo",
        "Edge": "End",
        "Success_Next": "End",
        "Failure_Next": "End",
        "Input_Fields": "question",
        "Output_Field": "answer",
        "Prompt": "Say {question}",
        "Context": '"{""timeout"": 5}"',
        "Description": "The first step",
        "Tool_Source": "tools.py",
        "Available_Tools": "add|mul",
    }
    node_header = "Node" if field != "Node" else header
    extra = "" if field == "Node" else f",{header}"
    extra_value = "" if field == "Node" else f",{values[field]}"
    if field == "Available_Tools":  # a tool list needs a source to take it from
        extra, extra_value = f"{extra},Tool_Source", f"{extra_value},tools.py"
    end_row = "End\n" if field in ("Edge", "Success_Next", "Failure_Next") else ""
    path = write_csv(f"{node_header}{extra}\nStart{extra_value}\n{end_row}")
    workflow = load_workflow(path)
    assert workflow.warnings == ()
    start = next(iter(workflow.graphs.values())).node("Start")
    expected = {
        "GraphName": lambda: start.graph == "G",
        "Node": lambda: start.name == "Start",
        "AgentType": lambda: start.agent_type == "echo",
        "Edge": lambda: start.edge == ("End",),
        "Success_Next": lambda: start.success_next == ("End",),
        "Failure_Next": lambda: start.failure_next == ("End",),
        "Input_Fields": lambda: start.input_names == ("question",),
        "Output_Field": lambda: start.output_names == ("answer",),
        "Prompt": lambda: start.prompt == "Say {question}",
        "Context": lambda: dict(start.context) == {"timeout": 5},
        "Description": lambda: start.description == "The first step",
        "Tool_Source": lambda: start.tool_source == "tools.py",
        "Available_Tools": lambda: start.tools == ("add", "mul"),
    }
    assert expected[field]()


def test_unknown_column_is_one_warning_with_a_suggestion(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge,Owner\nA,,me\n")
    (warning,) = load_workflow(path).warnings
    assert warning.severity == "warning"
    assert str(warning) == f"{path}:1: unknown column 'Owner' is ignored"

    path = write_csv("Node,Edge,Promt\nA,,hi\n")
    (warning,) = load_workflow(path).warnings
    assert warning.suggestion == "Prompt"
    assert str(warning) == f"{path}:1: unknown column 'Promt' is ignored (did you mean 'Prompt'?)"


def test_several_unknown_columns_are_named_in_one_warning(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv("Node,Owner,Descripton,Edge\nA,me,x,\n")
    (warning,) = load_workflow(path).warnings
    assert warning.message == (
        "unknown columns are ignored: 'Owner', 'Descripton' (did you mean 'Description'?)"
    )
    assert warning.line == 1


def test_header_after_leading_comments_is_found(write_csv: Callable[..., Path]) -> None:
    path = write_csv("# my workflow\n\nNode,Edge\nA,B\nB,\n")
    graph = next(iter(load_workflow(path).graphs.values()))
    assert graph.node("A").line == 4


def test_missing_node_column_names_file_line_and_accepted_names(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv("GraphName,Nodes,Edge\nG,A,\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert str(caught.value) == (
        f"{path}:1, column 'Node': the header has no Node column (accepted names: Node, "
        "node_name, NodeName, Step, StepName, Name); header has 'GraphName', 'Nodes', 'Edge'"
    )


def test_two_headers_for_one_field_is_an_error(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge,next_node\nA,,\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert str(caught.value) == (
        f"{path}:1, column 'Edge': columns 'Edge' and 'next_node' both name the Edge column; "
        "keep one"
    )


def test_without_graphname_column_the_graph_is_named_after_the_file(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv("Node,Edge\nA,B\nB,\n", name="hello_world.csv")
    workflow = load_workflow(path)
    assert workflow.graph_names == ("hello_world",)
    assert workflow.graphs["hello_world"].node("B").graph == "hello_world"


def test_values_under_an_unnamed_column_give_one_warning(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge,\nA,B,\nB,,oops\nC,,again\n")
    workflow = load_workflow(path)
    messages = [str(w) for w in workflow.warnings]
    assert (
        f"{path}:3, graph 'flow', node 'B': a value under a column with no header is ignored"
        in (messages)
    )
    assert sum("no header" in m for m in messages) == 1
