"""``agentmap.runtime.routing`` on its own: the rules for where a run goes after a node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentmap.runtime.context import (
    NodeContext,
    current_node,
    current_node_or_none,
    node_context,
    reset_current,
    set_current,
)
from agentmap.runtime.nodes import NOT_CHOSEN, CompiledNode, NodeFailure, compile_node
from agentmap.runtime.routing import check_choice, next_nodes
from tests.unit.runtime.helpers import FnAgent, graph, node


def compiled(functions: Path | None = None, **kwargs: Any) -> tuple[CompiledNode, Any]:
    spec = node("N", **kwargs)
    g = graph(spec, node("A"), node("B"), node("H"))
    built = compile_node(
        spec, lambda s: FnAgent(s.name, dict), functions=(functions,) if functions else ()
    )
    return built, g.nodes


async def test_success_follows_success_next_and_failure_follows_failure_next() -> None:
    n, nodes = compiled(success="A|B", failure="H")
    assert await next_nodes(n, True, None, "", {}, nodes) == (("A", "B"), None)
    assert await next_nodes(n, False, None, "down", {}, nodes) == (("H",), None)


async def test_edge_serves_both_outcomes_and_none_ends_the_branch() -> None:
    n, nodes = compiled(edge="A")
    assert await next_nodes(n, False, None, "down", {}, nodes) == (("A",), None)
    end, _ = compiled()
    assert await next_nodes(end, True, None, "", {}, nodes) == ((), None)


async def test_unhandled_failure_is_the_runs_error() -> None:
    n, nodes = compiled(success="A")
    targets, error = await next_nodes(n, False, None, "bad value", {}, nodes)
    assert targets == ()
    assert error == "node 'N' failed and has no Failure_Next or Edge to handle it: bad value"


async def test_a_valid_next_choice_wins_over_the_listed_targets() -> None:
    n, nodes = compiled(success="A|B")
    chosen = check_choice(n, "B")
    assert await next_nodes(n, True, chosen, "", {}, nodes) == (("B",), None)
    assert check_choice(n, NOT_CHOSEN) is None


@pytest.mark.parametrize("raw", ["H", None, 3, "func:routes.pick"])
def test_an_invalid_next_choice_fails_the_node(raw: Any) -> None:
    n, _ = compiled(success="A|B", failure="H")
    with pytest.raises(
        NodeFailure, match=r"via __next__, which is not one of its targets \(A, B\)"
    ):
        check_choice(n, raw)


async def test_func_router_is_replaced_by_its_choice(tmp_path: Path) -> None:
    (tmp_path / "routes.py").write_text("def pick(state):\n    return state['go']\n")
    n, nodes = compiled(tmp_path, success="func:routes.pick|A")
    assert await next_nodes(n, True, None, "", {"go": "B"}, nodes) == (("B", "A"), None)
    assert await next_nodes(n, True, None, "", {"go": "A"}, nodes) == (("A",), None)


def test_current_node_accessors() -> None:
    ctx = NodeContext("run", "G", node("N"), {})
    assert current_node_or_none() is None
    with pytest.raises(LookupError):
        current_node()
    with node_context(ctx) as entered:
        assert entered is ctx
        assert current_node() is ctx
    assert current_node_or_none() is None
    token = set_current(ctx)
    try:
        assert current_node_or_none() is ctx
    finally:
        reset_current(token)
    assert current_node_or_none() is None
