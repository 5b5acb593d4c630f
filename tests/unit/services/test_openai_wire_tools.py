"""Reading ``message.tool_calls`` from an OpenAI-compatible chat completion."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.services.llm.openai_wire import parse_reply
from agentmap.services.protocols import LLMReply, LLMToolCall


def completion(message: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"message": message}], "model": "m"}


def test_tool_calls_are_read_with_their_ids_and_argument_text() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        {"type": "function", "function": {"name": "now", "arguments": {"tz": "UTC"}}},
        {"id": "c3", "function": {"name": "ping", "arguments": ""}},
    ]
    reply = parse_reply(
        "m", completion({"role": "assistant", "content": None, "tool_calls": calls})
    )
    assert reply.text == ""
    assert reply.tool_calls == (
        LLMToolCall("c1", "add", '{"a": 1}'),
        LLMToolCall("call_1", "now", '{"tz": "UTC"}'),
        LLMToolCall("c3", "ping", "{}"),
    )
    assert parse_reply("m", completion({"content": "hi"})).tool_calls == ()


@pytest.mark.parametrize("calls", ["x", [{"function": {}}], [{"id": "c"}]])
def test_malformed_tool_calls_are_a_malformed_reply(calls: Any) -> None:
    with pytest.raises(ValueError, match="tool"):
        parse_reply("m", completion({"content": None, "tool_calls": calls}))


def test_the_assistant_message_sent_back_has_openais_shape() -> None:
    reply = LLMReply("", (LLMToolCall("c1", "add", '{"a": 1}'),))
    assert reply.message() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
        ],
    }
    assert LLMReply("hi").message() == {"role": "assistant", "content": "hi"}
