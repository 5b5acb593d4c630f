"""The scripted fake LLM: reply selection, call recording, exhaustion, latency."""

from __future__ import annotations

import asyncio
import time
import traceback

import pytest

from agentmap.services.llm.errors import (
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
)
from agentmap.services.llm.fake import FakeLLMCall, FakeLLMExhaustedError, FakeLLMService
from agentmap.services.llm.limits import CallLimits
from agentmap.services.protocols import LLMServiceProtocol
from agentmap.settings import LLMSettings


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_satisfies_the_protocol() -> None:
    assert isinstance(FakeLLMService(), LLMServiceProtocol)


def test_responses_in_order_then_default() -> None:
    llm = FakeLLMService(["one", "two"], default="fallback")
    replies = [llm.call_llm(messages=user(f"q{i}")) for i in range(4)]
    assert replies == ["one", "two", "fallback", "fallback"]


def test_first_matching_pattern_wins_and_does_not_consume_responses() -> None:
    llm = FakeLLMService(
        ["scripted"],
        patterns={r"weather in (\w+)": "sunny", r"weather": "generic", r"^translate": "bonjour"},
    )
    assert llm.call_llm(messages=user("What is the weather in Paris?")) == "sunny"
    assert llm.call_llm(messages=user("translate hello")) == "bonjour"
    # Only the last message counts: the system prompt mentions nothing.
    assert (
        llm.call_llm(messages=[{"role": "user", "content": "weather?"}, *user("hi")]) == "scripted"
    )


def test_multi_part_content_is_matched_as_text() -> None:
    llm = FakeLLMService(patterns={"invoice": "ok"})
    parts = [
        {"type": "text", "text": "read this"},
        {"type": "image_url"},
        {"type": "text", "text": "invoice"},
    ]
    assert llm.call_llm(messages=[{"role": "user", "content": parts}]) == "ok"


def test_every_call_is_recorded() -> None:
    llm = FakeLLMService(default="ok")
    messages = user("hello")
    llm.call_llm("openai", messages, model="gpt-x", temperature=0.2, max_tokens=5)
    messages[1]["content"] = "changed later"
    assert llm.calls == [
        FakeLLMCall("openai", "gpt-x", user("hello"), 0.2, {"max_tokens": 5}, reply="ok")
    ]
    assert llm.last_call is not None
    assert llm.last_call.prompt == "hello"


def test_exhausted_error_says_what_was_answered_and_how_to_fix() -> None:
    llm = FakeLLMService(["only"])
    llm.call_llm(messages=user("a"))
    with pytest.raises(FakeLLMExhaustedError) as info:
        llm.call_llm(messages=user("b"))
    message = str(info.value)
    assert "call #2" in message
    assert "1 call(s) answered" in message
    assert "llm.fake_responses" in message
    assert "llm.fake_default" in message
    assert len(llm.calls) == 2
    assert llm.calls[-1].reply is None


def test_no_script_at_all_fails_on_first_call() -> None:
    with pytest.raises(FakeLLMExhaustedError, match="0 call"):
        FakeLLMService().call_llm(messages=user("x"))


async def test_async_call_shares_the_script() -> None:
    llm = FakeLLMService(["a", "b", "c"])
    replies = await asyncio.gather(*(llm.acall_llm(messages=user(str(i))) for i in range(3)))
    assert sorted(replies) == ["a", "b", "c"]
    assert len(llm.calls) == 3


async def test_async_latency_does_not_block_the_loop() -> None:
    llm = FakeLLMService(default="ok", latency=0.05)
    started = time.perf_counter()
    await asyncio.gather(*(llm.acall_llm(messages=user("x")) for _ in range(10)))
    assert time.perf_counter() - started < 0.3  # concurrent, not 10 x 0.05


def test_sync_latency_sleeps() -> None:
    llm = FakeLLMService(default="ok", latency=0.02)
    started = time.perf_counter()
    llm.call_llm(messages=user("x"))
    assert time.perf_counter() - started >= 0.02


def test_from_settings() -> None:
    llm = FakeLLMService.from_settings(
        LLMSettings(backend="fake", fake_responses=["first"], fake_default="later")
    )
    assert [llm.call_llm(messages=user("q")) for _ in range(2)] == ["first", "later"]


def test_the_default_fake_has_no_limits() -> None:
    assert FakeLLMService().limits is None
    assert FakeLLMService.from_settings(LLMSettings(backend="fake")).limits is None


