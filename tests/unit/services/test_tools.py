"""Tools: the decorator, schemas from type hints, loading from Tool_Source, the tool loop."""

from __future__ import annotations

import asyncio
import enum
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

import agentmap
from agentmap.errors import WorkflowError
from agentmap.services.protocols import LLMReply, LLMToolCall
from agentmap.services.tools.calling import ToolRoundsExceededError, run_tool_calls, tool_loop
from agentmap.services.tools.core import Tool, ToolSchemaError, build_tool, result_text, tool
from agentmap.services.tools.loading import ToolLoadError, load_tools, node_tools
from agentmap.workflow.spec import NodeSpec


class Unit(enum.Enum):
    C = "c"
    F = "f"


class Place(BaseModel):
    city: str
    country: str = "NO"


def forecast(
    place: Place,
    days: Annotated[int, Field(ge=1, le=7)] = 3,
    unit: Unit = Unit.C,
    detail: Literal["short", "long"] = "short",
    note: str | None = None,
) -> dict[str, Any]:
    """Forecast for a place.

    More text that is not the description.

    Args:
        place: where to look
        days: how many days,
            one to seven
    """
    return {"city": place.city, "days": days, "unit": unit.value, "detail": detail, "note": note}


def test_the_decorator_marks_and_returns_the_function_unchanged() -> None:
    @agentmap.tool
    def add(a: int, b: int) -> int:
        return a + b

    @tool(name="plus", description="Adds.")
    def other(a: int) -> int:
        return a

    assert add(1, 2) == 3
    assert build_tool(add).name == "add"
    assert (build_tool(other).name, build_tool(other).description) == ("plus", "Adds.")


def test_the_schema_comes_from_the_type_hints_and_the_docstring() -> None:
    built = build_tool(forecast)
    spec = built.spec()
    assert spec["type"] == "function"
    assert spec["function"]["description"] == "Forecast for a place."
    schema = spec["function"]["parameters"]
    props = schema["properties"]
    assert schema["required"] == ["place"]
    assert schema["additionalProperties"] is False
    assert props["place"]["description"] == "where to look"
    assert schema["$defs"]["Place"]["required"] == ["city"]
    assert props["days"] == {
        "default": 3,
        "description": "how many days, one to seven",
        "maximum": 7,
        "minimum": 1,
        "type": "integer",
    }
    assert schema["$defs"]["Unit"]["enum"] == ["c", "f"]
    assert props["detail"]["enum"] == ["short", "long"]
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_arguments_are_checked_and_converted() -> None:
    built = build_tool(forecast)
    kwargs = built.arguments('{"place": {"city": "Oslo"}, "unit": "f"}')
    assert kwargs["place"] == Place(city="Oslo")
    assert kwargs["unit"] is Unit.F
    assert asyncio.run(built.ainvoke({"place": {"city": "Oslo"}, "days": 2}))["days"] == 2
    with pytest.raises(ValueError, match=r"tool 'forecast': days: .*less than or equal to 7"):
        built.arguments({"place": {"city": "Oslo"}, "days": 9})
    with pytest.raises(ValueError, match=r"place: Field required; extra: Extra inputs"):
        built.arguments({"extra": 1})


def test_functions_that_cannot_be_described_are_refused() -> None:
    def untyped(a) -> int:  # type: ignore[no-untyped-def]
        return 1

    def star(*args: int) -> int:
        return 1

    def opaque(a: object, b: asyncio.Lock) -> int:
        return 1

    with pytest.raises(ToolSchemaError, match="tool 'untyped': parameter 'a' has no type hint"):
        build_tool(untyped)
    with pytest.raises(ToolSchemaError, match=r"parameter 'args': \*args"):
        build_tool(star)
    with pytest.raises(ToolSchemaError, match="tool 'opaque': no JSON schema"):
        build_tool(opaque)


def test_results_are_text_for_the_model() -> None:
    assert result_text("plain") == "plain"
    assert result_text({"a": [1, Place(city="X")]}) == (
        '{"a": [1, {"city": "X", "country": "NO"}]}'
    )


# ---------------------------------------------------------------------- loading

TOOLS_FILE = '''
from agentmap import tool

@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b

@tool(name="shout")
def loud(text: str) -> str:
    return text.upper()

def helper(x: int) -> int:
    return x

def untyped(x):
    return x
'''


@pytest.fixture
def tools_dir(tmp_path: Path) -> Path:
    (tmp_path / "tools.py").write_text(TOOLS_FILE)
    return tmp_path


def names(tools: tuple[Tool, ...]) -> list[str]:
    return [t.name for t in tools]


