"""What FakeOpenAIServer answers: scripted outcomes, request records, token counts.

Kept apart from the HTTP code in ``openai_server.py`` so each file reads on its
own: this one is the vocabulary a test speaks (``RateLimited(retry_after=0.1)``,
``Reply("hi")``), that one is sockets and event loops.

Error outcomes render OpenAI's error body, ``{"error": {"message", "type",
"param", "code"}}``, because litellm and the openai SDK choose their exception
class from the HTTP status and read the message from that body: a test of
error handling only means something if the error looks like the real one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON_HEADERS = {"content-type": "application/json"}


#: Called with the request's JSON body; returns the reply text or any outcome.
ReplyFunction = Callable[[dict[str, Any]], "str | Outcome"]


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


def json_response(status: int, payload: Any) -> Response:
    return Response(status, dict(JSON_HEADERS), json.dumps(payload).encode())


class Outcome:
    """Base of everything a script holds: what the server does with one chat request."""

    __slots__ = ()


@dataclass(frozen=True)
class ToolCall:
    """A tool call in a scripted reply: ``Reply(tool_calls=(ToolCall("add", {"a": 1}),))``.

    ``arguments`` is sent as JSON text (as OpenAI does); a string is sent as is,
    so a test can script malformed arguments. ``id`` defaults to ``call_<n>_<i>``.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def wire(self, number: int, index: int) -> dict[str, Any]:
        arguments = self.arguments
        text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
        call_id = self.id or f"call_{number}_{index}"
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": text},
        }


@dataclass(frozen=True)
class Reply(Outcome):
    """A successful completion; ``text=None`` (script shorthand ``"ok"``) is the server's normal reply.

    Token counts default to the server's deterministic word counts; set them to
    test cost and usage accounting with exact numbers.
    """

    text: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    #: Tools the model asks for; the reply's content is then ``text`` or null, and
    #: ``finish_reason`` is ``"tool_calls"``.
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Timeout(Outcome):
    """Sleep ``seconds`` (on top of the server's latency), then answer normally.

    The client's own timeout is what the test is about: it should give up
    first. Closing the server cancels the sleep, so a long value costs nothing.
    """

    seconds: float = 30.0


@dataclass(frozen=True)
class MalformedJSON(Outcome):
    """HTTP 200 whose body is not JSON: a proxy or a truncated response, seen by the client."""

    body: str = '{"id": "chatcmpl-truncated", "choices": ['

    def response(self) -> Response:
        return Response(200, dict(JSON_HEADERS), self.body.encode())


#: The status recorded for ``Disconnect``: the connection closed with no reply at all.
NO_REPLY = 0


@dataclass(frozen=True)
class Disconnect(Outcome):
    """Close the connection after reading the request, with no reply: a dropped connection.

    Clients see it as a connection error (aiohttp's ``ServerDisconnectedError``,
    litellm's ``APIConnectionError``); the request is recorded with status 0.
    """

    def response(self) -> Response:
        return Response(NO_REPLY, {}, b"")


class ErrorOutcome(Outcome):
    """An HTTP error with OpenAI's error body; subclasses say which one."""

    __slots__ = ()

    def response(self) -> Response:
        raise NotImplementedError


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    error = {"message": message, "type": type_, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@dataclass(frozen=True)
class RateLimited(ErrorOutcome):
    """HTTP 429 (litellm: ``RateLimitError``), with ``Retry-After`` when ``retry_after`` is set.

    Both ``retry-after`` (seconds) and ``retry-after-ms`` are sent: the openai
    SDK prefers the second, litellm's own retry logic reads the first.
    """

    retry_after: float | None = None
    message: str = "Rate limit reached for requests (scripted by FakeOpenAIServer)."

    def response(self) -> Response:
        headers = dict(JSON_HEADERS)
        if self.retry_after is not None:
            seconds = self.retry_after
            headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
            headers["retry-after-ms"] = str(round(seconds * 1000))
        return Response(
            429, headers, error_body(self.message, "rate_limit_error", "rate_limit_exceeded")
        )


@dataclass(frozen=True)
class ServerError(ErrorOutcome):
    """HTTP 5xx (litellm: ``InternalServerError``, ``ServiceUnavailableError``, ...)."""

    status: int = 500
    message: str = "The server had an error while processing your request (scripted)."

    def __post_init__(self) -> None:
        if not 500 <= self.status <= 599:
            raise ValueError(f"ServerError needs a 5xx status, got {self.status}")

    def response(self) -> Response:
        return Response(
            self.status, dict(JSON_HEADERS), error_body(self.message, "server_error", None)
        )


@dataclass(frozen=True)
class BadRequest(ErrorOutcome):
    """HTTP 400 ``invalid_request_error`` (litellm: ``BadRequestError``; never retried)."""

    message: str = "Invalid request (scripted by FakeOpenAIServer)."
    code: str | None = None
    param: str | None = None

    def response(self) -> Response:
        body = error_body(self.message, "invalid_request_error", self.code, self.param)
        return Response(400, dict(JSON_HEADERS), body)


# (type, code, message) OpenAI uses for the statuses a test is likely to want.
_STATUS_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
}


