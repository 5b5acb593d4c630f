"""Tools from the command line: `agentmap validate` checks them, `agentmap run` uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentmap.testing.openai_server import FakeOpenAIServer, Reply, ToolCall

TOOLS = '''
from agentmap import tool

@tool
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b
'''

FLOW = """GraphName,Node,AgentType,Input_Fields,Output_Field,Edge,Tool_Source,Available_Tools
G,Sum,tool,a|b,total,Ask,tools.py,
G,Ask,llm,total,answer,,tools.py,{tools}
"""


def write(tmp_path: Path, tools: str = "add") -> Path:
    (tmp_path / "tools.py").write_text(TOOLS)
    csv = tmp_path / "flow.csv"
    csv.write_text("# inputs: a, b\n" + FLOW.format(tools=tools))
    return csv


def test_validate_names_the_file_line_node_and_tool_that_is_missing(
    cli: Any, tmp_path: Path
) -> None:
    csv = write(tmp_path, tools="add|multiply")
    out = cli("validate", str(csv))
    assert out.returncode == 2, out.stderr
    assert f"{csv}:4" in out.stderr
    assert "node 'Ask'" in out.stderr
    assert "column 'Available_Tools'" in out.stderr
    assert "Available_Tools names 'multiply'" in out.stderr
    assert "Traceback" not in out.stderr


def test_validate_accepts_tools_that_load(cli: Any, tmp_path: Path) -> None:
    out = cli("validate", str(write(tmp_path)))
    assert out.returncode == 0, out.stderr


def test_a_run_calls_the_tool_node_and_the_models_tool_over_http(cli: Any, tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        server.script([Reply(tool_calls=(ToolCall("add", {"a": 3, "b": 4}),)), Reply("7 it is")])
        env = {
            "AGENTMAP_ENV": "development",
            "AGENTMAP_LLM__BACKEND": "litellm",
            "AGENTMAP_LLM__API_BASE": server.base_url,
            "AGENTMAP_LLM__API_KEY": "sk-e2e",
            "AGENTMAP_CACHE__BACKEND": "memory",
        }
        state = json.dumps({"a": 1, "b": 2})
        out = cli("run", str(write(tmp_path)), "--json", "--state", state, env=env)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["state"]["total"] == 3
        assert result["state"]["answer"] == "7 it is"
        tool_results = [m for m in server.requests[1].messages if m["role"] == "tool"]
        assert [m["content"] for m in tool_results] == ["7"]


def test_validate_warns_of_tools_on_a_node_that_ignores_them(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    csv = tmp_path / "flow.csv"
    csv.write_text("Node,AgentType,Tool_Source\nSay,echo,tools.py\n")
    out = cli("validate", str(csv))
    assert out.returncode == 0, out.stderr
    assert "node 'Say', column 'Tool_Source'" in out.stdout
    assert "agent type 'echo' does not use tools, so Tool_Source is ignored" in out.stdout


def test_a_run_stops_before_any_node_when_a_tool_is_missing(cli: Any, tmp_path: Path) -> None:
    csv = write(tmp_path, tools="add|multiply")
    out = cli("run", str(csv), "--state", json.dumps({"a": 1, "b": 2}))
    assert out.returncode == 2, out.stderr
    assert "node 'Ask', column 'Available_Tools': Available_Tools names 'multiply'" in out.stderr
    assert "Traceback" not in out.stderr
