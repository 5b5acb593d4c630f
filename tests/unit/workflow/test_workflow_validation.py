"""Row and graph checks: each names file, line, column and node, and all are reported at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow import load_workflow

TYPES = {"default", "echo", "success", "failure", "branching", "input", "WeatherAgent"}


def errors_of(path: Path, **kwargs: object) -> list[Diagnostic]:
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.diagnostics


def lines_of(path: Path, **kwargs: object) -> list[str]:
    return [str(d) for d in errors_of(path, **kwargs)]


def test_duplicate_node(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nA,B\nB,\nA,\n")
    assert lines_of(path) == [
        f"{path}:4, graph 'flow', node 'A', column 'Node': duplicate node 'A': already "
        "declared on line 2 of this graph"
    ]


def test_the_same_name_in_two_graphs_is_fine(write_csv: Callable[..., Path]) -> None:
    path = write_csv("GraphName,Node\nOne,A\nTwo,A\n")
    assert load_workflow(path).graph_names == ("One", "Two")


@pytest.mark.parametrize("column", ["Edge", "Success_Next", "Failure_Next"])
def test_dangling_target_in_each_next_column_suggests_a_node(
    write_csv: Callable[..., Path], column: str
) -> None:
    path = write_csv(f"Node,{column}\nStart,Sumarize\nSummarize,\n")
    (error,) = errors_of(path)
    assert (error.line, error.column, error.node, error.suggestion) == (
        2,
        column,
        "Start",
        "Summarize",
    )
    assert str(error) == (
        f"{path}:2, graph 'flow', node 'Start', column '{column}': target 'Sumarize' is not a "
        "node of this graph (did you mean 'Summarize'?)"
    )


def test_dangling_target_in_a_fan_out_and_in_another_case(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nSplit,A|b|Zebra\nA,\nB,\n")
    assert lines_of(path) == [
        f"{path}:2, graph 'flow', node 'Split', column 'Edge': target 'b' is not a node of this "
        "graph (did you mean 'B'?)",
        f"{path}:2, graph 'flow', node 'Split', column 'Edge': target 'Zebra' is not a node of "
        "this graph",
    ]


def test_a_target_in_another_graph_says_so(write_csv: Callable[..., Path]) -> None:
    path = write_csv("GraphName,Node,Edge\nMain,A,Helper\nOther,Helper,\n")
    assert lines_of(path) == [
        f"{path}:2, graph 'Main', node 'A', column 'Edge': target 'Helper' is not a node of "
        "this graph (it is a node of graph 'Other'; a graph agent can run another graph)"
    ]


@pytest.mark.parametrize("row", ["A,B,B,", "A,B,B,B"])
def test_edge_with_success_next_is_an_error(write_csv: Callable[..., Path], row: str) -> None:
    path = write_csv(f"Node,Edge,Success_Next,Failure_Next\n{row}\nB,,,\n")
    assert lines_of(path) == [
        f"{path}:2, graph 'flow', node 'A', column 'Edge': Edge and Success_Next are both set; "
        "use Edge alone, or Success_Next (with Failure_Next if needed) without Edge"
    ]


def test_edge_with_failure_next_is_valid(write_csv: Callable[..., Path]) -> None:
    """DESIGN §3: failure -> Failure_Next, else Edge; success -> Edge."""
    path = write_csv("Node,Edge,Failure_Next\nA,B,C\nB,,\nC,,\n")
    node = load_workflow(path).graphs["flow"].nodes["A"]
    assert (node.on_success, node.on_failure) == (("B",), ("C",))


def test_empty_node_cell(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Prompt\nA,hi\n,orphan prompt\n")
    assert lines_of(path) == [
        f"{path}:3, graph 'flow', column 'Node': the Node cell is empty; every row needs a node "
        "name"
    ]


def test_empty_graph(write_csv: Callable[..., Path]) -> None:
    path = write_csv("GraphName,Node,Prompt\nMain,A,\nDraft,,todo\n")
    assert lines_of(path) == [
        f"{path}:3, graph 'Draft', column 'Node': the Node cell is empty; every row needs a "
        "node name",
        f"{path}:3, graph 'Draft', column 'GraphName': the graph has no nodes",
    ]


@pytest.mark.parametrize("name", ["A|B", "func:x.y"])
def test_node_names_that_could_not_be_targeted(write_csv: Callable[..., Path], name: str) -> None:
    path = write_csv(f'Node\nStart\n"{name}"\n')
    assert lines_of(path) == [
        f"{path}:3, graph 'flow', node '{name}', column 'Node': node name '{name}' cannot "
        "contain '|' or start with 'func:'"
    ]


def test_unknown_agent_type(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,AgentType\nA,custom:WeatherAgnt\nB,ech\nC,nonsense\n")
    assert lines_of(path, agent_types=TYPES) == [
        f"{path}:2, graph 'flow', node 'A', column 'AgentType': unknown agent type "
        "'WeatherAgnt' (did you mean 'WeatherAgent'?)",
        f"{path}:3, graph 'flow', node 'B', column 'AgentType': unknown agent type 'ech' (did "
        "you mean 'echo'?)",
        f"{path}:4, graph 'flow', node 'C', column 'AgentType': unknown agent type 'nonsense'; "
        "known types: branching, default, echo, failure, graph, input, success, WeatherAgent",
    ]


def test_agent_types_get_their_canonical_spelling(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,AgentType,Edge\nA,custom:weatheragent,B\nB,,C\nC,ECHO,\n")
    nodes = load_workflow(path, agent_types=TYPES).graphs["flow"].nodes
    assert [n.agent_type for n in nodes.values()] == ["WeatherAgent", "default", "echo"]
    # Without known types the check is skipped and the text kept as written.
    nodes = load_workflow(path).graphs["flow"].nodes
    assert [n.agent_type for n in nodes.values()] == ["weatheragent", "default", "ECHO"]


def test_func_targets_are_kept_and_not_checked(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nA,func:routes.pick\nB,\nC,\n")
    workflow = load_workflow(path)
    assert workflow.graphs["flow"].node("A").edge == ("func:routes.pick",)
    # A router may route anywhere, so nothing is reported unreachable.
    assert workflow.warnings == ()


def test_bad_func_target(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Success_Next\nA,func:\n")
    assert lines_of(path) == [
        f"{path}:2, graph 'flow', node 'A', column 'Success_Next': 'func:' is not a function "
        "reference; write func:module.function"
    ]


def test_unreachable_nodes_are_warnings(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nStart,End\nOrphan,End\nEnd,\n")
    workflow = load_workflow(path)
    assert [str(w) for w in workflow.warnings] == [
        f"{path}:3, graph 'flow', node 'Orphan', column 'Node': node is unreachable from the "
        "entry node 'Start'; it never runs"
    ]
    assert workflow.warnings[0].severity == "warning"


def test_retry_loops_with_an_exit_are_fine(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        "Node,Success_Next,Failure_Next\nCall,Done,Retry\nRetry,Call,Give_up\nDone,,\nGive_up,,\n"
    )
    assert load_workflow(path).warnings == ()


def test_cycle_without_exit(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge,Success_Next\nStart,Ask,\nAsk,,Check\nCheck,Ask,\n")
    assert lines_of(path) == [
        f"{path}:3, graph 'flow', node 'Ask', column 'Success_Next': cycle with no exit: no path "
        "from 'Ask', 'Check' reaches a node without a next node, so a run entering this loop "
        "never ends"
    ]


def test_self_loop_without_exit(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nLoop,Loop\n")
    (error,) = errors_of(path)
    assert (error.node, error.line, error.column) == ("Loop", 2, "Edge")
    assert "cycle with no exit: no path from 'Loop' reaches" in error.message


def test_two_trapped_cycles_are_both_named(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nA,B\nB,A|C\nC,D\nD,C\n")
    assert [(e.node, e.line) for e in errors_of(path)] == [("A", 2), ("C", 4)]


def test_a_huge_cycle_is_named_briefly(write_csv: Callable[..., Path]) -> None:
    rows = "".join(f"N{i},N{(i + 1) % 5000}\n" for i in range(5000))
    (error,) = errors_of(write_csv("Node,Edge\n" + rows))
    assert error.message.startswith(
        "cycle with no exit: no path from 'N0', 'N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7', 'N8', "
        "'N9' and 4990 more reaches"
    )


def test_dangling_targets_do_not_also_count_as_trapped_cycles(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv("Node,Edge\nA,B|Typo\nB,A\n")
    (error,) = errors_of(path)
    assert "target 'Typo' is not a node" in error.message


def test_every_error_of_a_file_is_reported_in_line_order(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        "GraphName,Node,AgentType,Edge,Context\n"
        "G,A,ech,B,\n"
        "G,B,echo,Nope,{bad\n"
        "G,,echo,,\n"
        "H,X,echo,X,\n"
        "G,A,echo,,\n"
    )
    errors = errors_of(path, agent_types=TYPES)
    assert [(e.line, e.column) for e in errors] == [
        (2, "AgentType"),
        (3, "Context"),
        (3, "Edge"),
        (4, "Node"),
        (5, "Edge"),
        (6, "Node"),
    ]
    assert all(e.file == path and e.severity == "error" for e in errors)


def test_only_the_first_dangling_targets_get_suggestions(write_csv: Callable[..., Path]) -> None:
    # Fuzzy matching is slow on big graphs, so a file full of typos still fails fast.
    rows = "".join(f"Node{i},Nod{i}\n" for i in range(30))
    errors = errors_of(write_csv("Node,Edge\n" + rows))
    assert len(errors) == 30
    assert [e.suggestion is not None for e in errors] == [True] * 20 + [False] * 10


def test_an_unreachable_router_does_not_hide_unreachable_nodes(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv("Node,Edge\nA,\nB,func:routes.pick\nC,\n")
    warnings = load_workflow(path).warnings
    assert [(w.node, w.line) for w in warnings] == [("B", 3), ("C", 4)]
