"""The ``tool`` agent: call one of the node's tools with the node's inputs as its arguments.

The tools come from the node's ``Tool_Source`` / ``Available_Tools`` columns,
as for an ``llm`` node. Which tool runs is decided without a model (AgentMap
0.9's tool agent asked an LLM to choose; ours is deterministic, so a run is
reproducible and a wrong choice is a validate-time error):

- the node has one tool: that one;
- Context ``tool`` names it;
- otherwise an input field named ``tool`` names it, per run (that input is not
  passed as an argument).

The inputs (Input_Fields, as named for the agent) are checked against the
tool's schema, so a missing or extra argument fails the node with a message
naming the node, the tool and the field. A tool that raises fails the node,
so ``retries`` and ``Failure_Next`` apply. The result is the tool's return
value as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.builtin._options import ConfiguredAgent, bad_context
from agentmap.errors import AgentError
from agentmap.runtime.context import current_node_or_none
from agentmap.services.tools.core import Tool
from agentmap.services.tools.loading import node_tools

__all__ = ["TOOL_AGENTS", "ToolAgent"]

#: The input field that names the tool to call, when the node has several and Context does not.
TOOL_FIELD = "tool"


class ToolAgent(ConfiguredAgent):
    """Context: ``tool`` (which of the node's tools to call, when it has several)."""

    kind: ClassVar[str] = "tool"

    def configure(self) -> None:
        chosen = self.context.get("tool")
        if chosen is not None and (not isinstance(chosen, str) or not chosen.strip()):
            raise bad_context(self.kind, self.name, "tool", f"must be a tool name, got {chosen!r}")
        self._chosen: str | None = chosen.strip() if chosen else None
        self._tools: dict[str, Tool] | None = None

    def configure_tools(self, tools: Sequence[Tool]) -> None:
        """The node's tools; a Context ``tool`` that is not among them is refused here.

        ``AgentError`` (not ``ValueError``): this runs while the runner is built,
        where a user mistake must end the command with one line, not a traceback.
        """
        by_name = {tool.name: tool for tool in tools}
        if self._chosen is not None and self._chosen not in by_name:
            offered = ", ".join(by_name) or "none"
            raise AgentError(
                f"{self.kind} node {self.name!r}: Context key 'tool' names {self._chosen!r}, "
                f"which is not one of the node's tools ({offered})"
            )
        self._tools = by_name

    def tools(self) -> dict[str, Tool]:
        """The node's tools by name: as configured, else loaded from the running node's columns."""
        if self._tools is None:
            ctx = current_node_or_none()
            self.configure_tools(node_tools(ctx.node) if ctx is not None else ())
        assert self._tools is not None
        return self._tools

    def pick(self, arguments: dict[str, Any]) -> Tool:
        """The tool to call (taking the ``tool`` input out of ``arguments`` when it chooses)."""
        tools = self.tools()
        where = f"tool node {self.name!r}"
        if not tools:
            raise ValueError(f"{where} has no tools: set its Tool_Source (and Available_Tools)")
        name = self._chosen
        if name is None and len(tools) == 1:
            return next(iter(tools.values()))
        if name is None:
            picked = arguments.pop(TOOL_FIELD, None)
            if not isinstance(picked, str) or not picked:
                raise ValueError(
                    f"{where} has {len(tools)} tools ({', '.join(tools)}); choose one with "
                    f'Context {{"tool": "<name>"}} or an input field {TOOL_FIELD!r}'
                )
            name = picked
        tool = tools.get(name)
        if tool is None:
            raise ValueError(f"{where}: no tool named {name!r}; its tools: {', '.join(tools)}")
        return tool

    async def process(self, inputs: dict[str, Any]) -> Any:
        arguments = dict(inputs)
        tool = self.pick(arguments)
        try:
            kwargs = tool.arguments(arguments)
        except ValueError as exc:
            raise ValueError(f"tool node {self.name!r}: {exc}") from None
        return await tool.acall(kwargs)


TOOL_AGENTS: dict[str, type[BaseAgent]] = {"tool": ToolAgent}
