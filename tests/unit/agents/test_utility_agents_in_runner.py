"""The utility built-ins run through the real runner, so routing and output writing are visible."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.errors import AgentError
from agentmap.runtime.runner import GraphRunner
from agentmap.workflow.spec import GraphSpec, NodeSpec
from containers import create_application
from tests.unit.runtime.helpers import FnAgent, graph, node


def run(g: GraphSpec, state: dict[str, Any] | None = None, **agents: Any) -> Any:
    """Built-in agents by type; ``agents[name]`` replaces a node's agent."""

    def factory(spec: NodeSpec) -> Any:
        if spec.name in agents:
            return agents[spec.name]
        return BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))

    return GraphRunner(g, factory).run(state)


def test_validator_routes_valid_and_invalid_input() -> None:
    g = graph(
        node(
            "Check",
            "validator",
            inputs="user_input",
            outputs="user",
            context={"fields": {"age": {"type": "int", "min": 18}, "email": {"pattern": ".+@.+"}}},
            success="Welcome",
            failure="Fix",
        ),
        node("Welcome", "echo", inputs="user", outputs="reply", prompt="Welcome {user}"),
        node("Fix", "echo", inputs="error", outputs="reply"),
    )
    good = run(g, {"user_input": {"age": 30, "email": "a@b"}})
    assert good.path == ["Check", "Welcome"]
    assert good.state["user"] == {"age": 30, "email": "a@b"}

    bad = run(g, {"user_input": {"age": 12, "email": "nope"}})
    assert bad.path == ["Check", "Fix"]
    assert bad.state["reply"] == (
        "validator node 'Check': validation failed: age must be at least 18, got 12; "
        "email does not match pattern '.+@.+': 'nope'"
    )
    assert "user" not in bad.state


def test_formatter_writes_text_and_fails_on_a_missing_placeholder() -> None:
    g = graph(
        node("Fmt", "formatter", inputs="data", outputs="text", failure="Oops"),
        node("Oops", "echo", inputs="error", outputs="text"),
    )
    assert run(g, {"data": {"a": [1]}}).state["text"] == '{\n  "a": [\n    1\n  ]\n}'

    g = graph(
        node("Fmt", "formatter", inputs="data", outputs="text", prompt="{nope}", failure="Oops"),
        node("Oops", "echo", inputs="error", outputs="text"),
    )
    result = run(g, {"data": 1})
    assert result.path == ["Fmt", "Oops"]
    assert "node 'Fmt': prompt placeholder {nope}" in result.state["text"]


def test_summary_joins_upstream_results() -> None:
    g = graph(
        node(
            "Sum",
            "summary",
            inputs="city|weather|news",
            outputs="digest",
            prompt="Morning in {city}",
            context={"separator": "\n"},
        ),
    )
    result = run(g, {"city": "Oslo", "weather": "rain", "news": None})
    assert result.state["digest"] == "Morning in Oslo\ncity: Oslo\nweather: rain"


def test_aggregator_collects_fields() -> None:
    g = graph(
        node("Agg", "aggregator", inputs="a|b:bee", outputs="all", edge="List"),
        node("List", "aggregator", inputs="a|b", outputs="values", context={"mode": "list"}),
    )
    state = run(g, {"a": 1, "b": {"x": 2}}).state
    assert state["all"] == {"a": 1, "bee": {"x": 2}}
    assert state["values"] == [1, {"x": 2}]


def test_splitter_fills_one_output_field_per_package() -> None:
    g = graph(
        node(
            "Split",
            "splitter",
            inputs="rows",
            outputs="first|second|third",
            context={"packages": ["first", "second", "third"]},
            success="Count",
            failure="Oops",
        ),
        node("Count", "echo", inputs="second", outputs="picked"),
        node("Oops", "echo", inputs="error", outputs="picked"),
    )
    state = run(g, {"rows": [1, 2, 3, 4, 5]}).state
    assert (state["first"], state["second"], state["third"]) == ([1, 2], [3, 4], [5])
    assert state["picked"] == [3, 4]

    failed = run(g, {"rows": {"items": [1]}})
    assert failed.path == ["Split", "Oops"]
    assert failed.state["picked"] == (
        "splitter node 'Split': input 'rows' must be a list to split, got dict"
    )


def _retry_graph(max_attempts: int = 3, inputs: str = "error|errors") -> GraphSpec:
    return graph(
        node("Fetch", "custom", outputs="data", success="Done", failure="Handle"),
        node(
            "Handle",
            "error_handler",
            inputs=inputs,
            outputs="report",
            success="Fetch|GiveUp",
            context={"max_attempts": max_attempts},
        ),
        node("GiveUp", "echo", inputs="report", outputs="final"),
        node("Done", "echo", inputs="data", outputs="final"),
    )


def test_error_handler_retries_then_gives_up() -> None:
    fetch = FnAgent("Fetch", lambda inputs: {"error": "HTTP 503"})
    result = run(_retry_graph(), Fetch=fetch)
    assert result.path == ["Fetch", "Handle", "Fetch", "Handle", "Fetch", "Handle", "GiveUp"]
    report = result.state["final"]
    assert "__next__" not in report
    assert report["failures"] == 3
    assert report["node"] == "Fetch"
    assert report["message"] == "HTTP 503"
    assert len(report["errors"]) == 3
    assert report["summary"].endswith("giving up, going to GiveUp")


def test_error_handler_counts_the_runs_errors_when_only_error_is_an_input() -> None:
    fetch = FnAgent("Fetch", lambda inputs: {"error": "HTTP 503"})
    result = run(_retry_graph(inputs="error"), Fetch=fetch)
    assert result.path == ["Fetch", "Handle", "Fetch", "Handle", "Fetch", "Handle", "GiveUp"]
    assert result.state["final"]["failures"] == 3


def test_error_handler_retry_that_succeeds() -> None:
    calls: list[int] = []

    def flaky(inputs: dict[str, Any]) -> Any:
        calls.append(1)
        return {"error": "timeout"} if len(calls) < 2 else "payload"

    result = run(_retry_graph(), Fetch=FnAgent("Fetch", flaky))
    assert result.path == ["Fetch", "Handle", "Fetch", "Done"]
    assert result.state["final"] == "payload"
    assert result.state["report"]["summary"] == (
        "node 'Fetch' failed once; last error AgentReturnedError: timeout; retrying via Fetch"
    )


def test_bad_context_stops_before_the_run_through_the_agent_factory() -> None:
    app = create_application("test")
    g = graph(node("Check", "validator", context={"fields": {"age": {"minimum": 18}}}))
    with pytest.raises(AgentError) as info:
        app.runner(g)
    message = str(info.value)
    assert "node 'Check': cannot construct agent ValidatorAgent: ValueError" in message
    assert "Context key 'fields' -> 'age': unknown rule 'minimum' (did you mean 'min'?)" in message
