"""LiteLLMService over real HTTP: litellm's own client, Router retries, fallbacks and errors.

Every call goes to a FakeOpenAIServer on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agentmap.runtime.context import NodeContext, reset_current, set_current
from agentmap.runtime.usage import LLMUsage, UsageSink
from agentmap.services.llm.errors import LLMBadRequestError, LLMProviderError, LLMTimeoutError
from agentmap.services.llm.litellm import LiteLLMService
from agentmap.settings import LLMSettings
from agentmap.testing import FakeOpenAIServer, RateLimited, Reply, ServerError, Timeout
from agentmap.workflow.spec import NodeSpec

MESSAGES = [{"role": "user", "content": "what is two plus two"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply="four") as running:
        yield running


def service(server: FakeOpenAIServer, **overrides: Any) -> LiteLLMService:
    settings: dict[str, Any] = {
        "api_base": server.base_url,
        "api_key": "sk-test-secret",
        "timeout": 5,
        "retries": 2,
    }
    settings.update(overrides)
    return LiteLLMService(LLMSettings(**settings))


class Usage:
    """Collects what the service reports, as a run would."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.sink = UsageSink("run", "G", self.events.append)

    def __enter__(self) -> list[LLMUsage]:
        ctx = NodeContext("run", "G", NodeSpec("Ask", "G"), {}, usage=self.sink)
        self._token = set_current(ctx)
        return self.sink.calls

    def __exit__(self, *exc: object) -> None:
        reset_current(self._token)


def test_a_call_returns_the_reply_and_reports_tokens_and_cost(server: FakeOpenAIServer) -> None:
    server.script([Reply("four", prompt_tokens=12, completion_tokens=3)])
    with Usage() as calls:
        reply = service(server).call_llm(messages=MESSAGES)
    assert reply == "four"
    (call,) = calls
    assert (call.node, call.model, call.provider) == ("Ask", "gpt-4o-mini", "openai")
    assert (call.prompt_tokens, call.completion_tokens) == (12, 3)
    assert call.cost is not None
    assert call.cost > 0  # litellm's price table knows gpt-4o-mini
    assert call.latency > 0
    request = server.last_request
    assert request is not None
    assert request.api_key == "sk-test-secret"
    assert request.body["messages"] == MESSAGES


async def test_async_calls_and_the_provider_and_alias_names(server: FakeOpenAIServer) -> None:
    llm = service(server, aliases={"fast": "gpt-4o"}, providers={"openai": "gpt-4.1-mini"})
    assert await llm.acall_llm(messages=MESSAGES, model="fast") == "four"
    assert await llm.acall_llm(provider="openai", messages=MESSAGES) == "four"
    assert await llm.acall_llm(messages=MESSAGES, temperature=0.2, max_tokens=7) == "four"
    models = [r.model for r in server.requests]
    assert models == ["gpt-4o", "gpt-4.1-mini", "gpt-4o-mini"]
    assert server.requests[2].body["temperature"] == 0.2
    assert server.requests[2].body["max_tokens"] == 7


def test_an_unknown_provider_is_a_configuration_error(server: FakeOpenAIServer) -> None:
    from agentmap.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"no model configured for LLM provider 'mistral'"):
        service(server).call_llm(provider="mistral", messages=MESSAGES)


def test_a_rate_limit_is_retried_then_succeeds(server: FakeOpenAIServer) -> None:
    server.script([RateLimited(retry_after=0.05), RateLimited(retry_after=0.05)])
    assert service(server, retries=2).call_llm(messages=MESSAGES) == "four"
    assert [r.status for r in server.requests] == [429, 429, 200]


def test_a_bad_request_is_not_retried(server: FakeOpenAIServer) -> None:
    import litellm

    server.script(["400"])
    with pytest.raises(LLMBadRequestError) as caught:
        service(server, retries=3).call_llm(messages=MESSAGES)
    assert isinstance(caught.value.__cause__, litellm.BadRequestError)
    assert [r.status for r in server.requests] == [400]


def test_repeated_server_errors_fall_back_to_the_next_model(server: FakeOpenAIServer) -> None:
    server.script([ServerError(500)] * 3, model="gpt-4o-mini")
    llm = service(server, retries=2, fallbacks=["gpt-4o"])
    assert llm.call_llm(messages=MESSAGES) == "four"
    assert [(r.model, r.status) for r in server.requests] == [
        ("gpt-4o-mini", 500),
        ("gpt-4o-mini", 500),
        ("gpt-4o-mini", 500),
        ("gpt-4o", 200),
    ]


