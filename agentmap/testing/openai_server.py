"""A local OpenAI-compatible HTTP server for tests, demos and benchmarks.

``FakeLLMService`` replaces the LLM *service*, so litellm's own client code —
the HTTP request, retries, ``Retry-After``, the mapping of a 429 to
``RateLimitError``, timeouts, fallbacks to another model — never runs in a
test that uses it. This server stands on the far side of a real socket
instead: a test points litellm at ``server.base_url`` and every one of those
paths runs as in production, with no network and no API key.

It is standard library only (asyncio streams and a minimal HTTP/1.1), so the
test kit pulls in no web framework. It speaks just enough HTTP for the clients
litellm uses: keep-alive, ``Content-Length`` bodies, many concurrent
connections. ``latency`` is an ``asyncio.sleep``, so concurrent requests
overlap as they would against a real provider.

Two ways to run it:

- ``with FakeOpenAIServer() as server:`` serves from a background thread with
  its own event loop: for sync tests and for sync clients (``litellm.completion``)
  in any test.
- ``async with FakeOpenAIServer() as server:`` serves on the running loop:
  for async clients only, since a blocking call on that loop would wait for a
  server that can no longer run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from contextlib import suppress
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, cast

from agentmap.testing._openai_script import (  # outcomes are re-exported: tests script them
    NO_REPLY,
    BadRequest,
    Disconnect,
    ErrorOutcome,
    ErrorReply,
    MalformedJSON,
    Outcome,
    RateLimited,
    RecordedRequest,
    Reply,
    ReplyFunction,
    Response,
    ServerError,
    Timeout,
    ToolCall,
    chat_request_problem,
    completion,
    echo_reply,
    json_response,
    parse_outcome,
    produce_reply,
)

__all__ = [
    "BadRequest",
    "Disconnect",
    "ErrorReply",
    "FakeOpenAIServer",
    "MalformedJSON",
    "Outcome",
    "RateLimited",
    "RecordedRequest",
    "Reply",
    "ReplyFunction",
    "ServerError",
    "Timeout",
    "ToolCall",
]

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_MODELS_PATHS = frozenset({"/v1/models", "/models"})


class _Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _BadHTTP(Exception):
    """The bytes on the connection are not a request we can answer; the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FakeOpenAIServer:
    """An OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 with scripted outcomes.

    A chat request is answered by, in order: the next item of the script for
    its model (``script(..., model=...)``), the next item of the global script,
    else a success. A success's text comes from ``replies[model]``, else
    ``reply`` (a string, or a function of the JSON body), else
    ``"echo: <last user message>"``. Every request is kept in ``requests``.
    """

    def __init__(
        self,
        reply: str | ReplyFunction | None = None,
        *,
        replies: Mapping[str, str | ReplyFunction] | None = None,
        latency: float = 0.0,
        script: Iterable[Outcome | str | int] = (),
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        models: Iterable[str] = ("gpt-4o-mini",),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.replies: dict[str, str | ReplyFunction] = dict(replies or {})
        #: Seconds every chat request waits before its answer; may be changed while serving.
        self.latency = latency
        #: Fixed token counts for every reply, instead of word counts.
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.models = list(models)
        self.host = host
        self._requested_port = port
        # The test's thread and the server's loop both touch the scripts and records.
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Outcome]] = {}
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.script(script)

    # -- scripting and inspection (any thread) ---------------------------------------

    def script(
        self, outcomes: Iterable[Outcome | str | int], *, model: str | None = None
    ) -> FakeOpenAIServer:
        """Queue outcomes for the next chat requests (of ``model`` only, when given).

        Items are outcome objects or shorthands: ``"ok"``, ``429``, ``"500"``,
        ``"timeout"``, ``"malformed"``, ``"disconnect"``. They are checked here, so a typo fails
        at the line that wrote it. Once used up, requests succeed again.
        """
        parsed = [parse_outcome(item) for item in outcomes]
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(parsed)
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def reset(self) -> None:
        """Forget the recorded requests and every unused script item."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not started: use `with` or `async with`")
        return self._port

    @property
    def base_url(self) -> str:
        """What litellm calls ``api_base``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Serve from a background thread running its own event loop; returns once listening."""
        self._check_unstarted()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve_in_thread(ready)),
            name="FakeOpenAIServer",
            daemon=True,  # a test that forgets close() must not hang the interpreter's exit
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def close(self) -> None:
        """Stop serving, cancel requests in flight, and join the thread. Idempotent."""
        thread = self._thread
        if thread is None:
            if self._server is not None and not self._closing:
                raise RuntimeError("this server runs on an event loop: `await server.aclose()`")
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join()
        self._thread = None

    async def astart(self) -> FakeOpenAIServer:
        """Serve on the running event loop (async clients only: see the module docstring)."""
        self._check_unstarted()
        await self._listen()
        return self

    async def _listen(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._requested_port, backlog=1024
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening, cancel every connection's task and wait until all are closed."""
        server = self._server
        if server is None or self._closing:
            return
        self._closing = True
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.astart()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _check_unstarted(self) -> None:
        if self._server is not None or self._thread is not None:
            raise RuntimeError("this FakeOpenAIServer was already started; make a new one")

    async def _serve_in_thread(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            await self._listen()
            self._stop = asyncio.Event()
        except BaseException as exc:  # e.g. the port is taken: re-raised by start()
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await self.aclose()

    # -- HTTP -----------------------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task per connection, so aclose() can cancel exactly the ones still open.
        if self._closing:
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._serve_connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:  # one request after another: HTTP/1.1 keep-alive
                try:
                    request = await _read_request(reader, writer)
                except _BadHTTP as bad:
                    error = ErrorReply(bad.status, str(bad), "invalid_request_error")
                    await _send(writer, error.response(), keep_alive=False)
                    return
                if request is None:  # the client closed an idle connection
                    return
                response = await self._dispatch(request, (str(peer[0]), int(peer[1])))
                if response.status == NO_REPLY:  # Disconnect: close without a word
                    return
                keep_alive = request.keep_alive and not self._closing
                await _send(writer, response, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away, e.g. it timed out while we slept
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _dispatch(self, request: _Request, peer: tuple[str, int]) -> Response:
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:  # also UnicodeDecodeError
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        delay = 0.0
        known = request.path in _CHAT_PATHS or request.path in _MODELS_PATHS
        if request.path in _CHAT_PATHS and request.method == "POST":
            problem = chat_request_problem(body, model)
            if problem is None:
                response, delay = self._answer(cast(dict[str, Any], body), str(model))
            else:
                response = problem.response()
        elif request.path in _MODELS_PATHS and request.method == "GET":
            ids = sorted({*self.models, *self.replies})
            data = [{"id": i, "object": "model", "created": 0, "owned_by": "fake"} for i in ids]
            response = json_response(200, {"object": "list", "data": data})
        elif known:
            error = f"Method {request.method} is not allowed on {request.path}."
            response = ErrorReply(405, error).response()
        else:
            error = f"Unknown request URL: {request.method} {request.path}."
            response = ErrorReply(404, error, code="unknown_url").response()
        record = RecordedRequest(
            request.method, request.path, request.headers, body, model, response.status,
            time.time(), peer,
        )  # fmt: skip
        with self._lock:
            self._requests.append(record)
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    def _answer(self, body: dict[str, Any], model: str) -> tuple[Response, float]:
        with self._lock:
            queue = self._scripts.get(model) or self._scripts.get(None)
            outcome: Outcome = queue.popleft() if queue else Reply()
        delay = self.latency
        if isinstance(outcome, Timeout):
            delay, outcome = delay + outcome.seconds, Reply()
        if isinstance(outcome, Reply) and outcome.text is None and not outcome.tool_calls:
            outcome = produce_reply(self.replies.get(model, self.reply), body, outcome)
        if isinstance(outcome, Timeout):  # returned by a reply function
            delay, outcome = delay + outcome.seconds, Reply(echo_reply(body))
        if isinstance(outcome, Reply):
            with self._lock:
                number = next(self._ids)
            tokens = (self.prompt_tokens, self.completion_tokens)
            return json_response(200, completion(body, model, outcome, number, *tokens)), delay
        assert isinstance(outcome, ErrorOutcome | MalformedJSON | Disconnect)
        return outcome.response(), delay


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Request | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadHTTP(400, "The connection closed in the middle of a request.") from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadHTTP(431, "The request head is too large.") from None
    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadHTTP(400, f"Malformed request line {request_line!r}.")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _BadHTTP(400, f"Malformed header line {line!r}.")
        key, value = name.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadHTTP(501, "Chunked request bodies are not supported: send Content-Length.")
    length = headers.get("content-length", "0")
    if not length.isdigit():
        raise _BadHTTP(400, f"Invalid Content-Length {length!r}.")
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(int(length)) if int(length) else b""
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return _Request(method, target.partition("?")[0], headers, body, keep_alive)


async def _send(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"content-length: {len(response.body)}",
        f"connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + response.body)
    await writer.drain()
