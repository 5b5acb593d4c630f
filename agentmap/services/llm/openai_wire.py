"""Reading OpenAI-compatible replies, errors and headers: the wire side of ``openai_http``.

Kept apart from the service so the parsing rules (what counts as a chat
completion, where a provider puts its error message, how long Retry-After
asks to wait, what error text must never contain) and the one table that maps
HTTP statuses and aiohttp's exceptions to ``agentmap.services.llm.errors``
are read and tested alone.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from agentmap.services.llm.errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
)
from agentmap.services.protocols import LLMToolCall

__all__ = [
    "BY_STATUS",
    "Reply",
    "env_proxy",
    "error_for_client",
    "error_for_status",
    "exception_chain",
    "message_texts",
    "parse_reply",
    "provider_message",
    "repeatable",
    "retry_after_seconds",
    "scrub",
    "scrub_chain",
    "secrets_of",
    "status_error",
]

#: How much of a provider's error message an exception carries.
_MESSAGE_MAX = 500
#: Things that look like API keys in a provider's message (OpenAI echoes a masked key).
_KEY_LIKE = re.compile(r"\b(?:sk|pk|gsk|rk)-[A-Za-z0-9*_.\-]{3,}")
#: Message texts shorter than this are not masked in error text (they would mangle it).
_MASK_MIN = 8


@dataclass(slots=True)
class Reply:
    text: str
    #: The model as configured (what the usage report names), not as sent.
    model: str
    #: The model the endpoint says answered (priced when ``model`` has no price).
    answered_by: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    has_usage: bool
    #: The tools the model asked for (``message.tool_calls``).
    tool_calls: tuple[LLMToolCall, ...] = ()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_reply(model: str, data: Any) -> Reply:
    """The text and usage of a chat completion; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the body has no 'choices'")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError("the first choice has no 'message'")
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        )
    calls = _tool_calls(message.get("tool_calls"))
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    answered_by = data.get("model")
    return Reply(
        text="" if content is None else str(content),
        model=model,
        answered_by=answered_by if isinstance(answered_by, str) else None,
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
        has_usage=bool(usage),
        tool_calls=calls,
    )


def _tool_calls(raw: Any) -> tuple[LLMToolCall, ...]:
    """``message.tool_calls`` of a chat completion; ValueError when they are malformed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("'tool_calls' is not a list")
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"tool call {index} has no function name")
        arguments = function.get("arguments")
        if isinstance(arguments, dict | list):  # some servers send an object, not its JSON
            arguments = json.dumps(arguments)
        call_id = item.get("id")
        calls.append(
            LLMToolCall(
                call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                function["name"],
                arguments if isinstance(arguments, str) and arguments else "{}",
            )
        )
    return tuple(calls)


def provider_message(body: bytes, reason: str | None) -> str:
    """The provider's explanation from an error body (OpenAI's, FastAPI's, or plain)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for value in (error, data.get("message"), data.get("detail")):
            if isinstance(value, str) and value:
                return value
    return reason or "no error message"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        with contextlib.suppress(ValueError):
            return max(0.0, float(millis) / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def message_texts(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                str(part["text"])
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
    return sorted((t for t in texts if len(t) >= _MASK_MIN), key=len, reverse=True)


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, NO_PROXY, ...), read once."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def scrub(text: str, masks: Sequence[str]) -> str:
    """``text`` without the API key, anything shaped like a key, or the request's messages."""
    text = _scrubbed(text, masks)
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 3] + "..."
    return text


def scrub_chain(exc: BaseException | None, masks: Sequence[str]) -> None:
    """Scrub, in place, the text of ``exc`` and of the exceptions under it.

    A client's exception is kept as our error's ``__cause__``, so a traceback
    prints its text (and its own causes'): a provider that echoes the key or
    the prompt must not be shown there either. Only text that holds a secret
    changes.
    """
    for link in exception_chain(exc):
        args = tuple(_scrubbed(arg, masks) if isinstance(arg, str) else arg for arg in link.args)
        if args != link.args:
            link.args = args
        message = getattr(link, "message", None)
        if isinstance(message, str) and _scrubbed(message, masks) != message:
            with contextlib.suppress(AttributeError):
                link.message = _scrubbed(message, masks)  # type: ignore[attr-defined]


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc``, then the exception under it (``__cause__``, else ``__context__``), and so on.

    Stops at a loop: an exception already seen.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def secrets_of(key: str | None, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """What no error text may show for one request: its API key and its messages' texts."""
    return ([key] if key else []) + message_texts(messages)


def _scrubbed(text: str, masks: Sequence[str]) -> str:
    for secret in masks:
        if secret:
            text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)


# --------------------------------------------------------------------------- errors

#: An HTTP error status -> the error raised; other 5xx (and 3xx) are ``LLMProviderError``,
#: other 4xx ``LLMBadRequestError``.
BY_STATUS: dict[int, type[LLMError]] = {
    401: LLMAuthenticationError,
    403: LLMAuthenticationError,
    408: LLMTimeoutError,
    409: LLMProviderError,  # a lock timeout at the provider: worth repeating (as the openai SDK)
    429: LLMRateLimitError,
}


def error_for_status(status: int) -> type[LLMError]:
    if status in BY_STATUS:
        return BY_STATUS[status]
    return LLMBadRequestError if 400 <= status < 500 else LLMProviderError


def error_for_client(http: Any, exc: BaseException) -> type[LLMError]:
    """aiohttp's exception (no HTTP reply) -> the error raised; the order matters."""
    if isinstance(exc, TimeoutError):  # also aiohttp's ServerTimeoutError
        return LLMTimeoutError
    if isinstance(exc, http.ClientConnectionError | http.ClientPayloadError):
        return LLMConnectionError
    return LLMProviderError


def repeatable(exc: LLMError) -> bool:
    """Whether this backend repeats the request: never a 200 whose body was unusable."""
    return exc.retryable and exc.status != 200


def status_error(model: str, status: int, raw: bytes, response: Any, masks: list[str]) -> LLMError:
    kind = error_for_status(status)
    error = kind(model, scrub(provider_message(raw, response.reason), masks), status=status)
    if kind.retryable:  # a 429's Retry-After; a 503 may say when to come back, too
        error.retry_after = retry_after_seconds(response.headers)
    return error