def test_a_file_offers_its_decorated_tools_or_the_listed_functions(tools_dir: Path) -> None:
    assert names(load_tools("tools.py", base=tools_dir)) == ["add", "shout"]
    assert names(load_tools("tools.py", ("helper", "shout"), base=tools_dir)) == [
        "helper",
        "shout",
    ]
    assert names(load_tools(str(tools_dir / "tools.py"))) == ["add", "shout"]


def test_a_module_is_imported_by_name(tools_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tools_dir / "mytoolpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ops.py").write_text(TOOLS_FILE)
    monkeypatch.syspath_prepend(str(tools_dir))
    try:
        assert names(load_tools("mytoolpkg.ops", ("add",))) == ["add"]
    finally:
        for name in ("mytoolpkg", "mytoolpkg.ops"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("source", "listed", "column", "message"),
    [
        ("missing.py", (), "Tool_Source", "no such file"),
        ("no_such_module_xyz", (), "Tool_Source", "no module named 'no_such_module_xyz'"),
        ("bad name!", (), "Tool_Source", "neither a .py file nor a module name"),
        ("tools.py", ("ad",), "Available_Tools", "names 'ad', but"),
        ("tools.py", ("untyped",), "Available_Tools", "parameter 'x' has no type hint"),
        ("empty.py", (), "Tool_Source", "has no @agentmap.tool function"),
        ("broken.py", (), "Tool_Source", "failed to import: ZeroDivisionError"),
    ],
)
def test_sources_and_names_that_do_not_load_say_why(
    tools_dir: Path, source: str, listed: tuple[str, ...], column: str, message: str
) -> None:
    (tools_dir / "empty.py").write_text("X = 1\n")
    (tools_dir / "broken.py").write_text("1 / 0\n")
    with pytest.raises(ToolLoadError, match=message) as caught:
        load_tools(source, listed, base=tools_dir)
    assert caught.value.column == column


def test_an_unknown_tool_is_a_workflow_error_at_the_nodes_row(tools_dir: Path) -> None:
    node = NodeSpec(
        "Ask", "G", "llm", tool_source="tools.py", tools=("ad",), file=tools_dir / "f.csv", line=4
    )
    with pytest.raises(WorkflowError) as caught:
        node_tools(node)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.node, diagnostic.column) == (4, "Ask", "Available_Tools")
    assert diagnostic.suggestion == "add"
    assert node_tools(NodeSpec("Plain", "G")) == ()


# ---------------------------------------------------------------------- the loop


def _tools() -> dict[str, Tool]:
    async def wait(seconds: float) -> str:
        """Waits."""
        await asyncio.sleep(seconds)
        return "waited"

    def fail() -> None:
        raise KeyError("nope")

    return {t.name: t for t in (build_tool(wait), build_tool(fail))}


def test_tool_calls_give_results_in_order_and_errors_as_text() -> None:
    calls = [
        LLMToolCall("1", "wait", '{"seconds": 0}'),
        LLMToolCall("2", "fail"),
        LLMToolCall("3", "nope"),
        LLMToolCall("4", "wait", "not json"),
    ]
    messages = asyncio.run(run_tool_calls(calls, _tools()))
    assert [m["tool_call_id"] for m in messages] == ["1", "2", "3", "4"]
    assert [m["content"] for m in messages[:3]] == [
        "waited",
        "error: tool 'fail' raised KeyError: 'nope'",
        "error: there is no tool named 'nope'; the tools are: fail, wait",
    ]
    assert messages[3]["content"].startswith("error: bad arguments for tool 'wait'")


def test_the_loop_feeds_results_back_until_the_model_answers() -> None:
    replies = [
        LLMReply("", (LLMToolCall("a", "wait", '{"seconds": 0}'),)),
        LLMReply("done"),
    ]
    seen: list[list[dict[str, Any]]] = []

    async def ask(conversation: list[dict[str, Any]]) -> LLMReply:
        seen.append(list(conversation))
        return replies.pop(0)

    start = [{"role": "user", "content": "go"}]
    answer = asyncio.run(tool_loop(ask, start, list(_tools().values()), 5, where="llm node 'X'"))
    assert answer == "done"
    assert seen[1][1]["tool_calls"][0]["function"] == {
        "name": "wait",
        "arguments": '{"seconds": 0}',
    }
    assert seen[1][2] == {"role": "tool", "tool_call_id": "a", "content": "waited"}
    assert start == [{"role": "user", "content": "go"}]  # the caller's list is not changed


def test_the_loop_stops_after_max_rounds() -> None:
    async def ask(conversation: list[dict[str, Any]]) -> LLMReply:
        return LLMReply("", (LLMToolCall("a", "fail"),))

    with pytest.raises(ToolRoundsExceededError, match=r"after 1 round\(s\)"):
        asyncio.run(tool_loop(ask, [], list(_tools().values()), 1, where="llm node 'X'"))
