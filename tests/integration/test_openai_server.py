"""FakeOpenAIServer over real sockets: httpx for the wire format, litellm for the real client.

The server is the ground other integration tests stand on (retries, fallbacks,
batch runs over HTTP), so its own behaviour is pinned here: the response
shape, every scripted outcome, concurrency, keep-alive and a clean shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from agentmap.testing import (
    BadRequest,
    Disconnect,
    ErrorReply,
    FakeOpenAIServer,
    MalformedJSON,
    RateLimited,
    Reply,
    ServerError,
    Timeout,
)

# litellm must not fetch its model cost map from the network when it is imported.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fake-llm-server"


def chat(
    model: str = "gpt-4o-mini", text: str = "hello there world", **extra: Any
) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        yield http


# -- the success response -------------------------------------------------------------------


def test_success_has_the_openai_shape_and_word_count_usage(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello there world"}]},
        ],
    }
    response = client.post("/chat/completions", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-4o-mini"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "echo: hello there world"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    # prompt: "be brief" + "hello there world" = 5 words; reply: 4 words
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_path_without_v1_prefix_and_models_list(server: FakeOpenAIServer) -> None:
    root = server.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root) as http:
        assert http.post("/chat/completions", json=chat()).json()["model"] == "gpt-4o-mini"
        models = http.get("/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["gpt-4o-mini"]


def test_fixed_reply_function_and_per_model_replies() -> None:
    def shout(body: dict[str, Any]) -> str:
        return str(body["messages"][-1]["content"]).upper()

    with (
        FakeOpenAIServer("fixed", replies={"loud": shout, "quiet": "shh"}) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        replies = [
            http.post("/chat/completions", json=chat(model, "hi you")).json()
            for model in ("gpt-4o-mini", "loud", "quiet")
        ]
        listed = [m["id"] for m in http.get("/models").json()["data"]]
    assert [r["choices"][0]["message"]["content"] for r in replies] == ["fixed", "HI YOU", "shh"]
    assert [r["model"] for r in replies] == ["gpt-4o-mini", "loud", "quiet"]
    assert listed == ["gpt-4o-mini", "loud", "quiet"]


def test_token_counts_can_be_fixed_per_server_and_per_reply() -> None:
    with (
        FakeOpenAIServer(prompt_tokens=100, completion_tokens=7) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        server.script([Reply("scripted text", prompt_tokens=3), Reply(completion_tokens=1)])
        usages = [http.post("/chat/completions", json=chat()).json()["usage"] for _ in range(3)]
    assert usages == [
        {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
        {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101},
        {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107},
    ]


def test_a_reply_function_may_answer_with_an_outcome() -> None:
    def picky(body: dict[str, Any]) -> RateLimited | Reply:
        text = body["messages"][-1]["content"]
        return RateLimited(retry_after=1) if "busy" in text else Reply(text, completion_tokens=9)

    with FakeOpenAIServer(picky) as server, httpx.Client(base_url=server.base_url) as http:
        busy = http.post("/chat/completions", json=chat(text="are you busy"))
        fine = http.post("/chat/completions", json=chat(text="fine"))
    assert (busy.status_code, busy.headers["retry-after"]) == (429, "1")
    assert fine.json()["choices"][0]["message"]["content"] == "fine"
    assert fine.json()["usage"]["completion_tokens"] == 9


def test_a_failing_reply_function_is_a_500_that_names_it() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("missing")

    with FakeOpenAIServer(broken) as server, httpx.Client(base_url=server.base_url) as http:
        response = http.post("/chat/completions", json=chat())
    assert response.status_code == 500
    assert "KeyError('missing')" in response.json()["error"]["message"]


# -- scripted outcomes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status", "error_type", "code"),
    [
        (RateLimited(), 429, "rate_limit_error", "rate_limit_exceeded"),
        ("429", 429, "rate_limit_error", "rate_limit_exceeded"),
        (ServerError(), 500, "server_error", None),
        (503, 503, "server_error", None),
        (BadRequest(), 400, "invalid_request_error", None),
        (BadRequest("context too long", code="context_length_exceeded"), 400,
         "invalid_request_error", "context_length_exceeded"),
        (ErrorReply(401), 401, "invalid_request_error", "invalid_api_key"),
        ("404", 404, "invalid_request_error", "model_not_found"),
    ],
)  # fmt: skip
def test_scripted_errors_have_status_and_openai_error_body(
    server: FakeOpenAIServer,
    client: httpx.Client,
    outcome: Any,
    status: int,
    error_type: str,
    code: str | None,
) -> None:
    server.script([outcome])
    failed = client.post("/chat/completions", json=chat())
    then = client.post("/chat/completions", json=chat())

    assert failed.status_code == status
    error = failed.json()["error"]
    assert error["type"] == error_type
    assert error["code"] == code
    assert error["message"]
    assert then.status_code == 200  # the script is used up: back to success
    assert [r.status for r in server.requests] == [status, 200]


def test_rate_limit_sends_retry_after(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.script([RateLimited(retry_after=0.1), RateLimited(retry_after=2), RateLimited()])
    headers = [client.post("/chat/completions", json=chat()).headers for _ in range(3)]
    assert (headers[0]["retry-after"], headers[0]["retry-after-ms"]) == ("0.1", "100")
    assert (headers[1]["retry-after"], headers[1]["retry-after-ms"]) == ("2", "2000")
    assert "retry-after" not in headers[2]


def test_malformed_json_is_a_200_that_does_not_parse(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.script(["malformed", MalformedJSON("<html>oops</html>")])
    first, second = (client.post("/chat/completions", json=chat()) for _ in range(2))
    assert first.status_code == second.status_code == 200
    with pytest.raises(ValueError, match="Expecting"):
        first.json()
    assert second.text == "<html>oops</html>"


def test_timeout_outlasts_the_client_then_the_server_answers_again(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.script([Timeout(5)])
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        client.post("/chat/completions", json=chat(), timeout=0.2)
    assert time.perf_counter() - started < 2
    assert client.post("/chat/completions", json=chat()).status_code == 200


def test_disconnect_closes_the_connection_without_a_reply(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.script(["disconnect", Disconnect()])
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.post("/chat/completions", json=chat())
    assert client.post("/chat/completions", json=chat()).status_code == 200
    assert [r.status for r in server.requests] == [0, 0, 200]  # 0: no reply at all


def test_script_items_are_checked_when_scripted(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="unknown script item 'okay'"):
        server.script(["ok", "okay"])
    with pytest.raises(ValueError, match="not an HTTP error status"):
        server.script([200])
    with pytest.raises(ValueError, match="5xx"):
        ServerError(418)
    assert server.requests == []


def test_per_model_scripts_come_before_the_global_script(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.script(["500", "500"], model="gpt-4o-mini").script(["429"])

    def status(model: str) -> int:
        return client.post("/chat/completions", json=chat(model)).status_code

    # the primary fails twice while the fallback model is untouched by its script
    assert [status("gpt-4o-mini"), status("gpt-4o"), status("gpt-4o-mini")] == [500, 429, 500]
    assert [status("gpt-4o-mini"), status("gpt-4o")] == [200, 200]


def test_requests_the_server_refuses(server: FakeOpenAIServer, client: httpx.Client) -> None:
    cases = [
        client.post("/chat/completions", json=chat(stream=True)),
        client.post("/chat/completions", content=b"{not json"),
        client.post("/chat/completions", json={"messages": []}),
        client.post("/chat/completions", json={"model": "m"}),
        client.get("/chat/completions"),
        client.post("/embeddings", json={}),
    ]
    assert [r.status_code for r in cases] == [400, 400, 400, 400, 405, 404]
    assert "stream" in cases[0].json()["error"]["message"]
    assert cases[5].json()["error"]["code"] == "unknown_url"
    # none of them used up the script
    server.script(["429"])
    assert client.post("/chat/completions", json=chat()).status_code == 429


def test_chunked_request_bodies_are_refused_and_the_connection_closed(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    response = client.post("/chat/completions", content=iter([b'{"model": "m"}']))
    assert response.status_code == 501
    assert response.headers["connection"] == "close"
    assert client.post("/chat/completions", json=chat()).status_code == 200


# -- recording --------------------------------------------------------------------------------


def test_every_request_is_recorded_with_its_authorization(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.script(["429"])
    before = time.time()
    client.post("/chat/completions", json=chat(), headers={"Authorization": "Bearer sk-test"})
    client.get("/models")

    chat_request, models_request = server.requests
    assert chat_request.method == "POST"
    assert chat_request.path == "/v1/chat/completions"
    assert chat_request.headers["authorization"] == "Bearer sk-test"
    assert chat_request.api_key == "sk-test"
    assert chat_request.body == chat()
    assert chat_request.model == "gpt-4o-mini"
    assert chat_request.prompt == "hello there world"
    assert chat_request.status == 429
    assert before <= chat_request.time <= time.time()
    assert (models_request.method, models_request.path, models_request.status) == (
        "GET",
        "/v1/models",
        200,
    )
    assert models_request.api_key is None
    assert server.last_request == models_request

    server.script(["500"])
    server.reset()
    assert server.requests == []
    assert client.post("/chat/completions", json=chat()).status_code == 200  # script gone too


# -- concurrency and connections ---------------------------------------------------------------


async def test_latency_overlaps_for_concurrent_requests() -> None:
    # Ten requests at 0.2 s each take ~0.2 s together; one at a time would take 2 s.
    # A check that latency does not serialise requests, not a performance budget.
    with FakeOpenAIServer(latency=0.2) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            started = time.perf_counter()
            responses = await asyncio.gather(
                *(http.post("/chat/completions", json=chat()) for _ in range(10))
            )
            elapsed = time.perf_counter() - started
    assert [r.status_code for r in responses] == [200] * 10
    assert 0.2 <= elapsed < 1.0


async def test_a_hundred_concurrent_connections() -> None:
    limits = httpx.Limits(max_connections=150)
    with FakeOpenAIServer(latency=0.3) as server:
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as http:
            started = time.perf_counter()
            responses = await asyncio.gather(
                *(http.post("/chat/completions", json=chat(text=f"n{i}")) for i in range(120))
            )
            elapsed = time.perf_counter() - started
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [
        f"echo: n{i}" for i in range(120)
    ]
    assert len({r.peer for r in server.requests}) == 120  # one connection each
    assert elapsed < 5.0  # serially: 36 s


def test_keep_alive_serves_several_requests_on_one_connection(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    for _ in range(3):
        assert client.post("/chat/completions", json=chat()).status_code == 200
    peers = {r.peer for r in server.requests}
    assert len(server.requests) == 3
    assert len(peers) == 1


def test_connection_close_is_honoured(server: FakeOpenAIServer, client: httpx.Client) -> None:
    first = client.post("/chat/completions", json=chat(), headers={"Connection": "close"})
    client.post("/chat/completions", json=chat())
    assert first.headers["connection"] == "close"
    assert len({r.peer for r in server.requests}) == 2


# -- lifecycle --------------------------------------------------------------------------------


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "FakeOpenAIServer"]


def test_close_stops_the_thread_and_leaks_nothing() -> None:
    threads_before = set(threading.enumerate())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        server = FakeOpenAIServer(latency=0.05).start()
        assert len(server_threads()) == 1
        idle = httpx.Client(base_url=server.base_url)
        idle.post("/chat/completions", json=chat())  # leaves a kept-alive connection open
        server.script([Timeout(30)])
        in_flight = threading.Thread(target=swallow_post, args=(server.base_url,))
        in_flight.start()
        wait_for(lambda: len(server.requests) == 2)

        started = time.perf_counter()
        server.close()
        server.close()  # idempotent
        assert time.perf_counter() - started < 2  # the 30 s sleep was cancelled, not awaited
        in_flight.join(5)
        idle.close()
        gc.collect()
    assert not in_flight.is_alive()
    assert server_threads() == []
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{server.base_url}/chat/completions", json=chat())


def swallow_post(base_url: str) -> None:
    """A request that the server will drop when it closes."""
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{base_url}/chat/completions", json=chat(), timeout=10)


def wait_for(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_server_cannot_be_used_before_start_or_restarted() -> None:
    server = FakeOpenAIServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    server.close()  # closing an unstarted server is harmless
    with server:
        pass
    with pytest.raises(RuntimeError, match="already started"), server:
        pass


def test_a_taken_port_fails_start_with_the_os_error(server: FakeOpenAIServer) -> None:
    with pytest.raises(OSError, match="address already in use"):
        FakeOpenAIServer(port=server.port).start()
    assert len(server_threads()) == 1  # only the fixture's


async def test_async_with_serves_on_the_running_loop() -> None:
    threads_before = set(threading.enumerate())
    async with (
        FakeOpenAIServer(latency=0.01) as server,
        httpx.AsyncClient(base_url=server.base_url) as http,
    ):
        assert set(threading.enumerate()) == threads_before  # no thread of its own
        server.script([Timeout(30)])
        stuck = asyncio.create_task(http.post("/chat/completions", json=chat()))
        done, _ = await asyncio.wait([stuck], timeout=0.2)
        assert not done
        assert len(server.requests) == 1
        with pytest.raises(RuntimeError, match="aclose"):
            server.close()
        await server.aclose()
        with pytest.raises(httpx.TransportError):
            await stuck
    assert asyncio.all_tasks() == {asyncio.current_task()}


# -- through litellm --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    module: ModuleType = pytest.importorskip("litellm")
    module.suppress_debug_info = True  # no "Give Feedback" banner on every error
    return module


def test_litellm_completion_over_http(litellm: ModuleType, server: FakeOpenAIServer) -> None:
    messages = [{"role": "user", "content": "summarise the quick brown fox"}]
    response = litellm.completion(
        model="openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-test", messages=messages
    )

    assert response.choices[0].message.content == "echo: summarise the quick brown fox"
    assert response.usage.prompt_tokens == 5
    assert response.usage.completion_tokens == 6
    assert response.usage.total_tokens == 11
    assert server.last_request is not None
    assert server.last_request.api_key == "sk-test"
    assert server.last_request.model == "gpt-4o-mini"


def test_litellm_maps_scripted_errors(litellm: ModuleType, server: FakeOpenAIServer) -> None:
    def call(**extra: Any) -> Any:
        return litellm.completion(
            model="openai/gpt-4o-mini",
            api_base=server.base_url,
            api_key="sk-test",
            messages=[{"role": "user", "content": "hi"}],
            **extra,
        )

    server.script(["429"])
    with pytest.raises(litellm.RateLimitError, match="Rate limit reached"):
        call(num_retries=0)
    server.script([BadRequest("prompt is too long")])
    with pytest.raises(litellm.BadRequestError, match="prompt is too long"):
        call(num_retries=0)
    assert [r.status for r in server.requests] == [429, 400]  # num_retries=0: no retry

    server.reset()
    server.script([RateLimited(retry_after=0.05)])  # litellm honours Retry-After
    assert call(num_retries=1).choices[0].message.content == "echo: hi"
    assert [r.status for r in server.requests] == [429, 200]


def test_litellm_router_falls_back_when_the_primary_model_fails(
    litellm: ModuleType, server: FakeOpenAIServer
) -> None:
    server.replies["gpt-4o"] = "from the backup"
    server.script(["500", "500", "500"], model="gpt-4o-mini")
    params = {"api_base": server.base_url, "api_key": "sk-test"}
    router = litellm.Router(
        model_list=[
            {"model_name": "primary", "litellm_params": {"model": "openai/gpt-4o-mini", **params}},
            {"model_name": "backup", "litellm_params": {"model": "openai/gpt-4o", **params}},
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )
    response = router.completion(model="primary", messages=[{"role": "user", "content": "hi"}])

    assert response.choices[0].message.content == "from the backup"
    assert [(r.model, r.status) for r in server.requests] == [
        ("gpt-4o-mini", 500),
        ("gpt-4o", 200),  # the fallback
    ]


async def test_litellm_acompletion_against_the_in_loop_server(litellm: ModuleType) -> None:
    async with FakeOpenAIServer(replies={"gpt-4o": "async reply"}, latency=0.1) as server:
        server.script(["500"], model="gpt-4o-mini")
        responses = await asyncio.gather(
            *(
                litellm.acompletion(
                    model=f"openai/{model}",
                    api_base=server.base_url,
                    api_key="sk-test",
                    messages=[{"role": "user", "content": "hi"}],
                    num_retries=0,
                )
                for model in ("gpt-4o", "gpt-4o", "gpt-4o")
            )
        )
        with pytest.raises(litellm.InternalServerError):
            await litellm.acompletion(
                model="openai/gpt-4o-mini",
                api_base=server.base_url,
                api_key="sk-test",
                messages=[{"role": "user", "content": "hi"}],
                num_retries=0,
            )
    assert [r.choices[0].message.content for r in responses] == ["async reply"] * 3


# -- the script -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_fake_llm_server_script_prints_its_url_and_stops_on_signal(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--latency", "0.01", "--reply", "hi there"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        response = httpx.post(f"{base_url}/chat/completions", json=chat(), timeout=5)
        assert response.json()["choices"][0]["message"]["content"] == "hi there"
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        out, err = process.communicate()
        assert out == ""  # the URL is the only line on stdout
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
