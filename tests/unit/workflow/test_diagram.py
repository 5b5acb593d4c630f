"""Drawing graphs: Mermaid source and the text tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentmap.workflow import GraphSpec, load_workflow, select_graph
from agentmap.workflow.diagram import Route, routes, to_mermaid, to_text
from tests.unit.workflow.samples import PARALLEL

Writer = Callable[..., Path]
ROUTES = (
    "GraphName,Node,AgentType,Edge,Success_Next,Failure_Next,Context,Description\n"
    'D,Ask user,input,,Route?,,,"  Asks   the\n'
    'user something long enough to be cut off at sixty characters exactly"\n'
    "D,Route?,echo,,func:routes.pick,Fix [1],,\n"
    "D,Fix [1],echo,Ask user|Log,,,,\n"
    "D,Log,echo,Sub,,Log,,\n"
    'D,Sub,graph,,,,"{""workflow"": ""flows/x.csv::Child""}",\n'
    "D,Orphan,echo,,func:routes.pick,,,\n"
)


def graph_of(write_csv: Writer, text: str) -> GraphSpec:
    return select_graph(load_workflow(write_csv(text)), None)


def test_mermaid_of_a_fan_out_with_failures_and_a_join(write_csv: Writer) -> None:
    assert to_mermaid(graph_of(write_csv, PARALLEL)) == (
        "flowchart TD\n"
        '    n0(["SplitWork<br/>splitter"])\n'
        '    n1["TaskA<br/>echo"]\n'
        '    n2["TaskB<br/>echo"]\n'
        '    n3["TaskC<br/>echo"]\n'
        '    n4["Join<br/>aggregator"]\n'
        '    n5["End<br/>echo"]\n'
        '    n6["Error<br/>echo"]\n'
        "    n0 ==>|parallel| n1\n"
        "    n0 ==>|parallel| n2\n"
        "    n0 ==>|parallel| n3\n"
        "    n0 -. failure .-> n6\n"
        "    n1 --> n4\n"
        "    n1 -. failure .-> n6\n"
        "    n2 --> n4\n"
        "    n2 -. failure .-> n6\n"
        "    n3 --> n4\n"
        "    n3 -. failure .-> n6\n"
        "    n4 --> n5\n"
        "    n4 -. failure .-> n6\n"
        "    n6 --> n5\n"
        "    classDef entry stroke-width:3px\n"
        "    class n0 entry\n"
    )


def test_mermaid_shapes_routers_subgraphs_edges_and_descriptions(write_csv: Writer) -> None:
    assert to_mermaid(graph_of(write_csv, ROUTES)) == (
        "flowchart TD\n"
        '    n0(["Ask user<br/>input<br/><i>Asks the user something long enough to be cut off '
        'at sixty …</i>"])\n'
        '    n1["Route?<br/>echo"]\n'
        '    n2["Fix #91;1#93;<br/>echo"]\n'
        '    n3["Log<br/>echo"]\n'
        '    n4[["Sub<br/>graph → flows/x.csv::Child"]]\n'
        '    n5["Orphan<br/>echo"]\n'
        "    n0 --> n1\n"
        '    r0{"func:routes.pick"}\n'
        "    n1 --> r0\n"
        "    n1 -. failure .-> n2\n"
        "    n2 ==>|parallel always| n0\n"
        "    n2 ==>|parallel always| n3\n"
        "    n3 --> n4\n"  # Edge beside a Failure_Next: the success route, unlabelled
        "    n3 -. failure .-> n3\n"
        "    n5 --> r0\n"  # one diamond per router, however many nodes use it
        "    classDef entry stroke-width:3px\n"
        "    class n0 entry\n"
        "    classDef router stroke-dasharray:4 3\n"
        "    class r0 router\n"
    )


def test_mermaid_edge_labels(write_csv: Writer) -> None:
    text = "Node,Edge,Success_Next,Failure_Next\nA,B,,\nB,,,C|D\nC,D,,\nD,,,\n"
    lines = to_mermaid(graph_of(write_csv, text)).splitlines()
    assert "    n0 -->|always| n1" in lines
    assert "    n1 ==>|parallel on failure| n2" in lines
    assert "    n1 ==>|parallel on failure| n3" in lines
    assert "    n2 -->|always| n3" in lines


def test_mermaid_escapes_labels_and_keeps_ids_safe(write_csv: Writer) -> None:
    text = (
        "Node,AgentType,Edge,Description\n"
        '"say ""hi"" <now> & {then}",echo,end,"a|b #1; 100% `x`"\n'
        "end,graph,,\n"
    )
    lines = to_mermaid(graph_of(write_csv, text)).splitlines()
    assert lines[1] == (
        '    n0(["say #quot;hi#quot; #60;now#62; #38; #123;then#125;<br/>echo<br/>'
        '<i>a#124;b #35;1; 100#37; #96;x#96;</i>"])'
    )
    assert lines[2] == '    n1[["end<br/>graph → ?"]]'  # no workflow named: shown as "?"
    assert "    n0 -->|always| n1" in lines
    assert "    class n0 entry" in lines


def test_a_graph_node_names_its_graph_from_context_or_prompt(write_csv: Writer) -> None:
    text = (
        "Node,AgentType,Edge,Prompt,Context\n"
        'Start,graph,Next,,"{""workflow"": ""::Child""}"\n'
        "Next,graph,,other.csv::Main,\n"
    )
    lines = to_mermaid(graph_of(write_csv, text)).splitlines()
    assert (
        lines[1] == '    n0[["Start<br/>graph → ::Child"]]'
    )  # the entry keeps the subroutine shape
    assert lines[2] == '    n1[["Next<br/>graph → other.csv::Main"]]'
    assert lines[-1] == "    class n0 entry"


def test_routes_lists_columns_in_order(write_csv: Writer) -> None:
    graph = graph_of(write_csv, "Node,Success_Next,Failure_Next\nA,B|C,func:r.f\nB,,\nC,,\n")
    assert routes(graph.node("A")) == [
        Route("Success_Next", "B", parallel=True, always=False),
        Route("Success_Next", "C", parallel=True, always=False),
        Route("Failure_Next", "func:r.f", parallel=False, always=False),
    ]
    assert [r.router for r in routes(graph.node("A"))] == [False, False, True]


def test_text_tree_of_the_fan_out(write_csv: Writer) -> None:
    assert to_text(graph_of(write_csv, PARALLEL)) == (
        "graph P (7 nodes)\n"
        "SplitWork [splitter]  (entry)\n"
        "├─ ✓ -> ‖ TaskA [echo]\n"
        "│  ├─ ✓ -> Join [aggregator]\n"
        "│  │  ├─ ✓ -> End [echo]\n"
        "│  │  └─ ✗ -> Error [echo]\n"
        "│  │     ✓ -> End (see above)\n"
        "│  └─ ✗ -> Error (see above)\n"
        "├─ ✓ -> ‖ TaskB [echo]\n"
        "│  ├─ ✓ -> Join (see above)\n"
        "│  └─ ✗ -> Error (see above)\n"
        "├─ ✓ -> ‖ TaskC [echo]\n"
        "│  ├─ ✓ -> Join (see above)\n"
        "│  └─ ✗ -> Error (see above)\n"
        "└─ ✗ -> Error (see above)\n"
    )


def test_text_tree_with_loops_routers_subgraphs_and_unreached_nodes(write_csv: Writer) -> None:
    assert to_text(graph_of(write_csv, ROUTES)) == (
        "graph D (6 nodes)\n"
        "Ask user [input] — Asks the user something long enough to be cut off at sixty …"
        "  (entry)\n"
        "✓ -> Route? [echo]\n"
        "├─ ✓ -> func:routes.pick (router: picks the next node at run time)\n"
        "└─ ✗ -> Fix [1] [echo]\n"
        "   ├─ → ‖ Ask user (see above)\n"
        "   └─ → ‖ Log [echo]\n"
        "      ├─ → Sub [graph → flows/x.csv::Child]\n"
        "      └─ ✗ -> Log (see above)\n"
        "\n"
        "not reached by a listed route (a func: router may still lead here):\n"
        "  Orphan [echo]\n"
    )


def test_text_lists_unreachable_nodes(write_csv: Writer) -> None:
    text = "Node,Edge\nA,B\nB,\nLost,B\n"
    assert to_text(graph_of(write_csv, text)) == (
        "graph flow (3 nodes)\n"
        "A [default]  (entry)\n"
        "→ B [default]\n"
        "\n"
        "unreachable (no route leads here):\n"
        "  Lost [default]\n"
    )


def test_a_5000_node_chain_stays_flat(write_csv: Writer) -> None:
    lines = [f"N{i},N{i + 1}" for i in range(4999)]
    text = "Node,Edge\n" + "\n".join(lines) + "\nN4999,N2|End\nEnd,\n"
    graph = graph_of(write_csv, text)
    tree = to_text(graph).splitlines()
    assert tree[:4] == [
        "graph flow (5001 nodes)",
        "N0 [default]  (entry)",
        "→ N1 [default]",
        "→ N2 [default]",
    ]
    assert tree[-3:] == ["→ N4999 [default]", "├─ → ‖ N2 (see above)", "└─ → ‖ End [default]"]
    assert len(tree) == 5003
    mermaid = to_mermaid(graph).splitlines()
    assert mermaid[5000] == '    n4999["N4999<br/>default"]'
    assert "    n4999 ==>|parallel always| n2" in mermaid
    assert "    n4999 ==>|parallel always| n5000" in mermaid


def test_deep_branching_continues_in_sections_of_its_own(write_csv: Writer) -> None:
    lines = [f"N{i},N{i + 1},Error" for i in range(4999)]
    text = "Node,Success_Next,Failure_Next\n" + "\n".join(lines) + "\nN4999,,Error\nError,,\n"
    tree = to_text(graph_of(write_csv, text)).splitlines()
    assert max(len(line) for line in tree) < 120
    assert len(tree) < 11_000
    assert "│  " * 24 + "├─ ✓ -> N25 [default] (continued below)" in tree
    assert "│  " * 24 + "└─ ✗ -> Error [default] (continued below)" in tree
    assert "│  " * 23 + "└─ ✗ -> Error (see below)" in tree
    at = tree.index("N25 [default]  (continued from above)")
    assert tree[at - 1] == ""
    assert tree[at + 1] == "├─ ✓ -> N26 [default]"
    assert tree.count("Error [default]  (continued from above)") == 1
    assert tree[-1] == "└─ ✗ -> Error (see above)"
