"""API keys, rate limits and body-size limits, as one ASGI middleware in front of the app.

Keys are stored as ``sha256:<hex>`` of the key: the settings (and a leaked
config file) never hold a usable key. A presented key is hashed and compared
with every stored hash with ``hmac.compare_digest`` and without stopping at a
match, so the time taken says nothing about which key, or how much of one,
was right. API keys are long random tokens, not passwords, so one SHA-256 is
the right hash (a slow password hash would only slow every request).

It is plain ASGI rather than FastAPI dependencies because it runs on every
request, and the cheapest check is the one that costs nothing when keys and
limits are off (the default on loopback).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from agentmap.server.problems import problem_body

__all__ = ["GuardMiddleware", "KeyRing", "RateLimiter", "hash_key", "new_key"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A new random API key and the hash to put in ``server.api_keys``."""
    key = "am_" + secrets.token_urlsafe(32)
    return key, hash_key(key)


class KeyRing:
    def __init__(self, hashes: dict[str, str]) -> None:
        self._keys = [(name, stored.removeprefix("sha256:")) for name, stored in hashes.items()]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str) -> str | None:
        """The name of the key ``presented`` is, or None."""
        digest = hashlib.sha256(presented.encode()).hexdigest()
        found = None
        for name, stored in self._keys:
            if hmac.compare_digest(digest, stored) and found is None:
                found = name
        return found


class RateLimiter:
    """A token bucket per caller: ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str) -> float | None:
        """None when the request may go, else the seconds until it may."""
        now = self._clock()
        tokens, last = self._buckets.get(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            return None
        self._buckets[caller] = (tokens, now)
        return (1 - tokens) / self.rate


class GuardMiddleware:
    """Authenticate ``/v1`` and ``/metrics``, apply the rate limit and the body limits.

    The caller's key name goes to ``scope["state"]["api_key"]`` (None when
    keys are off), where the routes read it for the per-key run cap.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyRing,
        limiter: RateLimiter | None,
        max_body: int,
        max_batch_body: int,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.max_body = max_body
        self.max_batch_body = max_batch_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        guarded = path.startswith("/v1/") or path == "/v1" or path == "/metrics"
        name = None
        presented = _presented_key(scope) if guarded and self.keys else None
        if b"api_key=" in scope.get("query_string", b""):
            _redact_query_key(scope)
        if guarded and self.keys:
            name = self.keys.identify(presented) if presented else None
            if name is None:
                detail = (
                    "this API needs a key: send Authorization: Bearer KEY or X-API-Key: KEY"
                    if not presented
                    else "the API key is not valid"
                )
                await _problem(
                    send,
                    path,
                    401,
                    "unauthorized",
                    detail,
                    {"WWW-Authenticate": 'Bearer realm="agentmap"'},
                )
                return
        scope.setdefault("state", {})["api_key"] = name
        if guarded and self.limiter is not None:
            caller = name or (scope.get("client") or ("?",))[0]
            wait = self.limiter.take(caller)
            if wait is not None:
                retry = max(1, math.ceil(wait))
                await _problem(
                    send,
                    path,
                    429,
                    "rate-limited",
                    f"more than {self.limiter.rate:g} requests a second "
                    f"(server.rate_limit); retry in {retry} s",
                    {"Retry-After": str(retry)},
                )
                return
        limit = self.max_batch_body if path.startswith("/v1/batches") else self.max_body
        length = _content_length(scope)
        if length is not None and length > limit:
            await _problem(
                send,
                path,
                413,
                "body-too-large",
                f"the request body has {length} bytes; the limit is {limit}",
            )
            return
        await self.app(scope, _counting(receive, limit), send)


class BodyTooLargeError(Exception):
    """A body without Content-Length that grew past the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLargeError(limit)
        return message

    return counted


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def _presented_key(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = _header(scope, b"x-api-key")
    if key:
        return key
    if scope["path"].endswith("/events"):
        # A browser's EventSource cannot send headers: its streams may name the key.
        from urllib.parse import parse_qs

        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
        if values:
            return str(values[0])
    return None


def _redact_query_key(scope: Scope) -> None:
    """Replace a ``?api_key=`` value in the scope, once it has been read.

    uvicorn's access log (``--access-log``) prints the path with the query
    string it finds in this same scope when the answer starts, so a key sent
    by a browser's EventSource would land in the log in clear.
    """
    from urllib.parse import parse_qsl, urlencode

    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    kept = [(k, "***" if k == "api_key" else v) for k, v in pairs]
    scope["query_string"] = urlencode(kept, safe="*").encode("latin-1")


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _problem(
    send: Send,
    path: str,
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(problem_body(status, slug, detail, path)).encode()
    raw = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
