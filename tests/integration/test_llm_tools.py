"""LLM tool calling over real HTTP: both backends against FakeOpenAIServer, through the runner.

The model's replies (which tools to call, then the answer) are scripted on the
server; the tools are a Python file beside the workflow, loaded from the node's
Tool_Source / Available_Tools as in a real run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.runtime.result import RunResult
from agentmap.runtime.runner import GraphRunner
from agentmap.services.llm.litellm import LiteLLMService
from agentmap.services.llm.openai_http import OpenAIHTTPService
from agentmap.settings import LLMSettings
from agentmap.testing.openai_server import FakeOpenAIServer, Reply, ToolCall
from agentmap.workflow.spec import FieldMapping, GraphSpec, NodeSpec

TOOLS = '''
import threading
from pathlib import Path
from typing import Literal

from agentmap import tool

# add and weather each wait for the other: they only both return if they run at once.
_together = threading.Barrier(2, timeout=10)


@tool
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    _together.wait()
    return a + b


@tool
def weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
    """Today's weather in a city.

    Args:
        city: the city's name
    """
    _together.wait()
    return {"city": city, "temp": 21, "unit": unit}


@tool
def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError("the database is down")


@tool
def delete_everything() -> str:
    """Never offered to the model in these tests."""
    Path(__file__).with_name("deleted").write_text("yes")
    return "deleted"
'''


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture(params=["litellm", "openai_http"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_service(backend: str, server: FakeOpenAIServer) -> Any:
    settings = LLMSettings(api_base=server.base_url, api_key="sk-test", timeout=10, retries=0)
    if backend == "litellm":
        return LiteLLMService(settings)
    return OpenAIHTTPService(settings)


def run(
    tmp_path: Path, backend: str, server: FakeOpenAIServer, tools: str, **context: Any
) -> RunResult:
    (tmp_path / "tools.py").write_text(TOOLS)
    node = NodeSpec(
        name="Ask",
        graph="G",
        agent_type="llm",
        inputs=(FieldMapping("question", "question"),),
        outputs=(FieldMapping("answer", "answer"),),
        context=MappingProxyType(context),
        tool_source="tools.py",
        tools=tuple(tools.split("|")),
        file=tmp_path / "flow.csv",
        line=2,
    )
    service = make_service(backend, server)

    def factory(spec: NodeSpec) -> Any:
        agent = BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))
        agent.configure_llm_service(service)
        return agent  # its tools load from the node's columns on the first call

    try:
        return GraphRunner(GraphSpec("G", {"Ask": node}), factory).run({"question": "hi"})
    finally:
        if isinstance(service, OpenAIHTTPService):
            service.close()


def tool_messages(server: FakeOpenAIServer, request: int) -> list[dict[str, Any]]:
    return [m for m in server.requests[request].messages if m.get("role") == "tool"]


def test_two_tools_asked_at_once_run_in_parallel_and_the_model_answers(
    tmp_path: Path, backend: str, server: FakeOpenAIServer
) -> None:
    calls = (ToolCall("add", {"a": 2, "b": 3}, id="c1"), ToolCall("weather", {"city": "Oslo"}))
    server.script([Reply(tool_calls=calls), Reply("21 degrees in Oslo; 2 + 3 = 5")])
    result = run(tmp_path, backend, server, "add|weather")
    assert result.success, result.error
    assert result.state["answer"] == "21 degrees in Oslo; 2 + 3 = 5"
    first, second = server.requests
    offered = [tool["function"] for tool in first.body["tools"]]
    assert [tool["name"] for tool in offered] == ["add", "weather"]
    assert offered[1]["description"] == "Today's weather in a city."
    assert offered[1]["parameters"]["properties"]["city"] == {
        "type": "string",
        "description": "the city's name",
    }
    assert offered[1]["parameters"]["required"] == ["city"]
    assistant = second.messages[-3]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["add", "weather"]
    results = tool_messages(server, 1)
    assert results[0] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert results[1]["tool_call_id"] == assistant["tool_calls"][1]["id"]
    assert json.loads(results[1]["content"]) == {"city": "Oslo", "temp": 21, "unit": "c"}


def test_a_tool_that_raises_is_an_error_result_for_the_model(
    tmp_path: Path, backend: str, server: FakeOpenAIServer
) -> None:
    server.script([Reply(tool_calls=(ToolCall("broken", {"x": 1}),)), Reply("sorry, it is down")])
    result = run(tmp_path, backend, server, "broken")
    assert result.success, result.error
    assert result.state["answer"] == "sorry, it is down"
    (message,) = tool_messages(server, 1)
    assert message["content"] == "error: tool 'broken' raised RuntimeError: the database is down"


def test_an_unknown_tool_is_reported_to_the_model_and_never_run(
    tmp_path: Path, backend: str, server: FakeOpenAIServer
) -> None:
    asked = (ToolCall("delete_everything"), ToolCall("broken", '{"x": "not a number"}'))
    server.script([Reply(tool_calls=asked), Reply("ok then")])
    result = run(tmp_path, backend, server, "broken")
    assert result.success, result.error
    unknown, bad_arguments = tool_messages(server, 1)
    assert unknown["content"] == (
        "error: there is no tool named 'delete_everything'; the tools are: broken"
    )
    assert bad_arguments["content"].startswith("error: bad arguments for tool 'broken': x: ")
    assert not (tmp_path / "deleted").exists()


def test_max_tool_rounds_stops_a_model_that_keeps_asking(
    tmp_path: Path, backend: str, server: FakeOpenAIServer
) -> None:
    again = Reply(tool_calls=(ToolCall("broken", {"x": 1}),))
    server.script([again, again, again, Reply("never sent")])
    result = run(tmp_path, backend, server, "broken", max_tool_rounds=2)
    assert not result.success
    assert result.error is not None
    assert "llm node 'Ask': the model still asked for tools (broken) after 2 round(s)" in (
        result.error
    )
    assert "max_tool_rounds=2" in result.error
    assert len(server.requests) == 3
