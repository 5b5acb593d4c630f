"""API keys and the rate limiter of agentmap serve, without a server.

The keys are hashed at rest, so these tests check the one property that
matters: a presented key maps to the right NAME, every other string (a hash,
a prefix, a key of another server) to None. The rate limiter gets an
injected clock, so its arithmetic is checked without sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import MutableMapping
from typing import Any

import pytest

from agentmap.server.auth import (
    BodyTooLargeError,
    GuardMiddleware,
    KeyRing,
    RateLimiter,
    hash_key,
    new_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hash_key_is_the_sha256_hex_with_a_prefix() -> None:
    hashed = hash_key("am_secret")
    assert hashed == "sha256:" + hashlib.sha256(b"am_secret").hexdigest()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hashed)


def test_new_key_is_random_and_its_hash_matches() -> None:
    key, hashed = new_key()
    other, _ = new_key()
    assert key.startswith("am_")
    assert len(key) > 40
    assert key != other
    assert hashed == hash_key(key)
    assert key not in hashed


def test_keyring_names_each_of_several_keys() -> None:
    keys = {name: new_key()[0] for name in ("ci", "alice", "bob")}
    ring = KeyRing({name: hash_key(key) for name, key in keys.items()})
    for name, key in keys.items():
        assert ring.identify(key) == name


@pytest.mark.parametrize(
    "presented",
    ["", "wrong", "am_", "sha256:", "Bearer am_key-one", " am_key-one", "am_key-one ", "am_key-on"],
)
def test_keyring_refuses_anything_but_a_key(presented: str) -> None:
    ring = KeyRing({"one": hash_key("am_key-one")})
    assert ring.identify(presented) is None
    assert ring.identify("am_key-one") == "one"


def test_keyring_refuses_the_stored_hash_itself() -> None:
    """A leaked settings file must not be a usable credential."""
    hashed = hash_key("am_key-one")
    ring = KeyRing({"one": hashed})
    assert ring.identify(hashed) is None
    assert ring.identify(hashed.removeprefix("sha256:")) is None


def test_empty_keyring_is_false_and_knows_nobody() -> None:
    ring = KeyRing({})
    assert not ring
    assert ring.identify("anything") is None
    assert KeyRing({"one": hash_key("k")})


def test_rate_limiter_allows_the_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("ci") for _ in range(3)] == [None, None, None]
    wait = limiter.take("ci")
    assert wait == pytest.approx(0.5)  # one token at 2 per second


def test_rate_limiter_refills_with_time_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    assert limiter.take("ci") is None
    assert limiter.take("ci") is None
    assert limiter.take("ci") is not None
    clock.now += 1.0
    assert limiter.take("ci") is None
    assert limiter.take("ci") is not None
    clock.now += 3600  # a long pause refills to the burst, not beyond it
    assert limiter.take("ci") is None
    assert limiter.take("ci") is None
    assert limiter.take("ci") is not None


def test_rate_limiter_keeps_one_bucket_per_caller() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.take("alice") is None
    assert limiter.take("alice") is not None
    assert limiter.take("bob") is None


def test_refused_requests_do_not_push_the_wait_further() -> None:
    """A client that keeps retrying early waits no longer than one that waits."""
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.take("ci") is None
    for _ in range(10):
        clock.now += 0.05
        assert limiter.take("ci") is not None
    clock.now += 0.51  # just over 1 s after the first request (float sums are inexact)
    assert limiter.take("ci") is None


# ---------------------------------------------------------------- the middleware, as plain ASGI

Message = MutableMapping[str, Any]


class Downstream:
    """The app behind the guard: records what it saw, reads the whole body."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append(
            {"key": scope["state"]["api_key"], "body": body, "query": scope["query_string"]}
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(
    guard: GuardMiddleware,
    path: str,
    headers: dict[str, str] | None = None,
    chunks: tuple[bytes, ...] = (b"",),
    query: bytes = b"",
) -> tuple[int, dict[str, str], Any]:
    scope = {
        "type": "http",
        "path": path,
        "query_string": query,
        "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    heads = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], heads, (json.loads(body) if start["status"] != 200 else body)


def guard_with(app: Downstream, **kwargs: Any) -> GuardMiddleware:
    options: dict[str, Any] = {
        "keys": KeyRing({"ci": hash_key("am_ci"), "ops": hash_key("am_ops")}),
        "limiter": None,
        "max_body": 100,
        "max_batch_body": 1000,
    }
    options.update(kwargs)
    return GuardMiddleware(app, **options)


def test_guard_asks_for_a_key_with_www_authenticate() -> None:
    app = Downstream()
    status, headers, body = call(guard_with(app), "/v1/graphs")
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == "urn:agentmap:problem:unauthorized"
    assert "X-API-Key" in body["detail"]
    assert app.calls == []


def test_guard_takes_bearer_or_x_api_key_and_passes_the_name_on() -> None:
    app = Downstream()
    guard = guard_with(app)
    assert call(guard, "/v1/graphs", {"Authorization": "Bearer am_ci"})[0] == 200
    assert call(guard, "/v1/runs", {"X-API-Key": "am_ops"})[0] == 200
    assert call(guard, "/metrics", {"authorization": "bearer am_ci"})[0] == 200
    assert [c["key"] for c in app.calls] == ["ci", "ops", "ci"]


def test_guard_refuses_a_wrong_key_and_other_schemes() -> None:
    guard = guard_with(Downstream())
    for headers in (
        {"Authorization": "Bearer am_nope"},
        {"Authorization": "Basic am_ci"},
        {"X-API-Key": hash_key("am_ci")},
    ):
        status, _, body = call(guard, "/v1/graphs", headers)
        assert status == 401, headers
        assert "am_ci" not in json.dumps(body)


def test_guard_leaves_health_and_the_viewer_open() -> None:
    app = Downstream()
    guard = guard_with(app)
    for path in ("/healthz", "/readyz", "/", "/static/app.js", "/docs"):
        assert call(guard, path)[0] == 200, path
    assert all(c["key"] is None for c in app.calls)


def test_query_key_only_for_event_streams() -> None:
    """EventSource cannot send headers; nothing else may put a key in a URL (logs keep URLs)."""
    guard = guard_with(Downstream())
    assert call(guard, "/v1/runs/r1/events", query=b"api_key=am_ci")[0] == 200
    assert call(guard, "/v1/runs/r1", query=b"api_key=am_ci")[0] == 401


def test_guard_refuses_a_declared_length_over_the_limit_before_reading() -> None:
    app = Downstream()
    status, _, body = call(
        guard_with(app, keys=KeyRing({})), "/v1/runs", {"Content-Length": "101"}, (b"x" * 101,)
    )
    assert status == 413
    assert body["type"] == "urn:agentmap:problem:body-too-large"
    assert "101" in body["detail"]
    assert "100" in body["detail"]
    assert app.calls == []


def test_guard_counts_a_body_without_length() -> None:
    guard = guard_with(Downstream(), keys=KeyRing({}))
    with pytest.raises(BodyTooLargeError):
        call(guard, "/v1/runs", chunks=(b"x" * 60, b"x" * 60))
    assert call(guard, "/v1/runs", chunks=(b"x" * 50, b"x" * 50))[0] == 200


def test_batches_have_their_own_limit() -> None:
    guard = guard_with(Downstream(), keys=KeyRing({}))
    assert call(guard, "/v1/batches", {"Content-Length": "500"}, (b"x" * 500,))[0] == 200
    assert call(guard, "/v1/runs", {"Content-Length": "500"}, (b"x" * 500,))[0] == 413


def test_guard_rate_limits_per_key_with_retry_after() -> None:
    clock = Clock()
    guard = guard_with(Downstream(), limiter=RateLimiter(0.5, 2, clock=clock))
    ci = {"X-API-Key": "am_ci"}
    assert [call(guard, "/v1/graphs", ci)[0] for _ in range(2)] == [200, 200]
    status, headers, body = call(guard, "/v1/graphs", ci)
    assert status == 429
    assert headers["retry-after"] == "2"  # one token at 0.5/s
    assert body["type"] == "urn:agentmap:problem:rate-limited"
    assert call(guard, "/v1/graphs", {"X-API-Key": "am_ops"})[0] == 200
    assert call(guard, "/healthz")[0] == 200  # health checks are never limited


def test_a_key_in_the_query_is_redacted_once_read() -> None:
    """uvicorn's access log prints the query string of this same scope."""
    app = Downstream()
    guard = guard_with(app)
    query = b"last_event_id=3&api_key=am_ci&x=a%20b"
    assert call(guard, "/v1/runs/r1/events", query=query)[0] == 200
    assert app.calls[-1]["key"] == "ci"
    assert app.calls[-1]["query"] == b"last_event_id=3&api_key=***&x=a+b"
    # Also where the key is not taken (or keys are off): it never reaches a log.
    assert call(guard, "/v1/runs/r1", query=b"api_key=am_ci")[0] == 401
    open_guard = guard_with(app, keys=KeyRing({}))
    assert call(open_guard, "/healthz", query=b"api_key=am_ci")[0] == 200
    assert b"am_ci" not in app.calls[-1]["query"]
