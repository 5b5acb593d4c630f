"""OpenAIHTTPService over real HTTP: aiohttp, its own retries, fallbacks, limits and errors.

Every call goes to a FakeOpenAIServer on 127.0.0.1; nothing leaves the machine.
Back-off is made tiny (``backoff_base``) so retries do not sleep in tests;
``Retry-After`` is the server's and is waited for as it says.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.runtime.context import NodeContext, reset_current, set_current
from agentmap.runtime.usage import LLMUsage, UsageSink
from agentmap.services.llm import prices
from agentmap.services.llm.errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMTimeoutError,
)
from agentmap.services.llm.openai_http import OpenAIHTTPService, model_cost
from agentmap.services.protocols import LLMServiceProtocol
from agentmap.settings import LLMSettings
from agentmap.testing import (
    BadRequest,
    ErrorReply,
    FakeOpenAIServer,
    MalformedJSON,
    RateLimited,
    Reply,
    ServerError,
    Timeout,
)
from agentmap.workflow.spec import NodeSpec
from containers import create_application

MESSAGES = [{"role": "user", "content": "what is two plus two"}]
SECRET = "sk-test-secret-value"
REPO = Path(__file__).resolve().parents[2]


class CountingServer(FakeOpenAIServer):
    """Also counts the chat requests the server holds at once (its latency included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    async def _dispatch(self, request: Any, peer: tuple[str, int]) -> Any:
        with self._count_lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            return await super()._dispatch(request, peer)
        finally:
            with self._count_lock:
                self.in_flight -= 1


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with CountingServer(reply="four") as running:
        yield running


@pytest.fixture
def made() -> Iterator[list[OpenAIHTTPService]]:
    """Services built by a test; their private loops are stopped afterwards."""
    services: list[OpenAIHTTPService] = []
    yield services
    for llm in services:
        llm.close()


@pytest.fixture
def service(server: FakeOpenAIServer, made: list[OpenAIHTTPService]) -> Any:
    def build(**overrides: Any) -> OpenAIHTTPService:
        settings: dict[str, Any] = {
            "backend": "openai_http",
            "api_base": server.base_url,
            "api_key": SECRET,
            "timeout": 5,
            "retries": 2,
        }
        settings.update(overrides)
        llm = OpenAIHTTPService(LLMSettings(**settings), backoff_base=0.001, backoff_max=0.005)
        made.append(llm)
        return llm

    return build


class Usage:
    """Collects what the service reports, as a run would."""

    def __init__(self, node: str = "Ask") -> None:
        self.events: list[Any] = []
        self.node = node
        self.sink = UsageSink("run", "G", self.events.append)

    def __enter__(self) -> list[LLMUsage]:
        ctx = NodeContext("run", "G", NodeSpec(self.node, "G"), {}, usage=self.sink)
        self._token = set_current(ctx)
        return self.sink.calls

    def __exit__(self, *exc: object) -> None:
        reset_current(self._token)


# --------------------------------------------------------------------------- success


def test_it_is_an_llm_service(service: Any) -> None:
    assert isinstance(service(), LLMServiceProtocol)


def test_a_call_returns_the_reply_and_reports_tokens_and_cost(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([Reply("four", prompt_tokens=12, completion_tokens=3)])
    with Usage() as calls:
        reply = service().call_llm(messages=MESSAGES)
    assert reply == "four"
    (call,) = calls
    assert (call.node, call.model, call.provider) == ("Ask", "gpt-4o-mini", "openai")
    assert (call.prompt_tokens, call.completion_tokens) == (12, 3)
    assert call.cost == pytest.approx(12 * 0.15e-6 + 3 * 0.6e-6)  # gpt-4o-mini's list price
    assert call.latency > 0
    request = server.last_request
    assert request is not None
    assert request.path == "/v1/chat/completions"
    assert request.api_key == SECRET
    assert request.body == {"model": "gpt-4o-mini", "messages": MESSAGES}


def test_the_cost_is_the_one_litellm_reports(server: FakeOpenAIServer, service: Any) -> None:
    from agentmap.services.llm.litellm import LiteLLMService

    settings = LLMSettings(api_base=server.base_url, api_key=SECRET)
    reference = LiteLLMService(settings)
    costs = []
    for llm in (reference, service()):
        server.script([Reply("four", prompt_tokens=1234, completion_tokens=567)])
        with Usage() as calls:
            assert llm.call_llm(messages=MESSAGES) == "four"
        costs.append(calls[0].cost)
    assert costs[0] is not None
    assert costs[1] == pytest.approx(costs[0], rel=1e-12)


def test_model_cost_matches_litellm_with_cached_prompt_tokens() -> None:
    import litellm

    expected = sum(
        litellm.cost_per_token(
            model="gpt-4o-mini",
            prompt_tokens=1000,
            completion_tokens=200,
            cache_read_input_tokens=400,
        )
    )
    assert model_cost("gpt-4o-mini", 1000, 200, cached_tokens=400) == pytest.approx(expected)
    assert model_cost("openai/gpt-4o-mini", 1000, 200) == model_cost("gpt-4o-mini", 1000, 200)
    assert model_cost("no-such-model-anywhere", 1000, 200) is None


def test_without_litellm_s_price_table_the_cost_is_unknown(
    server: FakeOpenAIServer, service: Any, mocker: MockerFixture
) -> None:
    mocker.patch.object(prices, "_prices", {})
    with Usage() as calls:
        service().call_llm(messages=MESSAGES)
    assert calls[0].cost is None
    assert calls[0].prompt_tokens > 0


async def test_aliases_providers_and_prefixes_name_the_model_sent(
    server: FakeOpenAIServer, service: Any
) -> None:
    llm = service(aliases={"fast": "openai/gpt-4o"}, providers={"openai": "gpt-4.1-mini"})
    assert await llm.acall_llm(messages=MESSAGES, model="fast") == "four"
    assert await llm.acall_llm(provider="openai", messages=MESSAGES) == "four"
    assert await llm.acall_llm(messages=MESSAGES) == "four"
    assert await llm.acall_llm(messages=MESSAGES, model="anthropic/claude-3-5-haiku") == "four"
    default = service()  # the default providers: anthropic's model is sent as written
    assert await default.acall_llm(provider="anthropic", messages=MESSAGES) == "four"
    assert [r.model for r in server.requests] == [
        "gpt-4o",  # the alias, without "openai/"
        "gpt-4.1-mini",
        "gpt-4o-mini",
        "anthropic/claude-3-5-haiku",
        "anthropic/claude-3-5-haiku-latest",
    ]
    with pytest.raises(ConfigurationError, match=r"no model configured for LLM provider 'mistral'"):
        await llm.acall_llm(provider="mistral", messages=MESSAGES)


async def test_temperature_response_format_and_other_arguments_pass_through(
    server: FakeOpenAIServer, service: Any
) -> None:
    llm = service(temperature=0.7)
    await llm.acall_llm(messages=MESSAGES)
    await llm.acall_llm(
        messages=MESSAGES,
        temperature=0,
        max_tokens=7,
        response_format={"type": "json_object"},
        cache=True,  # the caching wrapper's flag: never sent
    )
    first, second = (r.body for r in server.requests)
    assert first["temperature"] == 0.7
    assert second == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": 7,
        "response_format": {"type": "json_object"},
    }


# --------------------------------------------------------------------------- retries


def test_a_rate_limit_waits_what_retry_after_says_then_succeeds(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([RateLimited(retry_after=0.3), RateLimited()])
    assert service(retries=2).call_llm(messages=MESSAGES) == "four"
    requests = server.requests
    assert [r.status for r in requests] == [429, 429, 200]
    assert requests[1].time - requests[0].time >= 0.28  # Retry-After honoured
    assert requests[2].time - requests[1].time < 0.25  # no header: the (tiny) back-off


def test_a_long_retry_after_is_cut_to_the_cap(server: FakeOpenAIServer, service: Any) -> None:
    server.script([RateLimited(retry_after=30)])
    llm = service()
    llm.retry_after_max = 0.05
    started = time.perf_counter()
    assert llm.call_llm(messages=MESSAGES) == "four"
    assert time.perf_counter() - started < 2
    assert [r.status for r in server.requests] == [429, 200]


def test_repeated_server_errors_fall_back_to_the_next_model(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([ServerError(500), ServerError(503), ServerError(502)], model="gpt-4o-mini")
    server.script([ServerError(500)], model="gpt-4o")
    llm = service(retries=2, fallbacks=["gpt-4o"])
    with Usage() as calls:
        assert llm.call_llm(messages=MESSAGES) == "four"
    assert [(r.model, r.status) for r in server.requests] == [
        ("gpt-4o-mini", 500),
        ("gpt-4o-mini", 503),
        ("gpt-4o-mini", 502),
        ("gpt-4o", 500),  # the fallback has retries of its own
        ("gpt-4o", 200),
    ]
    assert calls[0].model == "gpt-4o"  # the model that answered, priced as itself
    assert calls[0].cost == model_cost("gpt-4o", calls[0].prompt_tokens, calls[0].completion_tokens)


def test_without_a_fallback_the_last_error_is_raised(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([ServerError(500, message="first"), ServerError(500, message="overloaded")])
    with pytest.raises(LLMProviderError) as caught:
        service(retries=1).call_llm(messages=MESSAGES)
    error = caught.value
    assert (error.status, error.model, error.message) == (500, "gpt-4o-mini", "overloaded")
    assert "gpt-4o-mini" in str(error)
    assert "HTTP 500" in str(error)
    assert len(server.requests) == 2


def test_when_every_fallback_fails_the_error_names_the_models_tried(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([ServerError(500)] * 4)
    with pytest.raises(LLMProviderError) as caught:
        service(retries=1, fallbacks=["gpt-4o"]).call_llm(messages=MESSAGES)
    assert caught.value.model == "gpt-4o"
    assert "'gpt-4o-mini' failed before it" in str(caught.value)
    assert [r.model for r in server.requests] == ["gpt-4o-mini"] * 2 + ["gpt-4o"] * 2


def test_a_slow_reply_times_out_and_is_retried(server: FakeOpenAIServer, service: Any) -> None:
    server.script([Timeout(3)])
    started = time.perf_counter()
    assert service(retries=1, timeout=0.3).call_llm(messages=MESSAGES) == "four"
    assert time.perf_counter() - started < 2.5
    assert len(server.requests) == 2


def test_a_timeout_after_the_last_retry_is_an_error_without_a_status(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([Timeout(3)])
    started = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match=r"no reply within 0.3 s") as caught:
        service(retries=0, timeout=0.3).call_llm(messages=MESSAGES)
    assert time.perf_counter() - started < 2.5
    assert caught.value.status is None
    assert caught.value.retryable


def test_a_bad_request_is_neither_retried_nor_sent_to_a_fallback(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([BadRequest("Unsupported parameter: 'max_tokens'.")])
    with pytest.raises(LLMBadRequestError) as caught:
        service(retries=3, fallbacks=["gpt-4o"]).call_llm(messages=MESSAGES)
    assert caught.value.status == 400
    assert caught.value.message == "Unsupported parameter: 'max_tokens'."
    assert not caught.value.retryable
    assert [r.status for r in server.requests] == [400]  # exactly one request


def test_an_unknown_model_falls_back_but_a_bad_key_does_not(
    server: FakeOpenAIServer, service: Any
) -> None:
    server.script([ErrorReply(404)], model="gpt-4o-mini")
    llm = service(fallbacks=["gpt-4o"])
    assert llm.call_llm(messages=MESSAGES) == "four"
    assert [(r.model, r.status) for r in server.requests] == [
        ("gpt-4o-mini", 404),
        ("gpt-4o", 200),
    ]
    server.reset()
    server.script([ErrorReply(401)])
    with pytest.raises(LLMAuthenticationError) as caught:
        llm.call_llm(messages=MESSAGES)
    assert caught.value.status == 401
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"id": "chatcmpl-truncated", "choices": [', "not JSON"),
        ('{"id": "chatcmpl-1", "object": "chat.completion"}', "no 'choices'"),
        ('{"choices": [{"index": 0}]}', "no 'message'"),
    ],
)
def test_a_malformed_reply_is_an_error_and_not_retried(
    server: FakeOpenAIServer, service: Any, body: str, problem: str
) -> None:
    server.script([MalformedJSON(body)])
    with pytest.raises(LLMProviderError, match="malformed chat completion") as caught:
        service(retries=2).call_llm(messages=MESSAGES)
    assert caught.value.status == 200
    assert problem in caught.value.message
    assert len(server.requests) == 1


def test_a_connection_error_is_retried_then_raised(
    made: list[OpenAIHTTPService], mocker: MockerFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(api_base=f"http://127.0.0.1:{port}/v1", api_key=SECRET, retries=2)
    llm = OpenAIHTTPService(settings, backoff_base=0.001, backoff_max=0.005)
    made.append(llm)
    attempts = mocker.spy(llm, "_attempt")  # no server to count the requests
    with pytest.raises(LLMConnectionError, match="connection error") as caught:
        llm.call_llm(messages=MESSAGES)
    assert caught.value.status is None
    assert [call.args[0] for call in attempts.call_args_list] == ["gpt-4o-mini"] * 3


# --------------------------------------------------------------------------- keys and secrets


def test_the_key_is_sent_as_a_bearer_token_and_never_shown_in_errors(
    server: FakeOpenAIServer, service: Any
) -> None:
    content = "my private question about the merger"
    server.script(
        [
            ErrorReply(401, message=f"Incorrect API key provided: {SECRET}."),
            BadRequest(f"Invalid 'messages[0].content': {content!r} is not allowed."),
        ]
    )
    llm = service()
    errors = []
    for _ in range(2):
        with pytest.raises(LLMError) as caught:
            llm.call_llm(messages=[{"role": "user", "content": content}])
        errors.append(caught.value)
    assert [r.api_key for r in server.requests] == [SECRET, SECRET]
    assert [e.status for e in errors] == [401, 400]
    for error in errors:
        text = f"{error} {error.message} {error!r}"
        assert SECRET not in text
        assert "sk-test" not in text
        assert content not in text
    assert "Incorrect API key provided: ***." in str(errors[0])


def test_a_per_provider_key_wins_over_the_global_key(
    server: FakeOpenAIServer, service: Any
) -> None:
    service(api_keys={"openai": "sk-openai-only"}).call_llm(messages=MESSAGES)
    assert server.requests[-1].api_key == "sk-openai-only"


def test_the_key_is_read_from_openai_api_key(
    server: FakeOpenAIServer, service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-api-key")
    service(api_key=None).call_llm(messages=MESSAGES)
    assert server.requests[-1].api_key == "sk-from-openai-api-key"


def test_a_local_server_needs_no_key(
    server: FakeOpenAIServer, service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert service(api_key=None).call_llm(messages=MESSAGES) == "four"
    assert "authorization" not in server.requests[-1].headers


def test_a_missing_key_is_one_clear_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, made: list[OpenAIHTTPService]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = OpenAIHTTPService(LLMSettings(backend="openai_http", retries=2))
    made.append(llm)
    assert llm.url == "https://api.openai.com/v1/chat/completions"
    with pytest.raises(ConfigurationError) as caught:
        llm.call_llm(messages=MESSAGES)
    message = str(caught.value)
    assert "no API key for model 'gpt-4o-mini'" in message
    assert "OPENAI_API_KEY" in message
    assert "llm.api_keys.openai" in message
    assert "llm.api_base" in message


def test_an_api_base_that_is_not_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"llm.api_base must be an http"):
        OpenAIHTTPService(LLMSettings(api_base="localhost:8000/v1", api_key=SECRET))


def test_without_aiohttp_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # import aiohttp -> ImportError
    with pytest.raises(MissingExtraError) as caught:
        OpenAIHTTPService(LLMSettings(api_key=SECRET))
    assert caught.value.extra == "openai"
    assert "pip install 'agentmap[openai]'" in str(caught.value)


def test_the_error_survives_pickling() -> None:
    error = LLMProviderError("gpt-4o", "overloaded", status=503)
    error.retry_after = 2.0  # a 503 may say when to come back
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LLMProviderError
    assert (copy.model, copy.message, copy.status, copy.retryable, copy.retry_after) == (
        "gpt-4o",
        "overloaded",
        503,
        True,
        2.0,
    )
    assert str(copy) == str(error)


# --------------------------------------------------------------------------- limits


async def test_max_concurrency_caps_requests_in_flight_at_the_server(
    server: CountingServer, service: Any
) -> None:
    server.latency = 0.1
    llm = service(max_concurrency=3)
    replies = await asyncio.gather(*(llm.acall_llm(messages=MESSAGES) for _ in range(12)))
    assert replies == ["four"] * 12
    assert server.peak == 3
    server.peak = 0
    unlimited = service()
    await asyncio.gather(*(unlimited.acall_llm(messages=MESSAGES) for _ in range(12)))
    assert server.peak > 3  # so the 3 above is the limit's doing


async def test_provider_concurrency_applies_under_the_openai_name(
    server: CountingServer, service: Any
) -> None:
    server.latency = 0.05
    llm = service(provider_concurrency={"openai": 1})
    await asyncio.gather(*(llm.acall_llm(messages=MESSAGES, model="other/m") for _ in range(4)))
    assert server.peak == 1


async def test_rpm_spreads_request_starts(server: FakeOpenAIServer, service: Any) -> None:
    llm = service(rpm=600)  # a burst of 10, then one request every 60/591 s
    interval = 60 / 591
    sent = time.time()
    await asyncio.gather(
        *(llm.acall_llm(messages=[{"role": "user", "content": f"q{i}"}]) for i in range(13))
    )
    arrived = {int(r.prompt[1:]): r.time - sent for r in server.requests}
    assert sorted(arrived) == list(range(13))
    burst = [arrived[i] for i in range(10)]
    assert max(burst) - min(burst) < 0.09  # the burst goes out together
    for i in range(10, 13):  # then one per interval, never early
        assert arrived[i] >= (i - 9) * interval - 0.005, (i, arrived[i])
    assert arrived[12] - arrived[10] >= 1.8 * interval


# --------------------------------------------------------------------------- sync and sessions


def test_sync_calls_from_two_threads_share_one_connection_pool(
    server: CountingServer, service: Any
) -> None:
    server.latency = 0.1
    llm = service()
    seen: dict[str, list[LLMUsage]] = {}

    def worker(name: str) -> list[str]:
        with Usage(node=name) as calls:
            replies = [llm.call_llm(messages=MESSAGES) for _ in range(3)]
        seen[name] = calls
        return replies

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(worker, ["A", "B"]))
    assert results == [["four"] * 3] * 2
    assert server.peak == 2  # the two threads' calls overlapped
    # Usage goes to each caller's own run context, not to the loop's thread.
    assert {name: [c.node for c in calls] for name, calls in seen.items()} == {
        "A": ["A"] * 3,
        "B": ["B"] * 3,
    }
    # Six requests over at most two kept-alive connections of one pool.
    assert len({r.peer for r in server.requests}) <= 2


def test_sync_calls_survive_close_and_a_fork(server: FakeOpenAIServer, service: Any) -> None:
    llm = service()
    assert llm.call_llm(messages=MESSAGES) == "four"
    first = llm.private_loop.thread
    assert first is not None
    assert first.is_alive()
    llm.close()
    assert not first.is_alive()  # close() stops the private loop's thread
    assert llm.call_llm(messages=MESSAGES) == "four"  # and a later call starts another
    second = llm.private_loop.thread
    assert second is not None
    assert second is not first
    inherited = llm.private_loop.loop
    assert inherited is not None
    llm.private_loop.pid = -1  # what a forked child sees: the loop is its parent's
    assert llm.call_llm(messages=MESSAGES) == "four"
    assert llm.private_loop.thread is not second
    # Stop the loop left behind, as close() would have.
    asyncio.run_coroutine_threadsafe(llm.private_loop._stop(), inherited).result(5)
    inherited.call_soon_threadsafe(inherited.stop)
    second.join(5)
    assert not second.is_alive()
    inherited.close()


async def test_aclose_closes_the_loop_s_pool_and_a_later_call_opens_another(
    server: FakeOpenAIServer, service: Any
) -> None:
    llm = service()
    await llm.acall_llm(messages=MESSAGES)
    session = await llm.sessions.get()
    await llm.aclose()
    assert session.closed
    assert await llm.acall_llm(messages=MESSAGES) == "four"
    assert len({r.peer for r in server.requests}) == 2


def test_a_loop_s_pool_is_closed_when_asyncio_run_ends(
    server: FakeOpenAIServer, service: Any
) -> None:
    llm = service()
    sessions = []

    async def call() -> str:
        reply = await llm.acall_llm(messages=MESSAGES)
        sessions.append(await llm.sessions.get())
        return reply

    assert asyncio.run(call()) == "four"
    assert asyncio.run(call()) == "four"
    assert len(sessions) == 2
    assert all(s.closed for s in sessions)
    assert len(llm.sessions) == 0  # nothing kept for loops that are gone


# --------------------------------------------------------------------------- the application


def test_a_workflow_runs_through_the_openai_http_backend(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    flow = tmp_path / "flow.csv"
    flow.write_text(
        "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context\n"
        'G,Ask,llm,question,answer,Answer: {question},"{""max_tokens"": 5}"\n',
        encoding="utf-8",
    )
    server.script([Reply("four", prompt_tokens=10, completion_tokens=1)])
    llm = {"backend": "openai_http", "api_base": server.base_url, "api_key": SECRET}
    with create_application("test", llm=llm) as app:
        result = app.run(flow, {"question": "two plus two?"})
        backend = app.container.services.llm()
    assert isinstance(backend, OpenAIHTTPService)
    backend.close()
    assert result.success, result.error
    assert result.state["answer"] == "four"
    (call,) = result.llm_calls
    assert (call.node, call.model, call.provider) == ("Ask", "gpt-4o-mini", "openai")
    assert (call.prompt_tokens, call.completion_tokens) == (10, 1)
    assert result.cost == pytest.approx(10 * 0.15e-6 + 1 * 0.6e-6)
    (request,) = server.requests
    assert request.api_key == SECRET
    assert request.body["max_tokens"] == 5
    assert request.prompt == "Answer: two plus two?"


def test_a_run_with_the_openai_http_backend_never_imports_litellm(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from agentmap.testing import FakeOpenAIServer\n"
        "from containers import create_application\n"
        "flow = Path(sys.argv[1])\n"
        "flow.write_text('GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt\\n'\n"
        "                'G,Ask,llm,q,a,Say {q}\\n')\n"
        "with FakeOpenAIServer(reply='ok') as server:\n"
        "    llm = {'backend': 'openai_http', 'api_base': server.base_url, 'api_key': 'k'}\n"
        "    with create_application('test', llm=llm) as app:\n"
        "        r = app.run(flow, {'q': 'hi'})\n"
        "assert r.state['a'] == 'ok', r\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'openai', 'httpx'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "flow.csv")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert out.stdout.strip() == "[]"
    assert "Unclosed" not in out.stderr
