"""Public entry points: references, graph selection, multi-graph files and the built specs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

import agentmap.workflow as workflow_pkg
from agentmap.errors import WorkflowError
from agentmap.workflow import (
    FieldMapping,
    GraphSpec,
    WorkflowSpec,
    load_graph,
    load_workflow,
    parse_workflow_ref,
    select_graph,
)

DATA = Path(__file__).parent / "data"
TWO_GRAPHS = "GraphName,Node,Edge\nMain,Start,End\nHelper,Work,\nMain,End,\n"


def test_public_api() -> None:
    assert {"load_workflow", "load_graph", "select_graph", "parse_workflow_ref"} <= set(
        workflow_pkg.__all__
    )
    for name in workflow_pkg.__all__:
        assert hasattr(workflow_pkg, name)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("flows/x.csv::MyGraph", (Path("flows/x.csv"), "MyGraph")),
        ("x.csv", (Path("x.csv"), None)),
        (Path("flows/x.csv"), (Path("flows/x.csv"), None)),
        ("x.csv :: My Graph ", (Path("x.csv"), "My Graph")),
        ("x.csv::ns::Graph", (Path("x.csv"), "ns::Graph")),
    ],
)
def test_parse_workflow_ref(ref: str | Path, expected: tuple[Path, str | None]) -> None:
    assert parse_workflow_ref(ref) == expected


@pytest.mark.parametrize("ref", ["x.csv::", "::Graph", "x.csv:: "])
def test_parse_workflow_ref_rejects_half_references(ref: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow_ref(ref)
    assert str(caught.value) == (
        f"bad workflow reference {ref!r}: write file.csv or file.csv::GraphName"
    )


def test_several_graphs_with_non_contiguous_rows(write_csv: Callable[..., Path]) -> None:
    workflow = load_workflow(write_csv(TWO_GRAPHS))
    assert workflow.graph_names == ("Main", "Helper")
    main = workflow.graphs["Main"]
    assert list(main.nodes) == ["Start", "End"]
    assert main.entry == "Start"
    assert [n.line for n in main.nodes.values()] == [2, 4]
    assert workflow.graphs["Helper"].entry == "Work"
    assert workflow.warnings == ()


def test_an_empty_graphname_cell_continues_the_previous_graph(
    write_csv: Callable[..., Path],
) -> None:
    text = "GraphName,Node,Edge\n,Intro,\nSecond,A,B\n,B,\nFirst,Main,\n"
    workflow = load_workflow(write_csv(text, name="flows.csv"))
    # Rows before any named graph belong to the graph named after the file.
    assert {name: list(g.nodes) for name, g in workflow.graphs.items()} == {
        "flows": ["Intro"],
        "Second": ["A", "B"],
        "First": ["Main"],
    }


def test_graph_names_differing_only_by_case_warn(write_csv: Callable[..., Path]) -> None:
    path = write_csv("GraphName,Node\nMain,A\nmain,B\n")
    workflow = load_workflow(path)
    assert workflow.graph_names == ("Main", "main")
    assert [str(w) for w in workflow.warnings] == [
        f"{path}:3, graph 'main', column 'GraphName': graph names 'Main' and 'main' differ "
        "only by case: two graphs"
    ]


def test_a_target_listed_twice_warns_and_runs_once(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nA,B|C|B\nB,\nC,\n")
    workflow = load_workflow(path)
    assert workflow.graphs["flow"].node("A").edge == ("B", "C")
    assert [str(w) for w in workflow.warnings] == [
        f"{path}:2, graph 'flow', node 'A', column 'Edge': target 'B' is listed twice; it runs once"
    ]


def test_select_graph(write_csv: Callable[..., Path]) -> None:
    path = write_csv(TWO_GRAPHS)
    workflow = load_workflow(path)
    assert select_graph(workflow, "Helper").name == "Helper"
    with pytest.raises(WorkflowError) as caught:
        select_graph(workflow, None)
    assert str(caught.value) == (
        f"{path}: the file has 2 graphs ('Main', 'Helper'); choose one with "
        f"{path}::GraphName or by passing its name as the graph"
    )
    with pytest.raises(WorkflowError) as caught:
        select_graph(workflow, "helper")
    assert str(caught.value) == (
        f"{path}, graph 'helper': no graph named 'helper'; the file has 'Main', 'Helper' "
        "(did you mean 'Helper'?)"
    )


def test_select_the_only_graph(write_csv: Callable[..., Path]) -> None:
    workflow = load_workflow(write_csv("Node\nA\n"))
    assert select_graph(workflow, None) is workflow.graphs["flow"]


def test_load_graph(write_csv: Callable[..., Path]) -> None:
    path = write_csv(TWO_GRAPHS)
    workflow, graph = load_graph(f"{path}::Helper")
    assert isinstance(workflow, WorkflowSpec)
    assert graph.name == "Helper"
    assert load_graph(path, "Main")[1].name == "Main"
    assert load_graph(f"{path}::Main", "Main")[1].name == "Main"
    with pytest.raises(WorkflowError) as caught:
        load_graph(f"{path}::Main", "Helper")
    assert str(caught.value) == (
        f"{path}: two different graphs requested: 'Main' in the reference and 'Helper' as the "
        "graph option; give only one"
    )
    with pytest.raises(WorkflowError, match="the file has 2 graphs"):
        load_graph(path)


def test_load_graph_checks_agent_types(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,AgentType\nA,echo\n")
    with pytest.raises(WorkflowError, match="unknown agent type 'echo'"):
        load_graph(path, agent_types={"default"})


def test_specs_are_immutable(write_csv: Callable[..., Path]) -> None:
    workflow = load_workflow(write_csv('Node,Context\nA,"{""a"": 1}"\n'))
    graph = workflow.graphs["flow"]
    node = graph.node("A")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "B"  # type: ignore[misc]
    with pytest.raises(TypeError):
        node.context["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        graph.nodes["B"] = node  # type: ignore[index]
    with pytest.raises(TypeError):
        workflow.graphs["x"] = graph  # type: ignore[index]


def test_a_realistic_file() -> None:
    path = DATA / "support.csv"
    workflow = load_workflow(
        path, agent_types={"default", "echo", "success", "failure", "branching", "input"}
    )
    assert workflow.file == path
    assert workflow.graph_names == ("Support", "Billing")
    assert workflow.warnings == ()
    support = workflow.graphs["Support"]
    assert isinstance(support, GraphSpec)
    assert support.file == path
    assert list(support.nodes) == ["Intake", "Classify", "Answer", "Escalate", "Done"]
    assert support.entry == "Intake"

    intake = support.node("Intake")
    assert (intake.agent_type, intake.line, intake.file) == ("input", 3, path)
    assert intake.outputs == (FieldMapping("request", "request"),)
    assert intake.description == "Ask the user what they need"
    assert intake.on_success == ("Classify",)
    assert intake.on_failure == ()

    classify = support.node("Classify")
    assert (classify.success_next, classify.failure_next) == (("Answer",), ("Escalate",))
    assert dict(classify.context) == {"success_field": "is_simple"}

    answer = support.node("Answer")
    assert answer.line == 9
    assert answer.inputs == (FieldMapping("request", "request"), FieldMapping("history", "context"))
    assert answer.prompt == "Answer:\n{request}\nContext: {context}"
    assert dict(answer.context) == {"timeout": 30}

    assert dict(support.node("Escalate").context) == {"text": "Escalated to a human"}
    assert [n.line for n in support.nodes.values()] == [3, 4, 9, 12, 15]

    billing = workflow.graphs["Billing"]
    lookup = billing.node("Lookup")
    assert (billing.entry, lookup.line) == ("Lookup", 7)
    assert lookup.inputs == (FieldMapping("account_id", "id"),)
    assert lookup.prompt == "Find the invoice\nfor {id}"
    assert lookup.targets == ("Charge", "Refund")


def test_prompt_references_are_kept_verbatim(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Prompt\nA,prompt:greeting\nB,file:prompts/x.txt\nC,yaml:p.yaml#k\n")
    nodes = load_workflow(path).graphs["flow"].nodes
    assert [n.prompt for n in nodes.values()] == [
        "prompt:greeting",
        "file:prompts/x.txt",
        "yaml:p.yaml#k",
    ]


def test_a_5000_node_chain_loads(tmp_path: Path) -> None:
    count = 5000
    rows = [
        f"Chain,N{i},echo,{f'N{i + 1}' if i < count - 1 else ''},x,x,Step {i}: {{x}}"
        for i in range(count)
    ]
    path = tmp_path / "chain.csv"
    path.write_text("GraphName,Node,AgentType,Edge,Input_Fields,Output_Field,Prompt\n")
    with path.open("a") as handle:
        handle.write("\n".join(rows) + "\n")
    workflow = load_workflow(path, agent_types={"echo", "default"})
    graph = workflow.graphs["Chain"]
    assert graph.entry == "N0"
    assert len(graph) == count
    last = graph.node(f"N{count - 1}")
    assert (last.edge, last.line) == ((), count + 1)
    assert workflow.warnings == ()
