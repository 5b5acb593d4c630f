"""One error contract over real HTTP: every backend maps its client's failures to the same classes.

Each case scripts FakeOpenAIServer on 127.0.0.1 and calls the litellm backend
and the openai_http backend: the class, status, message, ``__cause__`` and the
number of requests the server saw are asserted for both. ``llm.retries`` is 1
(litellm's Router waits up to a second between retries, so more would only
slow the suite down): a retryable failure is sent twice, the others once.
Last, a workflow's node retries, with the fake backend scripting the errors:
only the classes that say ``retryable`` are repeated.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import aiohttp
import litellm

from agentmap.services.llm.errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
)
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.llm.litellm import LiteLLMService
from agentmap.services.llm.openai_http import OpenAIHTTPService
from agentmap.settings import LLMSettings
from agentmap.testing import (
    BadRequest,
    Disconnect,
    ErrorReply,
    FakeOpenAIServer,
    MalformedJSON,
    RateLimited,
    ServerError,
    Timeout,
)
from agentmap.testing.openai_server import Outcome
from containers import create_application

SECRET = "sk-test-secret-value"
QUESTION = "my private question about the merger"
MESSAGES = [{"role": "user", "content": QUESTION}]
BACKENDS = ("litellm", "openai_http")


@dataclass(frozen=True)
class Case:
    outcome: Outcome
    error: type[LLMError]
    #: The status the error carries, per backend (None: no HTTP reply).
    status: dict[str, int | None]
    #: Text the error's message holds (the provider's own words), per backend if they differ.
    says: str | dict[str, str]
    #: The client's exception kept as ``__cause__``, per backend.
    cause: dict[str, type[BaseException]]
    #: Requests the server saw with ``llm.retries: 1``, per backend.
    requests: dict[str, int]


def both(value: Any) -> dict[str, Any]:
    return dict.fromkeys(BACKENDS, value)


CASES = {
    "429 with Retry-After": Case(
        RateLimited(retry_after=0.25, message="Rate limit reached: slow down."),
        LLMRateLimitError,
        both(429),
        "Rate limit reached: slow down.",
        {"litellm": litellm.RateLimitError, "openai_http": aiohttp.ClientResponseError},
        both(2),
    ),
    "500": Case(
        ServerError(500, message="The engine is overloaded."),
        LLMProviderError,
        both(500),
        "The engine is overloaded.",
        {"litellm": litellm.InternalServerError, "openai_http": aiohttp.ClientResponseError},
        both(2),
    ),
    "401": Case(
        ErrorReply(401, message=f"Incorrect API key provided: {SECRET}."),
        LLMAuthenticationError,
        both(401),
        "Incorrect API key provided: ***.",
        {"litellm": litellm.AuthenticationError, "openai_http": aiohttp.ClientResponseError},
        both(1),
    ),
    "400": Case(
        BadRequest(f"Invalid 'messages[0].content': {QUESTION!r} is not allowed."),
        LLMBadRequestError,
        both(400),
        "Invalid 'messages[0].content': '***' is not allowed.",
        {"litellm": litellm.BadRequestError, "openai_http": aiohttp.ClientResponseError},
        both(1),
    ),
    "timeout": Case(
        Timeout(5),
        LLMTimeoutError,
        both(None),
        {"litellm": "Request timed out", "openai_http": "no reply within 0.5 s (llm.timeout)"},
        {"litellm": litellm.Timeout, "openai_http": TimeoutError},
        both(2),
    ),
    "closed connection": Case(
        Disconnect(),
        LLMConnectionError,
        both(None),
        "onnect",  # litellm: "Connection error."; aiohttp: "Server disconnected"
        {"litellm": litellm.InternalServerError, "openai_http": aiohttp.ServerDisconnectedError},
        both(2),
    ),
    "garbage body": Case(
        MalformedJSON(),
        LLMProviderError,
        # litellm reports a body it cannot parse as its own 500, and retries it;
        # openai_http keeps the 200 and does not repeat a request that was answered.
        {"litellm": 500, "openai_http": 200},
        "",
        {"litellm": litellm.InternalServerError, "openai_http": json.JSONDecodeError},
        {"litellm": 2, "openai_http": 1},
    ),
}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply="four") as running:
        yield running


def build(backend: str, server: FakeOpenAIServer) -> Any:
    settings = LLMSettings(api_base=server.base_url, api_key=SECRET, timeout=0.5, retries=1)
    if backend == "litellm":
        return LiteLLMService(settings)
    return OpenAIHTTPService(settings, backoff_base=0.001, backoff_max=0.005)


def call(llm: Any, mode: str) -> str:
    if mode == "sync":
        return str(llm.call_llm(messages=MESSAGES))
    return str(asyncio.run(llm.acall_llm(messages=MESSAGES)))


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CASES))
def test_a_failure_maps_to_one_error_class(
    server: FakeOpenAIServer, backend: str, name: str, mode: str
) -> None:
    case = CASES[name]
    server.script([case.outcome] * 3)
    llm = build(backend, server)
    try:
        with pytest.raises(case.error) as caught:
            call(llm, mode)
    finally:
        if isinstance(llm, OpenAIHTTPService):
            llm.close()
    error = caught.value
    assert type(error) is case.error
    assert isinstance(error, LLMError)
    assert error.model == "gpt-4o-mini"
    assert error.status == case.status[backend]
    says = case.says if isinstance(case.says, str) else case.says[backend]
    assert says in error.message
    assert error.message in str(error)
    assert isinstance(error.__cause__, case.cause[backend])
    assert len(server.requests) == case.requests[backend]
    if case.error is LLMRateLimitError:
        assert error.retry_after == pytest.approx(0.25)
    # Neither the key nor the question shows, in the error or in its whole traceback.
    shown = "".join(traceback.format_exception(error)) + repr(error)
    assert SECRET not in shown
    assert QUESTION not in shown


def test_retryable_is_a_class_attribute_of_every_class() -> None:
    expected = {
        LLMRateLimitError: True,
        LLMTimeoutError: True,
        LLMConnectionError: True,
        LLMProviderError: True,
        LLMAuthenticationError: False,
        LLMBadRequestError: False,
    }
    for cls, retryable in expected.items():
        assert "retryable" in vars(cls), cls
        assert cls.retryable is retryable
        assert issubclass(cls, LLMError)
    assert LLMError.retryable is False


@pytest.mark.parametrize(
    "error",
    [
        LLMRateLimitError("gpt-4o", "slow down", retry_after=2.0),
        LLMTimeoutError("gpt-4o", "no reply within 5 s"),
        LLMConnectionError("gpt-4o", "connection refused"),
        LLMAuthenticationError("gpt-4o", "bad key", status=401),
        LLMBadRequestError("gpt-4o", "context too long", status=400),
        LLMProviderError("gpt-4o", "overloaded", status=503),
    ],
)
def test_every_error_survives_pickling(error: LLMError) -> None:
    try:
        raise error from ValueError("the client's exception")
    except LLMError as raised:
        copy = pickle.loads(pickle.dumps(raised))
    assert type(copy) is type(error)
    assert (copy.model, copy.message, copy.status, copy.retry_after) == (
        error.model,
        error.message,
        error.status,
        error.retry_after,
    )
    assert copy.retryable is type(error).retryable
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    ("failure", "calls", "success"),
    [
        (LLMRateLimitError("gpt-4o-mini", "slow down", retry_after=0.01), 2, True),
        (LLMProviderError("gpt-4o-mini", "overloaded", status=503), 2, True),
        (LLMAuthenticationError("gpt-4o-mini", "bad key", status=401), 1, False),
        (LLMBadRequestError("gpt-4o-mini", "context too long", status=400), 1, False),
    ],
)
def test_node_retries_repeat_only_what_can_succeed(
    tmp_path: Path, failure: LLMError, calls: int, success: bool
) -> None:
    flow = tmp_path / "flow.csv"
    flow.write_text(
        "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context\n"
        'G,Ask,llm,question,answer,Answer: {question},"{""retries"": 2}"\n',
        encoding="utf-8",
    )
    fake = FakeLLMService([failure], default="four")
    with create_application("test") as app, app.use(llm=fake):
        result = app.run(flow, {"question": "two plus two?"})
    assert len(fake.calls) == calls
    assert result.success is success
    if success:
        assert result.state["answer"] == "four"
    else:
        assert result.state["errors"][0]["type"] == type(failure).__name__
