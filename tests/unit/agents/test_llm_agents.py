"""The ``llm`` agent and its provider variants, called directly with the scripted fake LLM."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.llm import (
    AnthropicAgent,
    GoogleAgent,
    LLMAgent,
    OpenAIAgent,
    wrap_result,
)
from agentmap.agents.prompt_template import PromptRenderError
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.protocols import LLMCapableAgent


def agent(
    prompt: str = "",
    context: dict[str, Any] | None = None,
    *,
    replies: Sequence[str] = ("ok",),
    kind: str = "llm",
) -> tuple[LLMAgent, FakeLLMService]:
    fake = FakeLLMService(replies)
    built = BUILTIN_AGENTS[kind]("Ask", prompt, context)
    assert isinstance(built, LLMAgent)
    built.configure_llm_service(fake)
    return built, fake


def sys_msg(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def test_llm_declares_the_capability_and_runs_on_the_event_loop() -> None:
    assert BUILTIN_AGENTS["llm"] is LLMAgent
    assert LLMCapableAgent in LLMAgent.__mro__
    assert inspect.iscoroutinefunction(LLMAgent("A").process)


# ---------------------------------------------------------------------- messages


async def test_a_prompt_that_uses_every_input_is_the_user_message() -> None:
    a, fake = agent("Summarise in one line: {text}")
    assert await a.process({"text": "Long story."}) == "ok"
    call = fake.calls[0]
    assert call.messages == [user("Summarise in one line: Long story.")]
    assert (call.provider, call.model, call.temperature, call.kwargs) == (None, None, None, {})


async def test_a_prompt_with_inputs_left_over_is_the_system_message() -> None:
    """AgentMap style: the Prompt instructs, the input is what the user says."""
    a, fake = agent("You are a helpful assistant.")
    await a.process({"user_input": "Hi there"})
    assert fake.calls[0].messages == [sys_msg("You are a helpful assistant."), user("Hi there")]


async def test_the_inputs_the_prompt_uses_are_not_repeated_in_the_user_message() -> None:
    a, fake = agent("Answer in {language}.")
    await a.process({"language": "French", "question": "Why?", "context": {"k": [1]}})
    assert fake.calls[0].messages == [
        sys_msg("Answer in French."),
        user('question: Why?\ncontext: {"k": [1]}'),
    ]


async def test_context_system_comes_first() -> None:
    a, fake = agent("Translate: {text}", {"system": "Be terse."})
    await a.process({"text": "hola"})
    assert fake.calls[0].messages == [sys_msg("Be terse."), user("Translate: hola")]

    a, fake = agent("Answer in {language}.", {"system": "Be terse."})
    await a.process({"language": "French", "q": "Why?"})
    assert fake.calls[0].messages == [sys_msg("Be terse.\n\nAnswer in French."), user("Why?")]


async def test_prompt_role_user_sends_only_the_rendered_prompt() -> None:
    a, fake = agent("Answer in {language}.", {"prompt_role": "user"})
    await a.process({"language": "French", "question": "ignored"})
    assert fake.calls[0].messages == [user("Answer in French.")]


async def test_prompt_role_system_needs_inputs_left_for_the_user_message() -> None:
    a, fake = agent("Summarise: {text}", {"prompt_role": "system"})
    with pytest.raises(ValueError, match="prompt_role 'system' sends the Prompt as the system"):
        await a.process({"text": "x"})
    assert fake.calls == []

    a, fake = agent("Summarise the text.", {"prompt_role": "system"})
    await a.process({"text": "x"})
    assert fake.calls[0].messages == [sys_msg("Summarise the text."), user("x")]


async def test_without_a_prompt_the_inputs_are_the_user_message() -> None:
    a, fake = agent(replies=["1", "2", "3"])
    await a.process({"q": "What is 2+2?"})
    await a.process({"doc": {"title": "T"}})
    await a.process({"a": 1, "b": None})
    assert [c.messages for c in fake.calls] == [
        [user("What is 2+2?")],
        [user('{\n  "title": "T"\n}')],
        [user("a: 1\nb: ")],
    ]


@pytest.mark.parametrize(
    ("prompt", "inputs", "message"),
    [
        ("", {}, "the node has no Prompt and no Input_Fields"),
        ("", {"q": None}, "input(s) q have no value"),
        ("You are helpful.", {"q": "  "}, "input(s) q have no value"),
        ("{text}", {"text": ""}, "the Prompt renders to blank text"),
    ],
)
async def test_an_empty_user_message_fails_before_calling(
    prompt: str, inputs: dict[str, Any], message: str
) -> None:
    a, fake = agent(prompt)
    with pytest.raises(ValueError, match=r"^llm node 'Ask': the user message is empty") as info:
        await a.process(inputs)
    assert message in str(info.value)
    assert fake.calls == []


async def test_a_placeholder_without_an_input_fails_the_node() -> None:
    a, fake = agent("Hello {name}")
    with pytest.raises(PromptRenderError, match=r"node 'Ask': prompt placeholder \{name\}"):
        await a.process({"city": "Oslo"})
    assert fake.calls == []


# ---------------------------------------------------------------------- call options


async def test_context_options_are_passed_to_the_service() -> None:
    a, fake = agent(
        "Q: {q}",
        {
            "provider": "anthropic",
            "model": "claude-3-5-haiku",
            "temperature": 0,
            "max_tokens": 64,
            "cache": True,
        },
    )
    await a.process({"q": "x"})
    call = fake.calls[0]
    assert (call.provider, call.model) == ("anthropic", "claude-3-5-haiku")
    assert call.temperature == 0.0
    assert isinstance(call.temperature, float)
    assert call.kwargs == {"max_tokens": 64, "cache": True}


async def test_cache_false_is_passed_through_too() -> None:
    a, fake = agent("{q}", {"cache": False, "temperature": 1.5})
    await a.process({"q": "x"})
    assert fake.calls[0].temperature == 1.5
    assert fake.calls[0].kwargs == {"cache": False}


@pytest.mark.parametrize(
    ("kind", "provider"),
    [
        ("openai", "openai"),
        ("gpt", "openai"),
        ("anthropic", "anthropic"),
        ("claude", "anthropic"),
        ("google", "google"),
        ("gemini", "google"),
    ],
)
async def test_provider_variants_fix_the_provider(kind: str, provider: str) -> None:
    a, fake = agent("{q}", {"model": "m"}, kind=kind)
    assert isinstance(a, LLMAgent)
    await a.process({"q": "x"})
    assert (fake.calls[0].provider, fake.calls[0].model) == (provider, "m")
    # Saying the same provider again is fine.
    agent("{q}", {"provider": provider.upper()}, kind=kind)


def test_variant_classes() -> None:
    assert BUILTIN_AGENTS["gpt"] is BUILTIN_AGENTS["openai"] is OpenAIAgent
    assert BUILTIN_AGENTS["claude"] is BUILTIN_AGENTS["anthropic"] is AnthropicAgent
    assert BUILTIN_AGENTS["gemini"] is BUILTIN_AGENTS["google"] is GoogleAgent


def test_a_variant_refuses_another_provider() -> None:
    with pytest.raises(
        ValueError, match=r"^openai node 'Ask': Context key 'provider' is 'google'"
    ) as info:
        OpenAIAgent("Ask", "", {"provider": "google"})
    assert "AgentType 'openai' already sets the provider 'openai'" in str(info.value)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"temperature": "hot"}, "'temperature' must be a number from 0 to 2, got 'hot'"),
        ({"temperature": 2.5}, "'temperature' must be a number from 0 to 2, got 2.5"),
        ({"temperature": -1}, "'temperature' must be a number from 0 to 2"),
        ({"temperature": True}, "'temperature' must be a number from 0 to 2, got True"),
        ({"max_tokens": 0}, "'max_tokens' must be a whole number >= 1, got 0"),
        ({"max_tokens": 10.5}, "'max_tokens' must be a whole number >= 1, got 10.5"),
        ({"max_tokens": True}, "'max_tokens' must be a whole number >= 1, got True"),
        ({"response_format": "xml"}, "'response_format' must be one of 'text', 'json', got 'xml'"),
        ({"response_format": {"type": "json_object"}}, "'response_format' must be one of"),
        ({"prompt_role": "assistant"}, "'prompt_role' must be one of 'auto', 'system', 'user'"),
        ({"max_memory_messages": 0}, "'max_memory_messages' must be a whole number >= 1, got 0"),
        ({"max_memory_messages": "5"}, "'max_memory_messages' must be a whole number >= 1"),
        ({"memory_key": 3}, "'memory_key' must be a field name, got 3"),
        ({"memory_key": " "}, "'memory_key' must be a field name, got ' '"),
        ({"system": ["a"]}, "'system' must be text, got list"),
        ({"model": ""}, "'model' must be non-empty text, got ''"),
        ({"provider": 1}, "'provider' must be non-empty text, got 1"),
        ({"cache": "yes"}, "'cache' must be true or false, got 'yes'"),
    ],
)
def test_bad_context_is_refused_when_the_agent_is_built(
    context: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=r"^llm node 'Ask': Context key ") as info:
        LLMAgent("Ask", "", context)
    assert message in str(info.value)


# ---------------------------------------------------------------------- JSON replies


async def test_json_reply_is_parsed_and_asked_for() -> None:
    a, fake = agent("Extract: {text}", {"response_format": "json"}, replies=['{"city": "Oslo"}'])
    assert await a.process({"text": "I live in Oslo"}) == {"city": "Oslo"}
    assert fake.calls[0].kwargs == {"response_format": {"type": "json_object"}}


async def test_json_reply_in_a_code_fence() -> None:
    a, _ = agent("{q}", {"response_format": "json"}, replies=["```json\n[1, 2]\n```"])
    assert await a.process({"q": "x"}) == [1, 2]


async def test_invalid_json_fails_naming_the_node_and_showing_the_reply() -> None:
    reply = "Sure! Here is the JSON you asked for: " + "x" * 300
    a, _ = agent("{q}", {"response_format": "json"}, replies=[reply])
    with pytest.raises(ValueError, match="not valid JSON") as info:
        await a.process({"q": "x"})
    message = str(info.value)
    assert message.startswith(
        "llm node 'Ask': the reply is not valid JSON (Expecting value: line 1"
    )
    assert repr(reply[:200] + "...") in message
    assert "x" * 200 not in message


async def test_a_json_reply_cannot_fail_route_or_write_state() -> None:
    """A model's reply is data: reserved keys in it are wrapped so the runner ignores them."""
    reply = '{"error": "none", "__next__": "Admin", "__state__": {"role": "admin"}}'
    a, _ = agent("{q}", {"response_format": "json"}, replies=[reply])
    assert await a.process({"q": "x"}) == {
        "__state__": {},
        "__value__": {"error": "none", "__next__": "Admin", "__state__": {"role": "admin"}},
    }


