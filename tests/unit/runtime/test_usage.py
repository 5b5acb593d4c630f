"""LLM usage reported during a run, and extra state writes through ``__state__``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentmap.runtime.runner import GraphRunner
from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.workflow import load_graph
from agentmap.workflow.spec import NodeSpec
from tests.unit.runtime.helpers import FnAgent, Recorder, graph, make_runner, node


def calls_llm(tokens: int, cost: float | None = 0.001) -> Any:
    """An agent standing in for an LLM agent: its 'service' reports one call."""

    def run(inputs: dict[str, Any]) -> Any:
        report_llm_call(
            LLMUsage(
                "gpt-test",
                "openai",
                latency=0.01,
                prompt_tokens=tokens,
                completion_tokens=2,
                cost=cost,
            )
        )
        return "reply"

    return run


class ThreadedAgent:
    """A sync agent (runs in a worker thread) that reports a call."""

    def process(self, inputs: dict[str, Any]) -> Any:
        return calls_llm(7)(inputs)


def test_calls_are_summed_into_the_result_and_recorded_as_events(recorder: Recorder) -> None:
    g = graph(node("A", success="B"), node("B"), node("C"))
    result = make_runner(g, {"A": calls_llm(10), "B": ThreadedAgent()}, recorder=recorder).run()
    assert [(c.node, c.prompt_tokens) for c in result.llm_calls] == [("A", 10), ("B", 7)]
    assert result.tokens == 10 + 2 + 7 + 2
    assert result.cost == 0.002
    summary = result.to_dict()["llm"]
    assert summary["calls"] == 2
    assert summary["prompt_tokens"] == 17
    assert summary["completion_tokens"] == 4
    assert summary["by_call"][0]["model"] == "gpt-test"
    events = [e.to_dict() for e in recorder.events if e.kind == "llm_called"]
    assert [(e["node"], e["prompt_tokens"]) for e in events] == [("A", 10), ("B", 7)]
    assert set(events[0]) == {
        "event", "run_id", "graph", "timestamp", "node", "model", "provider", "latency",
        "prompt_tokens", "completion_tokens", "cost", "cached",
    }  # fmt: skip


def test_a_run_without_llm_calls_reports_none() -> None:
    result = make_runner(graph(node("A"))).run({})
    assert result.llm_calls == []
    assert result.cost is None
    assert result.to_dict()["llm"]["calls"] == 0


def test_reporting_outside_a_run_is_a_no_op() -> None:
    report_llm_call(LLMUsage("m"))  # must not raise


def test_subgraph_calls_count_in_the_parent_run(tmp_path: Path) -> None:
    (tmp_path / "main.csv").write_text(
        "GraphName,Node,AgentType,Context\n"
        'Main,Call,graph,"{""workflow"": ""::Child""}"\n'
        "Child,Ask,asker,\n"
    )
    _, g = load_graph(tmp_path / "main.csv::Main")

    def factory(spec: NodeSpec) -> Any:
        return FnAgent(spec.name, calls_llm(5))

    result = GraphRunner(g, factory).run({})
    assert result.success, result.error
    assert [(c.node, c.prompt_tokens) for c in result.llm_calls] == [("Ask", 5)]


def test_state_key_writes_extra_fields_and_is_not_an_output() -> None:
    g = graph(node("A", outputs="answer"))
    result = make_runner(g, {"A": lambda i: {"reply": "hi", "__state__": {"memory": ["hi"]}}}).run()
    assert result.state["memory"] == ["hi"]
    assert result.state["answer"] == {"reply": "hi"}


def test_a_bad_state_key_fails_the_node() -> None:
    g = graph(node("A", outputs="answer", failure="H"), node("H"))
    result = make_runner(g, {"A": lambda i: {"__state__": ["x"]}}).run()
    assert result.path == ["A", "H"]
    assert result.state["errors"][0]["type"] == "OutputError"
    assert "__state__" in result.state["errors"][0]["message"]
