"""The data-flow check: which input fields may be unset when a node runs."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from agentmap.errors import Diagnostic
from agentmap.workflow import load_workflow, select_graph
from agentmap.workflow.dataflow import check_data_flow, declared_inputs, unset_inputs
from agentmap.workflow.parsing import parse_inputs_directive
from agentmap.workflow.reader import read_table
from tests.unit.workflow.samples import PARALLEL

Writer = Callable[..., Path]
HEADER = "GraphName,Node,AgentType,Edge,Success_Next,Failure_Next,Input_Fields,Output_Field\n"


def rows(*lines: str) -> str:
    """``G,Node,echo,<Edge>,<Success_Next>,<Failure_Next>,<Input_Fields>,<Output_Field>`` rows."""
    return HEADER + "".join(f"G,{line}\n" for line in lines)


def check(write_csv: Writer, text: str, inputs: Collection[str] = ()) -> list[Diagnostic]:
    workflow = load_workflow(write_csv(text))
    graph = select_graph(workflow, None)
    return check_data_flow(graph, (*declared_inputs(workflow, graph.name), *inputs))


def missing(diagnostics: list[Diagnostic]) -> dict[str, list[str]]:
    """Node -> the fields its warning names."""
    found = {}
    for d in diagnostics:
        listed = re.match(r"input fields? (.*?) may be unset", d.message)
        assert listed is not None, d.message
        assert d.node is not None
        found[d.node] = re.findall(r"'([^']*)'", listed.group(1))
    return found


def test_a_chain_reports_only_what_nothing_before_writes(write_csv: Writer) -> None:
    text = rows("A,echo,,B,,x,a", "B,echo,,C,,a,b", "C,echo,,,,b|z|a,c")
    (warning,) = check(write_csv, text, {"x"})
    assert (warning.node, warning.line, warning.column, warning.severity) == (
        "C",
        4,
        "Input_Fields",
        "warning",
    )
    assert warning.file is not None
    assert warning.graph == "G"
    assert warning.message == (
        "input field 'z' may be unset when this node runs: no node on a path to this one "
        "writes it. Declare it as a run input (a '# inputs: z' row in the CSV) or have every "
        "path to this node write it"
    )


def test_without_declared_inputs_the_entry_node_is_reported(write_csv: Writer) -> None:
    text = rows("A,echo,,B,,x|y,a", "B,echo,,,,a,b")
    assert missing(check(write_csv, text)) == {"A": ["x", "y"]}
    (warning,) = check(write_csv, text)
    assert "Declare them as run inputs (a '# inputs: x, y' row in the CSV)" in warning.message
    assert check(write_csv, text, {"x", "y"}) == []


def test_success_edges_carry_outputs_and_failure_edges_carry_the_error(
    write_csv: Writer,
) -> None:
    text = rows("A,echo,,Ok,Bad,,a", "Ok,echo,,,,a|error,", "Bad,echo,,,,a|error|errors,")
    found = check(write_csv, text)
    assert missing(found) == {"Ok": ["error"], "Bad": ["a"]}
    ok, bad = found
    assert ok.message == (
        "input field 'error' may be unset when this node runs: it is set only when a node "
        "fails, and no failure route leads to this node"
    )
    assert bad.message.startswith(
        "input field 'a' may be unset when this node runs: no node on a path to this one writes it"
    )


def test_an_edge_is_taken_after_success_and_after_failure(write_csv: Writer) -> None:
    text = rows("A,echo,B,,,,a", "B,echo,,,,a|error|errors|last_action_success,")
    assert check(write_csv, text) == []


def test_an_edge_beside_a_failure_next_is_taken_after_success_only(write_csv: Writer) -> None:
    text = rows("A,echo,B,,C,,a", "B,echo,,,,a|error,", "C,echo,,,,a|error,")
    assert missing(check(write_csv, text)) == {"B": ["error"], "C": ["a"]}


def test_last_action_success_is_set_after_any_node(write_csv: Writer) -> None:
    text = rows("A,echo,B,,,last_action_success,", "B,echo,,,,last_action_success,")
    (warning,) = check(write_csv, text)
    assert warning.node == "A"
    assert warning.message.endswith("it is set only after a node has run")


def test_alternative_paths_intersect(write_csv: Writer) -> None:
    text = rows("A,echo,,B,C,,", "B,echo,,D,,,b", "C,echo,,D,,,c", "D,echo,,,,b|c,")
    (warning,) = check(write_csv, text)
    assert warning.message.startswith(
        "input fields 'b', 'c' may be unset when this node runs: 'b' is written by 'B', but "
        "not on every path to this node; 'c' is written by 'C', but not on every path to this "
        "node. Declare them as run inputs (a '# inputs: b, c' row in the CSV)"
    )


def test_the_parallel_example(write_csv: Writer) -> None:
    found = check(write_csv, PARALLEL, {"input_data"})
    assert missing(found) == {"End": ["combined_result"]}
    (end,) = found
    assert end.line == 7
    assert end.message == (
        "input field 'combined_result' may be unset when this node runs: it is written by "
        "'Join', but not on every path to this node. Declare it as a run input (a '# inputs: "
        "combined_result' row in the CSV) or have every path to this node write it"
    )
    assert missing(check(write_csv, PARALLEL)) == {
        "SplitWork": ["input_data"],
        "End": ["combined_result"],
    }


def test_branches_that_never_meet_do_not_supply_each_other(write_csv: Writer) -> None:
    text = rows(
        "S,echo,,A|B,,,s", "A,echo,,J,,s,a", "B,echo,,X,,s,b", "J,echo,,,,a|b,", "X,echo,,,,b,"
    )
    assert missing(check(write_csv, text)) == {"J": ["b"]}


def test_nested_fan_outs_unite_at_each_join(write_csv: Writer) -> None:
    inner_join_first = rows(
        "S,echo,,A|B,,,s",
        "A,echo,,A1|A2,,s,a",
        "A1,echo,,JA,,a,a1",
        "A2,echo,,JA,,a,a2",
        "JA,echo,,J,,a1|a2|s,ja",
        "B,echo,,J,,s,b",
        "J,echo,,,,ja|b|a|a1|a2|s,",
    )
    assert check(write_csv, inner_join_first) == []
    one_join_for_both = rows(
        "S,echo,,A|B,,,s",
        "A,echo,,A1|A2,,s,a",
        "A1,echo,,J,,a,a1",
        "A2,echo,,J,,a,a2",
        "B,echo,,J,,s,b",
        "J,echo,,,,a1|a2|b|a|s,",
    )
    assert check(write_csv, one_join_for_both) == []


def test_alternatives_inside_a_branch_still_intersect(write_csv: Writer) -> None:
    # A1 may fail straight to the join, without writing a1.
    text = rows(
        "S,echo,,A|B,,,s",
        "A,echo,,A1|A2,,s,a",
        "A1,echo,,JA,JA,a,a1",
        "A2,echo,,JA,,a,a2",
        "JA,echo,,J,,a2,ja",
        "B,echo,,J,,s,b",
        "J,echo,,,,ja|b|a1,",
    )
    assert missing(check(write_csv, text)) == {"J": ["a1"]}


def test_a_retry_loop_reads_its_counter_before_it_is_written(write_csv: Writer) -> None:
    text = rows(
        "Start,echo,,Work,,x,",
        "Work,echo,,Check,,x|attempt,result",
        "Check,echo,,End,Count,result,verdict",
        "Count,echo,,Work,,x|error,attempt",
        "End,echo,,,,result|x|verdict,",
    )
    found = check(write_csv, text, {"x"})
    assert missing(found) == {"Work": ["attempt"]}
    assert "it is written by 'Count', but not on every path to this node" in found[0].message


def test_outputs_are_not_written_on_failure_even_in_a_loop(write_csv: Writer) -> None:
    text = rows("Work,echo,,Check,,attempt,", "Check,echo,,Done,Work,,attempt", "Done,echo,,,,,")
    (warning,) = check(write_csv, text)
    assert warning.message.startswith(
        "input field 'attempt' may be unset when this node runs: no node on a path to this "
        "one writes it"
    )


def test_a_loop_around_a_fan_out_still_unites_its_branches(write_csv: Writer) -> None:
    text = rows(
        "Start,echo,,Split,,x,",
        "Split,echo,,A|B,,x,s",
        "A,echo,,Join,,s,a",
        "B,echo,,Join,,s,b",
        "Join,echo,,Done,Start,a|b,j",
        "Done,echo,,,,j|a|b|s|x,",
    )
    assert check(write_csv, text, {"x"}) == []


def test_func_routers_add_no_path_and_no_warning(write_csv: Writer) -> None:
    text = rows(
        "A,echo,,func:routes.pick,E,,a",
        "B,echo,,,,z,",  # only the router leads here: not checked
        "E,echo,,,,a,",  # reached by a listed route: checked
    )
    assert missing(check(write_csv, text)) == {"E": ["a"]}


def test_a_fan_out_with_a_router_leaves_its_branches_unchecked(write_csv: Writer) -> None:
    text = rows("A,echo,,B|func:routes.more,,,a", "B,echo,,C,,q,", "C,echo,,,,r,", "D,echo,,,,w,")
    assert check(write_csv, text) == []


def test_graph_nodes_read_the_parent_side_of_their_mappings(write_csv: Writer) -> None:
    text = rows("A,graph,,B,,record=order,verdict=result", "B,echo,,,,verdict,")
    assert missing(check(write_csv, text)) == {"A": ["order"]}


def test_a_graph_node_without_output_field_may_write_anything(write_csv: Writer) -> None:
    text = rows("A,graph,,B,,,", "B,echo,,,,anything|at_all,")
    assert check(write_csv, text) == []


def test_a_field_read_twice_is_named_once(write_csv: Writer) -> None:
    text = rows("A,echo,,,,q|q:other,")
    assert missing(check(write_csv, text)) == {"A": ["q"]}


def test_unreached_nodes_are_left_to_the_unreachable_warning(write_csv: Writer) -> None:
    text = rows("A,echo,,,,,", "Orphan,echo,,,,nothing,")
    assert check(write_csv, text) == []


# -- declared inputs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["# inputs: a", "b"], ("", ("a", "b"))),  # an unquoted "# inputs: a, b"
        (["# inputs: a|b | c"], ("", ("a", "b", "c"))),
        (["#inputs:a", "", "", ""], ("", ("a",))),  # a spreadsheet pads rows with commas
        (["# Inputs(Main): x", "y"], ("Main", ("x", "y"))),
        (["# input: a", "a"], ("", ("a",))),
        (["# inputs:"], ("", ())),
        (["# a plain comment"], None),
        (["# inputs are listed below"], None),
    ],
)
def test_parse_inputs_directive(cells: list[str], expected: object) -> None:
    assert parse_inputs_directive(cells) == expected


def test_inputs_comment_rows_are_kept_per_graph(write_csv: Writer) -> None:
    path = write_csv(
        "# inputs: a, b\n"
        "GraphName,Node,Input_Fields\n"
        "Main,A,a|b|c\n"
        "# inputs(Main): c\n"
        "Other,B,a|d\n"
        "# inputs: e\n"
        "# inputs(Mian): d\n"
    )
    workflow = load_workflow(path)
    assert dict(workflow.inputs) == {"": ("a", "b", "e"), "Main": ("c",)}
    assert declared_inputs(workflow, "Main") == ("a", "b", "e", "c")
    assert declared_inputs(workflow, "Other") == ("a", "b", "e")
    (typo,) = workflow.warnings
    assert (typo.line, typo.graph, typo.suggestion, typo.severity) == (7, "Mian", "Main", "warning")
    assert "'# inputs(Mian)' names no graph of this file" in typo.message
    assert check_data_flow(workflow.graphs["Main"], declared_inputs(workflow, "Main")) == []
    (other,) = check_data_flow(workflow.graphs["Other"], declared_inputs(workflow, "Other"))
    assert (other.node, missing([other])) == ("B", {"B": ["d"]})
    assert (
        check_data_flow(workflow.graphs["Other"], ("d", *declared_inputs(workflow, "Other"))) == []
    )


def test_declared_inputs_survive_pickling(write_csv: Writer) -> None:
    workflow = load_workflow(write_csv("# inputs: a\nNode,Input_Fields\nA,a\n"))
    copy = pickle.loads(pickle.dumps(workflow))
    assert copy.inputs == {"": ("a",)}
    with pytest.raises(TypeError):
        copy.inputs["x"] = ()  # type: ignore[index]


def test_the_argument_and_the_comment_rows_add_up(write_csv: Writer) -> None:
    text = "# inputs: a\n" + rows("A,echo,,,,a|b,")
    assert missing(check(write_csv, text)) == {"A": ["b"]}
    assert check(write_csv, text, {"b"}) == []


# -- size --------------------------------------------------------------------------------


def test_a_5000_node_chain_with_an_error_handler(write_csv: Writer) -> None:
    lines = ["N0,echo,,N1,Error,seed,f0"]
    lines += [f"N{i},echo,,N{i + 1},Error,f{i - 1},f{i}" for i in range(1, 4999)]
    lines += ["N4999,echo,,,,f4998|late,out", "Error,echo,,N0,,error|f10,"]
    found = check(write_csv, rows(*lines), {"seed"})
    assert missing(found) == {"N4999": ["late"], "Error": ["f10"]}


def test_a_5000_node_loop(write_csv: Writer) -> None:
    lines = ["N0,echo,N1,,,f4999,f0"]
    lines += [f"N{i},echo,N{i + 1},,,f{i - 1},f{i}" for i in range(1, 4999)]
    lines += ["N4999,echo,,N0,Done,f4998,f4999", "Done,echo,,,,f0|f4998,"]
    (warning,) = check(write_csv, rows(*lines))
    assert warning.node == "N0"
    assert "it is written by 'N4999', but not on every path to this node" in warning.message


def test_the_reader_sets_comment_rows_aside_with_their_lines(write_csv: Writer) -> None:
    table = read_table(write_csv("# inputs: a, b\nNode\n# note\nA\n  # indented,x\n"))
    assert [(r.line, r.cells) for r in table.comments] == [
        (1, ["# inputs: a", "b"]),
        (3, ["# note"]),
        (5, ["# indented", "x"]),
    ]
    assert [r.cells for r in table.rows] == [["A"]]


def test_unset_inputs_lists_each_field_some_node_may_read_before_it_is_written(
    write_csv: Writer,
) -> None:
    # A reads x (nothing before it); C reads z (nobody writes it) and a (A wrote it);
    # D is reached after A fails, where a was not written.
    text = rows("A,echo,,B,D,x,a", "B,echo,,C,,a,b", "C,echo,,,,b|z|a,c", "D,echo,,,,a|error,d")
    graph = select_graph(load_workflow(write_csv(text)), None)
    found = unset_inputs(graph)
    assert sorted(found) == ["a", "x", "z"]
    assert len(found) == 3  # each field once, though C and D both may read a unset
    assert [d.node for d in check_data_flow(graph, ())] == ["A", "C", "D"]
