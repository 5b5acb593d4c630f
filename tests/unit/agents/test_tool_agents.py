"""The ``tool`` agent and the llm agents' tool calling, through the runner with the fake LLM."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.tool import ToolAgent
from agentmap.errors import AgentError
from agentmap.runtime.result import RunResult
from agentmap.runtime.runner import GraphRunner
from agentmap.services.llm.fake import FakeLLMService, tool_calls
from agentmap.services.protocols import LLMCapableAgent
from agentmap.services.tools.core import build_tool
from agentmap.workflow.spec import FieldMapping, GraphSpec, NodeSpec

TOOLS = '''
from agentmap import tool

@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b

@tool
def shout(text: str) -> str:
    """Upper-case text."""
    return text.upper()

@tool
def explode() -> str:
    """Fails."""
    raise RuntimeError("boom")
'''


def fields(names: str) -> tuple[FieldMapping, ...]:
    return tuple(FieldMapping(n, n) for n in names.split("|") if n)


def run(
    tmp_path: Path,
    agent_type: str,
    tools: str,
    state: dict[str, Any],
    *,
    inputs: str,
    context: dict[str, Any] | None = None,
    fake: FakeLLMService | None = None,
) -> RunResult:
    (tmp_path / "tools.py").write_text(TOOLS)
    node = NodeSpec(
        "N",
        "G",
        agent_type,
        inputs=fields(inputs),
        outputs=fields("out"),
        context=MappingProxyType(context or {}),
        tool_source="tools.py",
        tools=tuple(t for t in tools.split("|") if t),
        file=tmp_path / "flow.csv",
        line=2,
    )

    def factory(spec: NodeSpec) -> Any:
        agent = BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))
        if LLMCapableAgent in type(agent).__mro__:
            agent.configure_llm_service(fake)
        return agent

    return GraphRunner(GraphSpec("G", {"N": node}), factory).run(state)


# ---------------------------------------------------------------------- tool


def test_a_tool_node_with_one_tool_calls_it_with_its_inputs(tmp_path: Path) -> None:
    result = run(tmp_path, "tool", "add", {"a": 2, "b": "3"}, inputs="a|b")
    assert result.success, result.error
    assert result.state["out"] == 5


def test_context_or_an_input_chooses_among_several_tools(tmp_path: Path) -> None:
    by_context = run(tmp_path, "tool", "", {"text": "hi"}, inputs="text", context={"tool": "shout"})
    assert by_context.state["out"] == "HI"
    by_input = run(
        tmp_path, "tool", "add|shout", {"text": "yo", "tool": "shout"}, inputs="text|tool"
    )
    assert by_input.state["out"] == "YO"
    unchosen = run(tmp_path, "tool", "add|shout", {"text": "yo"}, inputs="text")
    assert unchosen.error is not None
    assert "tool node 'N' has 2 tools (add, shout); choose one" in unchosen.error


def test_bad_arguments_and_a_raising_tool_fail_the_node(tmp_path: Path) -> None:
    bad = run(tmp_path, "tool", "add", {"a": 1, "b": "x"}, inputs="a|b")
    assert bad.error is not None
    assert "tool node 'N': bad arguments for tool 'add': b: Input should be a valid integer" in (
        bad.error
    )
    raised = run(tmp_path, "tool", "explode", {}, inputs="")
    assert raised.error is not None
    assert "boom" in raised.error


def test_a_context_tool_that_is_not_offered_is_refused_when_configured() -> None:
    agent = ToolAgent("N", "", {"tool": "nope"})

    def add(a: int) -> int:
        return a

    with pytest.raises(AgentError, match="names 'nope', which is not one of the node's tools"):
        agent.configure_tools([build_tool(add)])


# ---------------------------------------------------------------------- llm


def test_the_llm_agent_runs_the_tools_the_model_asks_for(tmp_path: Path) -> None:
    fake = FakeLLMService(
        [tool_calls(("add", {"a": 1, "b": 2}), ("shout", {"text": "x"})), "three and X"]
    )
    result = run(
        tmp_path,
        "llm",
        "add|shout",
        {"q": "go"},
        inputs="q",
        context={"memory_key": "chat"},
        fake=fake,
    )
    assert result.success, result.error
    assert result.state["out"] == "three and X"
    offered = [t["function"]["name"] for t in fake.calls[0].kwargs["tools"]]
    assert offered == ["add", "shout"]
    assert [m["content"] for m in fake.calls[1].messages if m["role"] == "tool"] == ["3", "X"]
    assert result.state["chat"] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "three and X"},
    ]


def test_a_service_without_tool_calling_is_a_clear_error(tmp_path: Path) -> None:
    class TextOnly:
        def call_llm(self, *args: Any, **kwargs: Any) -> str:
            return "x"

        async def acall_llm(self, *args: Any, **kwargs: Any) -> str:
            return "x"

    result = run(tmp_path, "llm", "add", {"q": "go"}, inputs="q", fake=TextOnly())  # type: ignore[arg-type]
    assert result.error is not None
    assert "the LLM service TextOnly cannot offer tools to a model" in result.error


def test_max_tool_rounds_must_be_a_positive_number() -> None:
    with pytest.raises(ValueError, match="max_tool_rounds' must be a whole number >= 1"):
        BUILTIN_AGENTS["llm"]("N", "", {"max_tool_rounds": 0})
