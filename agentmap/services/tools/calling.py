"""The tool loop of an LLM call: offer tools, run what the model asks for, send results back.

A reply that asks for several tools gets them run concurrently
(``asyncio.gather``; sync tools each in a worker thread). Whatever goes wrong
inside one call becomes that call's result text, starting ``error:``, so the
model can read it and try again: arguments that do not fit the schema, a tool
that raises, a tool name it was never offered (reported, never looked up or
run). Only running out of rounds fails the node: after ``max_rounds`` replies
that asked for tools, a further request for tools raises
``ToolRoundsExceededError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agentmap.services.protocols import LLMReply, LLMToolCall
from agentmap.services.tools.core import Tool, result_text

__all__ = ["DEFAULT_MAX_TOOL_ROUNDS", "ToolRoundsExceededError", "run_tool_calls", "tool_loop"]

#: Context ``max_tool_rounds`` when a node does not set it.
DEFAULT_MAX_TOOL_ROUNDS = 5
#: How much of an exception's text goes back to the model.
_ERROR_MAX = 500

#: Asks the model once: the conversation so far in, its reply out.
Ask = Callable[[list[dict[str, Any]]], Awaitable[LLMReply]]


class ToolRoundsExceededError(RuntimeError):
    """The model kept asking for tools past ``max_tool_rounds``; retrying would do the same."""

    retryable = False


async def run_one(call: LLMToolCall, tools: Mapping[str, Tool]) -> str:
    """The result text of one call (``error: ...`` when it cannot run or raises)."""
    tool = tools.get(call.name)
    if tool is None:
        offered = ", ".join(sorted(tools)) or "none"
        return f"error: there is no tool named {call.name!r}; the tools are: {offered}"
    try:
        kwargs = tool.arguments(call.arguments)
    except ValueError as exc:
        return f"error: {exc}"
    try:
        result = await tool.acall(kwargs)
    except Exception as exc:  # the model reads it and may retry; the node goes on
        text = str(exc)
        text = text if len(text) <= _ERROR_MAX else text[:_ERROR_MAX] + "..."
        return f"error: tool {call.name!r} raised {type(exc).__name__}: {text}"
    return result_text(result)


async def run_tool_calls(
    calls: Sequence[LLMToolCall], tools: Mapping[str, Tool]
) -> list[dict[str, Any]]:
    """The ``role: tool`` messages answering ``calls``, in their order; run concurrently."""
    results = await asyncio.gather(*(run_one(call, tools) for call in calls))
    return [
        {"role": "tool", "tool_call_id": call.id, "content": text}
        for call, text in zip(calls, results, strict=True)
    ]


async def tool_loop(
    ask: Ask,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Tool],
    max_rounds: int,
    *,
    where: str,
) -> str:
    """The model's final text after running the tools it asks for, at most ``max_rounds`` times.

    ``where`` names the node in the error (``"llm node 'Ask'"``).
    """
    by_name = {tool.name: tool for tool in tools}
    conversation = [dict(message) for message in messages]
    rounds = 0
    while True:
        reply = await ask(conversation)
        if not reply.tool_calls:
            return reply.content
        if rounds >= max_rounds:
            asked = ", ".join(dict.fromkeys(call.name for call in reply.tool_calls))
            raise ToolRoundsExceededError(
                f"{where}: the model still asked for tools ({asked}) after {max_rounds} "
                f"round(s) of tool calls (Context max_tool_rounds={max_rounds}); raise "
                "max_tool_rounds, or tell the model in the Prompt when to answer"
            )
        rounds += 1
        conversation.append(reply.message())
        conversation += await run_tool_calls(reply.tool_calls, by_name)