def test_wrap_result_leaves_plain_values_alone() -> None:
    assert wrap_result("text") == "text"
    assert wrap_result({"a": 1}) == {"a": 1}
    assert wrap_result([1], {"m": []}) == {"__state__": {"m": []}, "__value__": [1]}


# ---------------------------------------------------------------------- errors from the service


class RateLimitError(Exception):
    pass


class FailingLLM(FakeLLMService):
    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        raise RateLimitError("429: slow down")


async def test_provider_errors_propagate() -> None:
    a = LLMAgent("Ask", "{q}")
    a.configure_llm_service(FailingLLM())
    with pytest.raises(RateLimitError, match="429"):
        await a.process({"q": "x"})


async def test_without_a_service_the_error_says_how_to_get_one() -> None:
    with pytest.raises(AttributeError, match="has no llm_service"):
        await LLMAgent("Ask", "{q}").process({"q": "x"})


# ---------------------------------------------------------------------- memory (outside a run)


async def test_memory_outside_a_run_starts_empty_and_is_returned_as_state() -> None:
    a, fake = agent("Be kind.", {"memory_key": "chat"}, replies=["Hello!"])
    result = await a.process({"q": "Hi"})
    assert fake.calls[0].messages == [sys_msg("Be kind."), user("Hi")]
    assert result == {"__state__": {"chat": [user("Hi"), bot("Hello!")]}, "__value__": "Hello!"}