@dataclass(frozen=True)
class ErrorReply(ErrorOutcome):
    """Any other error status, e.g. ``ErrorReply(401)`` for litellm's ``AuthenticationError``."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None

    def response(self) -> Response:
        fallback = "server_error" if self.status >= 500 else "invalid_request_error"
        type_, code, message = _STATUS_DEFAULTS.get(self.status, (fallback, None, "Error."))
        body = error_body(self.message or message, self.type or type_, self.code or code)
        return Response(self.status, dict(JSON_HEADERS), body)


_NAMED: dict[str, Outcome] = {
    "ok": Reply(),
    "reply": Reply(),
    "timeout": Timeout(),
    "malformed": MalformedJSON(),
    "disconnect": Disconnect(),
}


def parse_outcome(item: Outcome | str | int) -> Outcome:
    """A script shorthand as an outcome: ``"ok"``, ``"timeout"``, ``"malformed"``, ``"disconnect"``, a status.

    A status (``429``, ``"500"``) maps to ``RateLimited``, ``BadRequest``,
    ``ServerError`` or ``ErrorReply``. Unknown text is an error rather than a
    reply text, so a typo like ``"okay"`` cannot pass as a scripted answer;
    write ``Reply("okay")`` for that.
    """
    if isinstance(item, Outcome):
        return item
    if isinstance(item, str) and item.strip().lower() in _NAMED:
        return _NAMED[item.strip().lower()]
    try:
        status = int(item)
    except ValueError:
        raise ValueError(
            f"unknown script item {item!r}: use 'ok', 'timeout', 'malformed', 'disconnect', an HTTP "
            "error status such as 429 or '500', or an outcome object such as Reply('text')"
        ) from None
    if status == 429:
        return RateLimited()
    if status == 400:
        return BadRequest()
    if 500 <= status <= 599:
        return ServerError(status)
    if 400 <= status <= 499:
        return ErrorReply(status)
    raise ValueError(f"script status {status} is not an HTTP error status (400-599)")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; ``headers`` have lower-case names."""

    method: str
    path: str
    headers: dict[str, str]
    #: The parsed JSON body, or None when there was none or it was not JSON.
    body: Any
    model: str | None
    #: The status answered; 0 when the server closed the connection instead (``Disconnect``).
    status: int
    #: ``time.time()`` when the request had been read.
    time: float
    #: The client's (host, port): equal for two requests sent over one kept-alive connection.
    peer: tuple[str, int]

    @property
    def api_key(self) -> str | None:
        """The bearer token of the ``Authorization`` header, e.g. ``"sk-test"``."""
        auth = self.headers.get("authorization")
        if auth is None:
            return None
        scheme, _, token = auth.partition(" ")
        return token if scheme.lower() == "bearer" else auth

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def prompt(self) -> str:
        """Text of the last user message (what the default reply echoes)."""
        return last_user_text(self.messages)


def message_text(message: Any) -> str:
    """A message's text: string content, or the ``text`` parts of a content list."""
    content = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message)
    return message_text(messages[-1]) if messages else ""


def count_words(text: str) -> int:
    """The fake's token count: whitespace-separated words, deterministic and easy to predict."""
    return len(text.split())


def first(*values: int | None) -> int:
    return next(value for value in values if value is not None)


def echo_reply(body: dict[str, Any]) -> str:
    """The default reply: deterministic, and shows which prompt the server received."""
    return f"echo: {last_user_text(body.get('messages') or [])}"


def chat_request_problem(body: Any, model: str | None) -> BadRequest | None:
    """What OpenAI would reject before the model runs; None for a request we can answer."""
    if not isinstance(body, dict):
        return BadRequest("We could not parse the JSON body of your request.")
    if model is None:
        return BadRequest("You must provide a model parameter.", param="model")
    if not isinstance(body.get("messages"), list):
        return BadRequest("'messages' is a required property.", param="messages")
    if body.get("stream"):
        return BadRequest("FakeOpenAIServer does not stream: call it without stream=True.")
    return None


def completion(
    body: dict[str, Any],
    model: str,
    reply: Reply,
    number: int,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> dict[str, Any]:
    """The ``chat.completion`` JSON; usage counts words unless the reply or server fixes them."""
    text = reply.text or ""
    words = sum(count_words(message_text(m)) for m in body["messages"])
    prompt = first(reply.prompt_tokens, prompt_tokens, words)
    completed = first(reply.completion_tokens, completion_tokens, count_words(text))
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = reply.finish_reason
    if reply.tool_calls:
        message["content"] = reply.text or None
        message["tool_calls"] = [call.wire(number, i) for i, call in enumerate(reply.tool_calls)]
        finish = "tool_calls" if finish == "stop" else finish
    return {
        "id": f"chatcmpl-fake{number:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completed,
            "total_tokens": prompt + completed,
        },
    }


def produce_reply(
    source: str | ReplyFunction | None, body: dict[str, Any], scripted: Reply
) -> Outcome:
    """The configured reply for a success; token counts the script set win over it."""
    produced: str | Outcome
    if source is None:
        produced = echo_reply(body)
    elif isinstance(source, str):
        produced = source
    else:
        try:
            produced = source(body)
        except Exception as exc:  # the test's bug, made visible as a 500 that names it
            return ServerError(500, f"FakeOpenAIServer's reply function raised {exc!r}")
    if isinstance(produced, str):
        produced = Reply(produced)
    if not isinstance(produced, Reply):
        return produced
    prompt, completed = scripted.prompt_tokens, scripted.completion_tokens
    return Reply(
        echo_reply(body) if produced.text is None and not produced.tool_calls else produced.text,
        produced.prompt_tokens if prompt is None else prompt,
        produced.completion_tokens if completed is None else completed,
        produced.finish_reason if scripted.finish_reason == "stop" else scripted.finish_reason,
        produced.tool_calls,
    )
