"""Built-in agents, run through the real runner so routing consequences are visible."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.branching import BranchingAgent
from agentmap.agents.builtin.core import EchoAgent, FailureAgent, SuccessAgent
from agentmap.runtime.runner import GraphRunner
from agentmap.workflow.spec import NodeSpec
from tests.unit.runtime.helpers import graph, node


def run(g: Any, state: dict[str, Any] | None = None) -> Any:
    def factory(spec: NodeSpec) -> Any:
        return BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))

    return GraphRunner(g, factory).run(state)


@pytest.mark.parametrize(
    ("prompt", "inputs", "expected"),
    [
        ("Hello {name}", {"name": "Ada"}, "Hello Ada"),
        ("", {"name": "Ada"}, "Ada"),
        ("", {"a": 1, "b": 2}, {"a": 1, "b": 2}),
        ("", {}, None),
    ],
)
def test_echo(prompt: str, inputs: dict[str, Any], expected: Any) -> None:
    assert EchoAgent("E", prompt).process(inputs) == expected


def test_default_behaves_like_echo() -> None:
    assert BUILTIN_AGENTS["default"]("D", "x={x}").process({"x": 1}) == "x=1"


def test_echo_with_unknown_placeholder_fails_the_node() -> None:
    result = run(graph(node("E", prompt="{nope}", inputs="x", failure="H"), node("H")), {"x": 1})
    assert result.path == ["E", "H"]
    assert "{nope}" in result.state["error"]


def test_success_and_failure_messages() -> None:
    assert SuccessAgent("S", "done {x}").process({"x": 1}) == "done 1"
    assert SuccessAgent("S").process({}) == "S: success"
    assert FailureAgent("F", "bad {x}").process({"x": 2}) == {"error": "bad 2"}
    assert FailureAgent("F").process({}) == {"error": "F: failure"}


def test_failure_agent_routes_to_failure_next() -> None:
    g = graph(
        node("F", "failure", prompt="nope", success="S", failure="H"),
        node("S", "success"),
        node("H", "echo", inputs="error", outputs="seen"),
    )
    result = run(g)
    assert result.path == ["F", "H"]
    assert result.state["seen"] == "nope"


@pytest.mark.parametrize(
    ("value", "context", "ok"),
    [
        (True, {}, True),
        (0, {}, False),
        ("yes", {}, True),
        ("false", {}, False),
        ("No", {}, False),
        ("", {}, False),
        ("approved", {"success_values": ["approved", "ok"]}, True),
        ("pending", {"success_values": ["approved"]}, False),
        ("Rejected", {"failure_values": ["rejected"]}, False),
        ("pending", {"failure_values": ["rejected"]}, True),
        (200, {"success_values": [200, 201]}, True),
    ],
)
def test_branching_values(value: Any, context: dict[str, Any], ok: bool) -> None:
    result = BranchingAgent("B", "", context).process({"v": value})
    assert ("error" not in result if isinstance(result, dict) else True) is ok


def test_branching_success_field_and_routing() -> None:
    g = graph(
        node(
            "B",
            "branching",
            inputs="a|status",
            context={"success_field": "status"},
            success="Yes",
            failure="No",
        ),
        node("Yes", "echo", prompt="yes", outputs="r"),
        node("No", "echo", prompt="no", outputs="r"),
    )
    assert run(g, {"a": True, "status": "false"}).state["r"] == "no"
    assert run(g, {"a": False, "status": "ok"}).state["r"] == "yes"


def test_branching_misconfigured_field_fails_clearly() -> None:
    out = BranchingAgent("B", "", {"success_field": "zz"}).process({"a": 1})
    assert "success_field 'zz'" in out["error"]


def test_input_reads_initial_state() -> None:
    g = graph(
        node("Ask", "input", outputs="name", edge="Hi"),
        node("Hi", "echo", inputs="name", prompt="Hi {name}", outputs="g"),
    )
    result = run(g, {"name": "Ada"})
    assert result.state["g"] == "Hi Ada"


def test_input_without_value_or_terminal_fails_with_instructions() -> None:
    result = run(graph(node("Ask", "input", outputs="name")))
    assert result.status == "failed"
    assert "needs 'name'" in result.state["error"]
    assert "pass it in the initial state" in result.state["error"]