def test_without_a_fallback_the_last_error_is_raised(server: FakeOpenAIServer) -> None:
    import litellm

    server.script([ServerError(500)] * 2)
    with pytest.raises(LLMProviderError) as caught:
        service(server, retries=1).call_llm(messages=MESSAGES)
    assert caught.value.status == 500
    assert isinstance(caught.value.__cause__, litellm.InternalServerError)
    assert len(server.requests) == 2


def test_a_slow_server_times_out(server: FakeOpenAIServer) -> None:
    import litellm

    server.script([Timeout(3)])
    started = time.perf_counter()
    with pytest.raises(LLMTimeoutError) as caught:
        service(server, retries=0, timeout=0.3).call_llm(messages=MESSAGES)
    assert isinstance(caught.value.__cause__, litellm.Timeout)
    assert time.perf_counter() - started < 2.5


async def test_max_concurrency_caps_calls_in_flight(server: FakeOpenAIServer) -> None:
    server.latency = 0.2
    llm = service(server, max_concurrency=2)
    await asyncio.gather(*(llm.acall_llm(messages=MESSAGES) for _ in range(6)))
    # Arrival times come in pairs: each pair waits for the previous one to finish.
    times = sorted(r.time for r in server.requests)
    assert len(times) == 6
    assert times[2] - times[0] >= 0.15
    assert times[4] - times[2] >= 0.15
    assert times[1] - times[0] < 0.15


async def test_rpm_spreads_request_starts_over_real_http(server: FakeOpenAIServer) -> None:
    await service(server).acall_llm(messages=MESSAGES)  # litellm's first-call set-up
    server.reset()
    llm = service(server, rpm=600)  # a burst of 10, then one request every 60/591 s
    interval = 60 / 591
    sent = time.time()
    # Calls take their start times in the order they are made: call i says "q<i>".
    await asyncio.gather(
        *(llm.acall_llm(messages=[{"role": "user", "content": f"q{i}"}]) for i in range(20))
    )
    elapsed = time.time() - sent
    arrived = {int(r.prompt[1:]): r.time - sent for r in server.requests}
    assert sorted(arrived) == list(range(20))
    assert elapsed >= 10 * interval  # ten intervals after the burst
    for i, at in arrived.items():  # no request ever goes out before its time
        assert at >= max(0, i - 9) * interval - 0.005, (i, at)
    burst = [arrived[i] for i in range(10)]
    assert max(burst) - min(burst) < 0.09  # the burst goes out together
    paced = [arrived[i] for i in range(10, 20)]
    # The server sees the rest about 100 ms apart; one late arrival (a busy
    # machine) shortens a gap, but none goes out together with another.
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(paced))
    assert gaps[len(gaps) // 2] >= 0.09
    assert gaps[0] >= 0.03


def test_provider_rpm_paces_sync_calls(server: FakeOpenAIServer) -> None:
    llm = service(server, provider_rpm={"openai": 100})  # one request every 600 ms
    other = service(server, provider_rpm={"anthropic": 100})  # not this model's provider
    for _ in range(2):
        other.call_llm(messages=MESSAGES)
        llm.call_llm(messages=MESSAGES)
    other_times = [r.time for r in server.requests[::2]]
    times = [r.time for r in server.requests[1::2]]
    assert times[1] - times[0] >= 0.55
    assert other_times[1] - other_times[0] < times[1] - times[0]


def test_per_provider_keys_win_over_the_global_key(server: FakeOpenAIServer) -> None:
    llm = service(server, api_keys={"openai": "sk-openai-only"})
    llm.call_llm(messages=MESSAGES)
    assert server.requests[-1].api_key == "sk-openai-only"


async def test_provider_concurrency_caps_one_provider(server: FakeOpenAIServer) -> None:
    server.latency = 0.2
    llm = service(server, provider_concurrency={"openai": 1})
    await asyncio.gather(*(llm.acall_llm(messages=MESSAGES) for _ in range(3)))
    times = sorted(r.time for r in server.requests)
    assert times[1] - times[0] >= 0.15
    assert times[2] - times[1] >= 0.15


def test_the_provider_key_is_read_from_its_usual_variable(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-api-key")
    llm = service(server, api_key=None)
    llm.call_llm(messages=MESSAGES)
    assert server.requests[-1].api_key == "sk-from-openai-api-key"


def test_a_missing_key_is_one_clear_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmap.errors import ConfigurationError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = LiteLLMService(LLMSettings(retries=2))
    with pytest.raises(ConfigurationError) as caught:
        llm.call_llm(messages=MESSAGES)
    message = str(caught.value)
    assert "no API key for model 'gpt-4o-mini'" in message
    assert "OPENAI_API_KEY" in message
    assert "llm.api_keys.openai" in message
