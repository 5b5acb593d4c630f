"""agentmap.client without a server: what it sends, how it reads answers and SSE.

The client against a real `agentmap serve` is tests/integration/test_client.py;
here httpx.MockTransport records each request so the wire format (paths, bodies,
headers, timeouts) and the error mapping are pinned exactly, including answers a
well-behaved server never gives (a proxy's HTML page, a stream cut mid-message).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmap.client import (
    AgentMapAPIError,
    AgentMapClient,
    AgentMapConnectionError,
    AgentMapTimeoutError,
    AsyncAgentMapClient,
    Event,
)
from agentmap.client.sse import SSEDecoder

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and keeps the requests."""

    def __init__(self, answer: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.answer = answer or (lambda request: httpx.Response(200, json={"ok": True}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(request.read())
        return self.answer(request)


def client_for(recorder: Recorder, **kwargs: Any) -> AgentMapClient:
    return AgentMapClient("http://server:9", transport=httpx.MockTransport(recorder), **kwargs)


def problem(status: int, slug: str, detail: str, **extra: Any) -> httpx.Response:
    body = {
        "type": f"urn:agentmap:problem:{slug}",
        "title": slug.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
        **extra,
    }
    return httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json", "retry-after": "3"}
    )


# -- requests ------------------------------------------------------------------------------


def test_run_posts_the_spec_body_with_the_key_and_no_read_timeout() -> None:
    recorder = Recorder()
    with client_for(recorder, api_key="k-123", timeout=5) as client:
        assert client.run("Echo", {"x": 1}) == {"ok": True}
        client.run("Echo", wait=True, timeout=2.5, run_id="r-1")
        client.run("Echo", wait=False)

    first, second, third = recorder.requests
    assert (first.method, first.url.path) == ("POST", "/v1/runs")
    assert first.headers["authorization"] == "Bearer k-123"
    assert json.loads(recorder.bodies[0]) == {"graph": "Echo", "state": {"x": 1}, "wait": True}
    assert first.extensions["timeout"]["read"] is None  # the run takes what it takes
    assert json.loads(recorder.bodies[1]) == {
        "graph": "Echo",
        "state": {},
        "wait": True,
        "timeout": 2.5,
        "run_id": "r-1",
    }
    assert second.extensions["timeout"]["read"] == 7.5  # the server's wait + the client's own
    assert third.extensions["timeout"]["read"] == 5


def test_paths_and_queries_of_the_other_calls() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, json={"graphs": [{"name": "G"}]}))
    with client_for(recorder) as client:
        client.health()
        client.ready()
        assert client.graphs() == [{"name": "G"}]
        client.graph("My Graph")
        client.get_run("parent/Node/1")
        client.list_runs(status="failed", limit=10)
        client.resume("r1", {"answer": "yes"}, force=True)
        client.cancel("r1")
        client.get_batch("b1")

    seen = [(r.method, r.url.raw_path.decode()) for r in recorder.requests]
    assert seen == [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/v1/graphs"),
        ("GET", "/v1/graphs/My%20Graph"),
        ("GET", "/v1/runs/parent%2FNode%2F1"),
        ("GET", "/v1/runs?limit=10&offset=0&status=failed"),
        ("POST", "/v1/runs/r1/resume"),
        ("POST", "/v1/runs/r1/cancel"),
        ("GET", "/v1/batches/b1"),
    ]
    assert json.loads(recorder.bodies[6]) == {
        "values": {"answer": "yes"},
        "wait": True,
        "force": True,
    }


def test_submit_batch_sends_rows_or_a_file_as_jsonl(tmp_path: Path) -> None:
    recorder = Recorder(lambda request: httpx.Response(202, json={"batch_id": "b1"}))
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    with client_for(recorder) as client:
        assert client.submit_batch("G", [{"id": 1}, {"id": "é"}], id_field="id") == {
            "batch_id": "b1"
        }
        client.submit_batch("G", path, concurrency=4)
        client.submit_batch("G", str(path))

    rows, upload, by_name = recorder.requests
    assert by_name.url.params["graph"] == "G"
    assert rows.url.params == httpx.QueryParams({"graph": "G", "id_field": "id"})
    assert rows.headers["content-type"] == "application/x-ndjson"
    assert recorder.bodies[0].decode().splitlines() == ['{"id":1}', '{"id":"é"}']
    assert upload.url.params["concurrency"] == "4"
    assert upload.headers["content-length"] == str(path.stat().st_size)
    assert recorder.bodies[1] == recorder.bodies[2] == path.read_bytes()


def test_a_batch_row_that_is_not_a_mapping_is_named() -> None:
    with (
        client_for(Recorder()) as client,
        pytest.raises(TypeError, match="batch row 2 is a list"),
    ):
        client.submit_batch("G", [{"a": 1}, [1, 2]])  # type: ignore[list-item]


# -- errors --------------------------------------------------------------------------------


