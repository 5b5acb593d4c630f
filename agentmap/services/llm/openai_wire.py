"""Reading OpenAI-compatible replies, errors and headers: the wire side of ``openai_http``.

Kept apart from the service so the parsing rules (what counts as a chat
completion, where a provider puts its error message, how long Retry-After
asks to wait, what error text must never contain) are read and tested alone.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "Reply",
    "env_proxy",
    "message_texts",
    "parse_reply",
    "provider_message",
    "retry_after_seconds",
    "scrub",
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
    )


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
    for secret in masks:
        if secret:
            text = text.replace(secret, "***")
    text = _KEY_LIKE.sub("***", text)
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 3] + "..."
    return text