async def test_memory_listed_as_an_input_is_the_history_not_user_text() -> None:
    """AgentMap CSVs list the memory field in Input_Fields (``user_input|chat``)."""
    a, fake = agent("Be kind.", {"memory_key": "chat"}, replies=["Fine."])
    history = [sys_msg("old system"), user("Hi"), bot("Hello!")]
    result = await a.process({"user_input": "How are you?", "chat": history})
    assert fake.calls[0].messages == [
        sys_msg("Be kind."),
        user("Hi"),
        bot("Hello!"),
        user("How are you?"),
    ]
    assert result["__state__"]["chat"] == [
        user("Hi"),
        bot("Hello!"),
        user("How are you?"),
        bot("Fine."),
    ]
    assert result["__value__"] == "Fine."


async def test_memory_is_trimmed_to_whole_exchanges() -> None:
    a, fake = agent("{q}", {"memory_key": "chat", "max_memory_messages": 3}, replies=["r3"])
    history = [user("q1"), bot("r1"), user("q2"), bot("r2")]
    result = await a.process({"q": "q3", "chat": history})
    # The last 3 of the history would start with an assistant message: it is dropped too.
    assert fake.calls[0].messages == [user("q2"), bot("r2"), user("q3")]
    assert result["__state__"]["chat"] == [user("q3"), bot("r3")]


async def test_memory_with_json_keeps_the_reply_text() -> None:
    a, _ = agent("{q}", {"memory_key": "m", "response_format": "json"}, replies=['{"a": 1}'])
    result = await a.process({"q": "x"})
    assert result == {"__state__": {"m": [user("x"), bot('{"a": 1}')]}, "__value__": {"a": 1}}


@pytest.mark.parametrize(
    ("memory", "shown"),
    [
        ("hello", "got str"),
        ([{"role": "user", "content": "a"}, "b"], "got item 1: 'b'"),
        ([{"content": "a"}], "got item 0: {'content': 'a'}"),
    ],
)
async def test_a_memory_field_that_is_not_a_conversation_fails(memory: Any, shown: str) -> None:
    a, fake = agent("{q}", {"memory_key": "chat"})
    with pytest.raises(
        ValueError, match=r"^llm node 'Ask': memory field 'chat' must be a list"
    ) as info:
        await a.process({"q": "x", "chat": memory})
    assert shown in str(info.value)
    assert fake.calls == []
