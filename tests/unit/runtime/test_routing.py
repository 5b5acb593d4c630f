"""``func:`` routers and success policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentmap.errors import WorkflowError
from tests.unit.runtime.helpers import graph, make_runner, node


@pytest.fixture
def functions(tmp_path: Path) -> Path:
    folder = tmp_path / "functions"
    (folder / "pkg").mkdir(parents=True)
    (folder / "routes.py").write_text(
        "def by_score(state):\n"
        "    return 'High' if state.get('score', 0) > 5 else 'Low'\n"
        "def both(state):\n"
        "    return ['High', 'Low']\n"
        "def nowhere(state):\n"
        "    return 'Hgh'\n"
        "def done(state):\n"
        "    return None\n"
        "def broken(state):\n"
        "    raise KeyError('score')\n"
        "def bad_type(state):\n"
        "    return 42\n"
        "async def later(state):\n"
        "    return 'Low'\n"
        "def writer(state):\n"
        "    state['x'] = 1\n"
    )
    (folder / "pkg" / "deep.py").write_text("def pick(state):\n    return 'Low'\n")
    return folder


def routed(target: str) -> Any:
    return graph(node("Score", outputs="score", edge=target), node("High"), node("Low"))


def run(functions: Path, target: str, score: int = 9) -> Any:
    return make_runner(
        routed(target), {"Score": lambda i: score}, functions_paths=(functions,)
    ).run()


def test_router_chooses_the_next_node(functions: Path) -> None:
    assert run(functions, "func:routes.by_score", 9).path == ["Score", "High"]
    assert run(functions, "func:routes.by_score", 1).path == ["Score", "Low"]


def test_router_returning_a_list_fans_out(functions: Path) -> None:
    result = run(functions, "func:routes.both")
    assert result.success
    assert sorted(result.path[1:]) == ["High", "Low"]


def test_router_in_a_package_and_async_router(functions: Path) -> None:
    assert run(functions, "func:pkg.deep.pick").path == ["Score", "Low"]
    assert run(functions, "func:routes.later").path == ["Score", "Low"]


def test_router_returning_none_ends_the_branch(functions: Path) -> None:
    result = run(functions, "func:routes.done")
    assert result.success
    assert result.path == ["Score"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "func:routes.nowhere",
            "node 'Score': router func:routes.nowhere chose 'Hgh', which is not a node of "
            "graph 'G' (did you mean 'High'?)",
        ),
        ("func:routes.broken", "node 'Score': router func:routes.broken raised KeyError: 'score'"),
        (
            "func:routes.bad_type",
            "node 'Score': router func:routes.bad_type returned 42; return a node name, "
            "a list of node names, or None",
        ),
        (
            "func:routes.writer",
            "node 'Score': router func:routes.writer raised TypeError: "
            "'mappingproxy' object does not support item assignment",
        ),
    ],
)
def test_router_mistakes_fail_the_run_naming_the_router(
    functions: Path, target: str, message: str
) -> None:
    result = run(functions, target)
    assert result.status == "failed"
    assert result.failed_node == "Score"
    assert result.error == message


def test_missing_router_module_or_function_fails_before_the_run(functions: Path) -> None:
    with pytest.raises(WorkflowError, match=r"router func:nope.pick not found: looked for"):
        make_runner(routed("func:nope.pick"), functions_paths=(functions,))
    with pytest.raises(WorkflowError, match=r"has no function 'by_scor'.*did you mean 'by_score'"):
        make_runner(routed("func:routes.by_scor"), functions_paths=(functions,))


def test_routers_are_not_imported_from_sys_path(functions: Path) -> None:
    # os.path exists on sys.path, but only the functions folder is searched.
    with pytest.raises(WorkflowError, match=r"router func:os.getcwd not found"):
        make_runner(routed("func:os.getcwd"), functions_paths=(functions,))


# ---------------------------------------------------------------- success policies


def handled_failure() -> Any:
    def fail(inputs: dict[str, Any]) -> Any:
        raise ValueError("soft")

    g = graph(node("A", success="B", failure="Fix"), node("Fix", success="B"), node("B"))
    return g, {"A": fail}


def test_handled_policy_forgives_a_handled_failure() -> None:
    g, agents = handled_failure()
    assert make_runner(g, agents).run().success


def test_all_nodes_policy_fails_after_running_to_the_end() -> None:
    g, agents = handled_failure()
    result = make_runner(g, agents, success_policy="all_nodes").run()
    assert result.status == "failed"
    assert result.path == ["A", "Fix", "B"]  # handlers still ran
    assert result.error == "success policy all_nodes: 1 node(s) failed ('A': soft)"


def test_all_nodes_policy_forgives_a_node_that_later_succeeded() -> None:
    calls: list[int] = []

    def flaky(inputs: dict[str, Any]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first time")
        return "ok"

    g = graph(node("A", success="B", failure="A"), node("B"))
    assert make_runner(g, {"A": flaky}, success_policy="all_nodes").run().success


def test_critical_nodes_policy_only_cares_about_listed_nodes() -> None:
    g, agents = handled_failure()
    ok = make_runner(g, agents, success_policy="critical_nodes", critical_nodes=("B",)).run()
    assert ok.success
    bad = make_runner(g, agents, success_policy="critical_nodes", critical_nodes=("A",)).run()
    assert bad.status == "failed"
    assert bad.error == "success policy critical_nodes: critical node(s) failed ('A': soft)"


def test_final_node_policy_judges_the_node_that_ended_the_run() -> None:
    g, agents = handled_failure()
    assert make_runner(g, agents, success_policy="final_node").run().success
    # The final node's success decides even though an earlier failure was handled.
    result = make_runner(
        graph(node("A", failure="Last"), node("Last", failure="Stop"), node("Stop")),
        {"A": lambda i: {"error": "x"}, "Last": lambda i: "fine"},
        success_policy="final_node",
    ).run()
    assert result.success


def test_an_unhandled_failure_fails_the_run_under_every_policy() -> None:
    def fail(inputs: dict[str, Any]) -> Any:
        raise ValueError("hard")

    for policy in ("handled", "all_nodes", "final_node", "critical_nodes"):
        result = make_runner(graph(node("A")), {"A": fail}, success_policy=policy).run()
        assert result.status == "failed", policy
        assert "hard" in (result.error or "")


def test_next_key_cannot_name_a_router(functions: Path) -> None:
    g = graph(
        node("A", success="func:routes.by_score|High", failure="Low"), node("High"), node("Low")
    )
    result = make_runner(
        g, {"A": lambda i: {"__next__": "func:routes.by_score"}}, functions_paths=(functions,)
    ).run()
    assert result.path == ["A", "Low"]
    assert result.state["errors"][0]["type"] == "RoutingError"
    assert result.state["errors"][0]["message"] == (
        "node 'A' chose 'func:routes.by_score' via __next__, which is not one of its targets (High)"
    )