def test_a_problem_answer_raises_with_its_fields() -> None:
    errors = [{"field": "state.topic", "message": "required"}]
    recorder = Recorder(lambda r: problem(422, "missing-inputs", "needs topic", errors=errors))
    with client_for(recorder) as client, pytest.raises(AgentMapAPIError) as caught:
        client.run("G")

    error = caught.value
    assert (error.status, error.slug, error.detail) == (422, "missing-inputs", "needs topic")
    assert error.title == "Missing inputs"
    assert error.errors == errors
    assert error.problem["type"] == "urn:agentmap:problem:missing-inputs"
    assert error.retry_after == 3.0
    assert "POST http://server:9/v1/runs" in str(error)
    assert "state.topic: required" in str(error)


def test_a_foreign_error_body_becomes_a_problem() -> None:
    page = httpx.Response(
        502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}
    )
    with client_for(Recorder(lambda r: page)) as client, pytest.raises(AgentMapAPIError) as caught:
        client.health()
    assert caught.value.status == 502
    assert caught.value.title == "Bad Gateway"
    assert caught.value.detail == "<html>Bad gateway</html>"
    assert caught.value.slug is None


def test_a_success_body_that_is_not_an_object_is_an_error() -> None:
    with (
        client_for(Recorder(lambda r: httpx.Response(200, text="[1]"))) as client,
        pytest.raises(AgentMapAPIError, match="not a JSON object"),
    ):
        client.health()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_is_a_connection_error() -> None:
    with (
        AgentMapClient(f"http://127.0.0.1:{closed_port()}", timeout=2) as client,
        pytest.raises(AgentMapConnectionError, match=r"GET http://127\.0\.0\.1:\d+/healthz failed"),
    ):
        client.health()


def test_a_timeout_is_a_timeout_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with client_for(Recorder(slow)) as client, pytest.raises(AgentMapTimeoutError):
        client.health()


# -- event streams -------------------------------------------------------------------------

STREAM = (
    ": ping\r\n"
    'id: 1\r\nevent: run_started\r\ndata: {"run_id": "r"}\r\n\r\n'
    'id: 2\nevent: node_started\ndata: {"node": "A",\ndata:  "step": 1}\n\n'
    "retry: 100\nid: 3\ndata: plain text\n\n"
    'id: 4\nevent: run_finished\ndata: {"status": "completed"}\n\n'
    'id: 5\nevent: cut\ndata: {"half'
)
EXPECTED = [
    Event("1", "run_started", {"run_id": "r"}),
    Event("2", "node_started", {"node": "A", "step": 1}),
    Event("3", "message", "plain text"),
    Event("4", "run_finished", {"status": "completed"}),
]


def sse_answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/results"):
        return httpx.Response(200, text='{"id": 1}\n\n{"id": 2}\n')
    return httpx.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})


def test_sse_decoder_follows_the_event_stream_rules() -> None:
    decoder = SSEDecoder()
    events = [e for line in STREAM.replace("\r\n", "\n").split("\n") if (e := decoder.feed(line))]
    assert events == EXPECTED  # the message cut off at the end is dropped
    assert decoder.last_event_id == "5"
    assert events[1].seq == 2


def test_events_stream_with_last_event_id() -> None:
    recorder = Recorder(sse_answer)
    with client_for(recorder) as client:
        assert list(client.events("r/A/1", last_event_id=7)) == EXPECTED
        assert list(client.batch_results("b1")) == [{"id": 1}, {"id": 2}]
    request = recorder.requests[0]
    assert request.url.raw_path == b"/v1/runs/r%2FA%2F1/events"
    assert request.headers["last-event-id"] == "7"
    assert request.headers["accept"] == "text/event-stream"
    assert request.extensions["timeout"]["read"] is None


def test_an_error_on_a_stream_raises_when_iterated() -> None:
    recorder = Recorder(lambda r: problem(404, "run-not-found", "no run 'x'"))
    with client_for(recorder) as client:
        stream = client.events("x")
        with pytest.raises(AgentMapAPIError) as caught:
            next(iter(stream))
    assert caught.value.status == 404


# -- async ---------------------------------------------------------------------------------


async def test_async_client_mirrors_the_sync_one(tmp_path: Path) -> None:
    recorder = Recorder(sse_answer)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"id": 1}\n' * 50_000)  # several upload chunks
    transport = httpx.MockTransport(recorder)
    async with AsyncAgentMapClient("http://server:9", "key", transport=transport) as client:
        assert [e async for e in client.events("r", last_event_id="2")] == EXPECTED
        assert [row async for row in client.batch_results("b1")] == [{"id": 1}, {"id": 2}]
        recorder.answer = lambda request: httpx.Response(200, json={"run_id": "r"})
        assert await client.run("G", {"x": 1}, timeout=1) == {"run_id": "r"}
        await client.submit_batch("G", path)
        recorder.answer = lambda request: problem(404, "unknown-graph", "no graph 'Nope'")
        with pytest.raises(AgentMapAPIError) as caught:
            await client.graph("Nope")

    assert caught.value.status == 404
    assert recorder.requests[2].extensions["timeout"]["read"] == 31.0
    assert recorder.requests[2].headers["authorization"] == "Bearer key"
    assert recorder.bodies[3] == path.read_bytes()
    assert recorder.requests[3].headers["content-length"] == str(path.stat().st_size)


def test_without_httpx_the_import_error_names_the_extra() -> None:
    code = "import sys; sys.modules['httpx'] = None; import agentmap.client"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "ImportError: agentmap.client needs httpx: pip install 'agentmap[client]'" in proc.stderr
