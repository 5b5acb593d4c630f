"""The LLM response cache: which requests it keeps, how they are keyed, and the container wiring."""

from __future__ import annotations

import asyncio
from typing import Any

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.usage import LLMUsage
from agentmap.services.cache.memory import MemoryCache
from agentmap.services.llm.caching import CachingLLMService, request_key
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.protocols import LLMCapableAgent
from containers import create_application
from tests.unit.runtime.helpers import graph, node

MESSAGES = [{"role": "user", "content": "hello"}]


def service(fake: FakeLLMService) -> tuple[CachingLLMService, MemoryCache]:
    cache = MemoryCache()
    return CachingLLMService(fake, lambda: cache, default_model="m"), cache


def test_temperature_zero_is_cached_and_other_temperatures_are_not() -> None:
    fake = FakeLLMService(default="reply")
    llm, _ = service(fake)

    async def calls() -> list[str]:
        return [
            await llm.acall_llm(messages=MESSAGES, temperature=0),
            await llm.acall_llm(messages=MESSAGES, temperature=0),
            await llm.acall_llm(messages=MESSAGES, temperature=0.7),
            await llm.acall_llm(messages=MESSAGES, temperature=0.7),
        ]

    assert asyncio.run(calls()) == ["reply"] * 4
    assert [c.temperature for c in fake.calls] == [0, 0.7, 0.7]


def test_cache_flag_forces_or_prevents_caching_and_is_not_passed_on() -> None:
    fake = FakeLLMService(default="reply")
    llm, _ = service(fake)
    for _ in range(2):
        llm.call_llm(messages=MESSAGES, temperature=0.9, cache=True)
    for _ in range(2):
        llm.call_llm(messages=MESSAGES, temperature=0, cache=False)
    assert len(fake.calls) == 3
    assert all("cache" not in c.kwargs for c in fake.calls)


def test_key_covers_the_whole_request() -> None:
    base = request_key("m", None, MESSAGES, None, 0, {})
    assert base == request_key("m", None, [dict(MESSAGES[0])], None, 0, {"cache": True})
    different = [
        request_key("other-default", None, MESSAGES, None, 0, {}),
        request_key("m", "openai", MESSAGES, None, 0, {}),
        request_key("m", None, MESSAGES, "gpt-x", 0, {}),
        request_key("m", None, [{"role": "user", "content": "hello!"}], None, 0, {}),
        request_key("m", None, MESSAGES, None, 0, {"max_tokens": 5}),
    ]
    assert base not in different
    assert len(set(different)) == len(different)


def test_sync_calls_use_the_cache_too() -> None:
    fake = FakeLLMService(default="reply")
    llm, cache = service(fake)
    assert llm.call_llm(messages=MESSAGES, temperature=0) == "reply"
    assert llm.call_llm(messages=MESSAGES, temperature=0) == "reply"
    assert len(fake.calls) == 1
    key = request_key("m", None, MESSAGES, None, 0, {})
    assert asyncio.run(cache.get(key)) == "reply"


class Asks(BaseAgent, LLMCapableAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        return await self.llm_service.acall_llm(messages=MESSAGES, temperature=0)


def test_agents_get_the_cached_service_and_runs_report_cache_hits() -> None:
    fake = FakeLLMService(default="reply")
    app = create_application("test", llm={"cache": True})
    app.container.agents.registry().register("Asks", Asks)
    with app.use(llm=fake):
        runner = app.runner(graph(node("A", "Asks", edge="B"), node("B", "Asks")))
        result = runner.run({})
    assert result.success, result.error
    assert len(fake.calls) == 1
    calls: list[LLMUsage] = result.llm_calls
    assert [(c.node, c.cached) for c in calls] == [("A", False), ("B", True)]
    assert calls[1].cost == 0.0


def test_the_test_preset_has_no_response_cache() -> None:
    fake = FakeLLMService(default="reply")
    app = create_application("test")
    app.container.agents.registry().register("Asks", Asks)
    with app.use(llm=fake):
        app.runner(graph(node("A", "Asks", edge="B"), node("B", "Asks"))).run({})
    assert len(fake.calls) == 2
