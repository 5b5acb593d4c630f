"""``graph`` nodes: loading the graphs they run, mapping fields in and out, nesting runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentmap.agents.registry import AgentRegistry
from agentmap.errors import WorkflowError
from agentmap.runtime.runner import GraphRunner
from agentmap.workflow import load_graph
from agentmap.workflow.spec import NodeSpec
from tests.unit.runtime.helpers import Recorder, graph, node

HEADER = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt,Context\n"
)


def factory(spec: NodeSpec) -> Any:
    cls = AgentRegistry.with_builtins().get(spec.agent_type)
    return cls(spec.name, spec.prompt, dict(spec.context))


def write(path: Path, rows: str) -> Path:
    path.write_text(HEADER + rows)
    return path


def runner_for(ref: str | Path, recorder: Recorder | None = None) -> GraphRunner:
    _, g = load_graph(ref)
    return GraphRunner(g, factory, tracker=recorder, state_adapter=recorder)


def test_subgraph_in_the_same_file_maps_fields_in_and_out(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "main.csv",
        "Main,Start,echo,Check,,name,who,,\n"
        'Main,Check,graph,Done,Fix,text=who,verdict=result,,"{""workflow"": ""::Validate""}"\n'
        "Main,Done,echo,,,verdict,out,,\n"
        "Main,Fix,echo,,,error,out,,\n"
        "Validate,Test,branching,Ok,,text,,,\n"
        "Validate,Ok,echo,,,text,result,checked {text},\n",
    )
    result = runner_for(f"{csv}::Main").run({"name": "ada"})
    assert result.success, result.error
    assert result.path == ["Start", "Check", "Done"]
    assert result.state["verdict"] == "checked ada"
    assert result.state["out"] == "checked ada"
    assert "text" not in result.state  # the child's fields stay in the child


def test_failing_subgraph_fails_the_node_and_failure_next_applies(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "main.csv",
        'Main,Check,graph,Done,Fix,text=name,verdict=result,,"{""workflow"": ""::Validate""}"\n'
        "Main,Done,echo,,,verdict,out,,\n"
        "Main,Fix,echo,,,error,out,,\n"
        "Validate,Test,branching,Ok,,text,,,\n"
        "Validate,Ok,echo,,,text,result,,\n",
    )
    result = runner_for(f"{csv}::Main").run({"name": ""})
    assert result.success
    assert result.path == ["Check", "Fix"]
    assert result.state["out"] == "subgraph 'Validate' failed at node 'Test': text=''"
    assert result.state["errors"][0]["type"] == "SubgraphError"


def test_subgraph_in_another_file_gets_the_whole_state_and_returns_its_fields(
    tmp_path: Path,
) -> None:
    (tmp_path / "flows").mkdir()
    write(
        tmp_path / "flows" / "analysis.csv",
        "Analysis,Count,echo,,,text,length,,\n",
    )
    csv = write(
        tmp_path / "main.csv",
        "Main,Analyse,graph,,,,,flows/analysis.csv::Analysis,\n",
    )
    result = runner_for(csv).run({"text": "abc"})
    assert result.success, result.error
    assert result.state["length"] == "abc"


def test_single_plain_output_receives_the_childs_final_state(tmp_path: Path) -> None:
    write(tmp_path / "child.csv", "Child,Echo,echo,,,text,copy,,\n")
    csv = write(
        tmp_path / "main.csv",
        'Main,Call,graph,,,text,report,,"{""workflow"": ""child.csv""}"\n',
    )
    result = runner_for(csv).run({"text": "hi"})
    report = result.state["report"]
    assert report["text"] == "hi"
    assert report["copy"] == "hi"
    assert report["last_action_success"] is True


def test_child_events_nest_under_the_parent_run(tmp_path: Path) -> None:
    write(tmp_path / "child.csv", "Child,Echo,echo,,,text,copy,,\n")
    csv = write(
        tmp_path / "main.csv",
        'Main,Call,graph,,,,,,"{""workflow"": ""child.csv::Child""}"\n',
    )
    recorder = Recorder()
    result = runner_for(csv, recorder).run({"text": "hi"}, run_id="r1")
    assert result.success
    starts = [e for e in recorder.events if e.kind == "run_started"]
    assert [(e.run_id, e.parent_run_id, e.parent_node) for e in starts] == [
        ("r1", None, None),
        ("r1/Call/1", "r1", "Call"),
    ]
    child_nodes = [e.node for e in recorder.events if e.kind == "node_started" and e.run_id != "r1"]
    assert child_nodes == ["Echo"]


def test_missing_child_output_is_a_failure_naming_the_field(tmp_path: Path) -> None:
    write(tmp_path / "child.csv", "Child,Echo,echo,,,text,copy,,\n")
    csv = write(
        tmp_path / "main.csv",
        'Main,Call,graph,,,,out=nope,,"{""workflow"": ""child.csv""}"\n',
    )
    result = runner_for(csv).run({"text": "hi"})
    assert result.status == "failed"
    assert "subgraph 'Child' finished without writing 'nope'" in (result.error or "")


def test_recursion_between_graphs_is_a_load_error_naming_the_chain(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "loop.csv",
        'A,CallB,graph,,,,,,"{""workflow"": ""::B""}"\n'
        'B,CallA,graph,,,,,,"{""workflow"": ""::A""}"\n',
    )
    with pytest.raises(WorkflowError) as caught:
        load_graph(f"{csv}::A")
    message = str(caught.value)
    assert "subgraph recursion: A.CallB" in message
    assert "-> B.CallA" in message
    assert "runs graph 'A' again" in message
    assert f"{csv}:2" in message


def test_a_graph_calling_itself_is_a_load_error(tmp_path: Path) -> None:
    csv = write(tmp_path / "self.csv", 'A,Me,graph,,,,,,"{""workflow"": ""::A""}"\n')
    with pytest.raises(WorkflowError, match=r"subgraph recursion: A.Me .* runs graph 'A' again"):
        load_graph(csv)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("", "a graph node needs the graph to run"),
        ('"{""workflow"": ""::Nope""}"', "no graph named 'Nope'"),
        ('"{""workflow"": ""missing.csv::X""}"', "subgraph workflow file"),
        ('"{""workflow"": ""file.csv::""}"', "bad subgraph reference"),
    ],
)
def test_bad_subgraph_references_are_load_errors(
    tmp_path: Path, context: str, message: str
) -> None:
    csv = write(tmp_path / "main.csv", f"Main,Call,graph,,,,,,{context}\n")
    with pytest.raises(WorkflowError, match=message) as caught:
        load_graph(csv)
    assert f"{csv}:2" in str(caught.value)


def test_graph_node_without_a_loaded_subgraph_is_refused_when_building() -> None:
    g = graph(node("Call", "graph", context={"workflow": "::X"}))
    with pytest.raises(WorkflowError, match="subgraph was not loaded"):
        GraphRunner(g, factory)


def test_errors_in_a_subgraph_file_name_that_file_and_the_calling_node(tmp_path: Path) -> None:
    write(tmp_path / "child.csv", "Child,A,echo,Nowhere,,,,,\n")
    csv = write(tmp_path / "main.csv", 'Main,Call,graph,,,,,,"{""workflow"": ""child.csv""}"\n')
    with pytest.raises(WorkflowError) as caught:
        load_graph(csv)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{tmp_path / 'child.csv'}:2, graph 'Child', node 'A'")
    assert "target 'Nowhere' is not a node of this graph" in lines[0]
    assert lines[-1] == (
        f"{csv}:2, graph 'Main', node 'Call', column 'Context': runs a graph of "
        f"{str(tmp_path / 'child.csv')!r}, which does not load (errors above)"
    )