async def test_limits_from_settings_pace_the_fake_like_the_real_backend() -> None:
    llm = FakeLLMService.from_settings(
        LLMSettings(backend="fake", fake_default="ok", rpm=1200, max_concurrency=1)
    )
    assert llm.limits is not None
    started = time.perf_counter()
    # rpm 1200: a burst of 20, then one call every 60/1181 s.
    replies = await asyncio.gather(*(llm.acall_llm(messages=user("q")) for _ in range(22)))
    assert replies == ["ok"] * 22
    assert time.perf_counter() - started >= 0.09


def test_limits_apply_to_sync_calls_and_select_by_provider() -> None:
    waits: list[float] = []
    limits = CallLimits(
        provider_rpm={"openai": 60},
        clock=lambda: 0.0,
        sleep=asyncio.sleep,
        sync_sleep=waits.append,
    )
    llm = FakeLLMService(default="ok", limits=limits)
    for _ in range(3):
        llm.call_llm("openai", user("q"))
    llm.call_llm(None, user("q"))  # no provider named: the fake cannot tell, so no limit
    assert waits == [1.0, 2.0]
    assert len(llm.calls) == 4


def test_invalid_pattern_fails_at_construction() -> None:
    with pytest.raises(Exception, match=r"unterminated|missing"):
        FakeLLMService(patterns={"(unclosed": "x"})


def test_script_adds_replies_after_construction() -> None:
    fake = FakeLLMService(["first"])
    assert fake.script("second", patterns={"weather": "sunny"}) is fake
    assert fake.call_llm(messages=[{"role": "user", "content": "hi"}]) == "first"
    assert fake.call_llm(messages=[{"role": "user", "content": "the weather?"}]) == "sunny"
    assert fake.call_llm(messages=[{"role": "user", "content": "hi"}]) == "second"
    with pytest.raises(FakeLLMExhaustedError):
        fake.call_llm(messages=[{"role": "user", "content": "hi"}])
    fake.script(default="fallback")
    assert fake.call_llm(messages=[{"role": "user", "content": "hi"}]) == "fallback"


def test_replies_per_node_come_first_and_lists_are_used_in_order() -> None:
    from agentmap.runtime.context import NodeContext, reset_current, set_current
    from agentmap.workflow.spec import NodeSpec

    fake = FakeLLMService(
        ["from the sequence"],
        patterns={"hello": "from a pattern"},
        nodes={"Classify": "billing", "Draft": ["first draft", "second draft"]},
    )

    def ask(node: str | None, text: str = "hello") -> str:
        token = set_current(NodeContext("r", "G", NodeSpec(node, "G"), {})) if node else None
        try:
            return fake.call_llm(messages=[{"role": "user", "content": text}])
        finally:
            if token is not None:
                reset_current(token)

    assert ask("Classify") == "billing"
    assert ask("Classify") == "billing"  # a single reply is reused
    assert ask("Draft") == "first draft"
    assert ask("Draft") == "second draft"
    assert ask("Draft") == "from a pattern"  # the node's list is used up
    assert ask(None) == "from a pattern"
    assert ask(None, "bye") == "from the sequence"
    assert [c.node for c in fake.calls] == [
        "Classify",
        "Classify",
        "Draft",
        "Draft",
        "Draft",
        None,
        None,
    ]


def test_a_scripted_exception_is_raised_and_recorded() -> None:
    limited = LLMRateLimitError("gpt-4o-mini", "slow down", retry_after=1.5)
    llm = FakeLLMService([limited, "ok"], patterns={"forbidden": LLMBadRequestError("m", "no")})
    with pytest.raises(LLMRateLimitError) as caught:
        llm.call_llm(messages=user("q1"))
    assert caught.value is limited
    assert caught.value.retry_after == 1.5
    assert llm.call_llm(messages=user("q2")) == "ok"  # the script goes on after it
    with pytest.raises(LLMBadRequestError):
        llm.call_llm(messages=user("a forbidden question"))
    assert [(c.reply, type(c.error).__name__) for c in llm.calls] == [
        (None, "LLMRateLimitError"),
        ("ok", "NoneType"),
        (None, "LLMBadRequestError"),
    ]


async def test_a_node_or_the_default_can_fail_every_call() -> None:
    down = LLMConnectionError("gpt-4o-mini", "connection refused")
    llm = FakeLLMService(default=down)
    for _ in range(2):  # raised afresh each time, not with the last traceback piled up
        with pytest.raises(LLMConnectionError) as caught:
            await llm.acall_llm(messages=user("q"))
        assert caught.value is down
        assert len(traceback.extract_tb(caught.value.__traceback__)) < 8
    assert [c.error for c in llm.calls] == [down, down]


def test_running_out_of_replies_is_a_script_mistake_not_a_provider_failure() -> None:
    assert FakeLLMExhaustedError.retryable is False
    assert not issubclass(FakeLLMExhaustedError, LLMError)
