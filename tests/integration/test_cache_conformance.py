"""Every cache backend honours ``CacheProtocol`` the same way.

The shared tests are the shipped suite ``CacheConformance``
(agentmap.testing.cache_conformance), the same one a third-party backend
runs: one subclass per backend below. Memory and sqlite take a clock and get a
``ManualClock`` that the tests move by hand, so expiry needs no sleeping;
Redis keeps time on the server, so it keeps the suite's ``WallClock``, whose
``advance`` really waits. The Redis class carries ``@pytest.mark.services``:
it skips when no server listens on 127.0.0.1:6379, which fails the build
under ``AGENTMAP_REQUIRE_SERVICES=1`` (CI). Every Redis cache a test builds
works under its own random key prefix and removes its keys afterwards.

A new backend is one more subclass; backend-specific tests follow the
shared ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import sqlite3
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agentmap.agents.base_agent import BaseAgent
from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.services.cache._codec import encode
from agentmap.services.cache.memory import MemoryCache
from agentmap.services.cache.sqlite import SqliteCache
from agentmap.services.protocols import CacheCapableAgent, CacheProtocol
from agentmap.testing.cache_conformance import EXACT_VALUES, CacheConformance, ManualClock
from tests.conftest import require_service

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def require_redis() -> None:
    """Skip without a Redis server or without the client (a failure in CI, see conftest)."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    pytest.importorskip("redis", reason="the redis client is not installed (agentmap[redis])")


def new_prefix() -> str:
    return f"agentmap-test:{uuid.uuid4().hex}:"


def redis_cache(**options: Any) -> Any:
    from agentmap.services.cache.redis import RedisCache

    options.setdefault("prefix", new_prefix())
    return RedisCache(REDIS_URL, **options)


def memory_cache(clock: ManualClock, tmp_path: Path, **options: Any) -> MemoryCache:
    return MemoryCache(clock=clock, **options)


def sqlite_cache(clock: ManualClock, tmp_path: Path, **options: Any) -> SqliteCache:
    return SqliteCache(tmp_path / "cache" / "c.sqlite3", clock=clock, **options)


# --------------------------------------------------------------------------- shared


class TestMemoryCache(CacheConformance):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def cache_factory(self, clock: ManualClock, tmp_path: Path) -> Callable[..., CacheProtocol]:
        return lambda **options: memory_cache(clock, tmp_path, **options)


class TestSqliteCache(CacheConformance):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def cache_factory(self, clock: ManualClock, tmp_path: Path) -> Callable[..., CacheProtocol]:
        return lambda **options: sqlite_cache(clock, tmp_path, **options)


@pytest.mark.services
class TestRedisCache(CacheConformance):
    """The server keeps time, so the suite's ``WallClock`` (real waiting) stays."""

    @pytest.fixture
    def cache_factory(self) -> Callable[..., CacheProtocol]:
        require_redis()
        return redis_cache  # a new random prefix per cache

    async def release(self, cache: Any) -> None:
        await cache.clear()  # only this cache's prefix
        await cache.close()


# --------------------------------------------------------------------------- memory, sqlite


@pytest.mark.parametrize("make", [memory_cache, sqlite_cache], ids=["memory", "sqlite"])
async def test_expiry_is_exact_with_an_injected_clock(
    make: Callable[..., CacheProtocol], tmp_path: Path
) -> None:
    clock = ManualClock()
    cache = make(clock, tmp_path)
    await cache.set("k", "v", ttl=10)
    await clock.advance(9.5)
    assert await cache.get("k") == "v"
    await clock.advance(0.5)  # expired at exactly now + ttl
    assert await cache.get("k") is None
    await cache.close()


async def test_memory_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", 1)
    await cache.set("b", 2)
    assert await cache.get("a") == 1  # "b" is now the least recently used
    await cache.set("c", 3)
    assert len(cache) == 2
    assert await cache.get("b") is None
    assert await cache.get("a") == 1
    assert await cache.get("c") == 3


def test_memory_rejects_a_zero_size() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


async def test_sqlite_is_lazy_and_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "cache.sqlite3"
    first = SqliteCache(path)
    assert not path.exists()  # nothing created until first use
    await first.set("k", {"v": [1, 2]})
    await first.close()
    assert path.exists()
    second = SqliteCache(path)
    assert await second.get("k") == {"v": [1, 2]}
    await second.close()


async def test_sqlite_expiry_survives_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "c.sqlite3"
    first = SqliteCache(path, clock=clock)
    await first.set("k", "v", ttl=10)
    await first.close()
    await clock.advance(11)
    second = SqliteCache(path, clock=clock)
    assert await second.get("k") is None
    await second.close()


# --------------------------------------------------------------------------- redis


@pytest.fixture
async def raw_redis() -> AsyncIterator[Any]:
    """A plain client, to look at what the backend stored and to write other keys."""
    require_redis()
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def rcache() -> AsyncIterator[Any]:
    require_redis()
    cache = redis_cache()
    yield cache
    await cache.clear()
    await cache.close()


@pytest.mark.services
async def test_redis_ttl_is_milliseconds_and_fractional(rcache: Any, raw_redis: Any) -> None:
    await rcache.set("k", "v", ttl=0.25)
    assert 0 < await raw_redis.pttl(rcache.prefix + "k") <= 250
    assert await rcache.get("k") == "v"
    await asyncio.sleep(0.35)
    assert await rcache.get("k") is None
    # Below a millisecond is still a (1 ms) expiry, not "forever" and not an error.
    await rcache.set("tiny", "v", ttl=0.0004)
    assert await raw_redis.pttl(rcache.prefix + "tiny") in (-2, 0, 1)
    await rcache.set("forever", "v")
    assert await raw_redis.pttl(rcache.prefix + "forever") == -1


@pytest.mark.services
@pytest.mark.parametrize("ttl", [math.inf, 1e300, math.nan])
async def test_redis_endless_ttls_never_expire(rcache: Any, raw_redis: Any, ttl: float) -> None:
    # Like the other backends (now + inf never comes), rather than a Redis range error.
    await rcache.set("k", "v", ttl=ttl)
    assert await raw_redis.pttl(rcache.prefix + "k") == -1
    assert await rcache.get("k") == "v"


@pytest.mark.services
async def test_redis_expired_set_removes_the_stored_key(rcache: Any, raw_redis: Any) -> None:
    await rcache.set("k", "old")
    await rcache.set("k", "new", ttl=0)
    assert await raw_redis.exists(rcache.prefix + "k") == 0


@pytest.mark.services
async def test_redis_clear_leaves_keys_outside_the_prefix(raw_redis: Any) -> None:
    base = new_prefix()
    # Glob characters in the prefix are literal: "p*" must not match "pX".
    cache = redis_cache(prefix=f"{base}p*[1]?:")
    outside = [f"{base}pX[1]?:k", f"{base}p*[1]?", f"{base}other:k", f"{base}p"]
    try:
        for name in outside:
            await raw_redis.set(name, "keep")
        for index in range(1_234):  # more than one SCAN page and UNLINK batch
            await cache.set(str(index), index)
        await cache.clear()
        assert [key async for key in raw_redis.scan_iter(match=f"{base}p\\*\\[1\\]\\?:*")] == []
        for name in outside:
            assert await raw_redis.get(name) == b"keep"
        assert await cache.get("0") is None
    finally:
        await cache.close()
        await raw_redis.delete(*outside)


@pytest.mark.services
async def test_redis_stores_the_same_text_as_the_other_backends(
    rcache: Any, raw_redis: Any, tmp_path: Path
) -> None:
    sqlite = SqliteCache(tmp_path / "c.sqlite3")
    memory = MemoryCache()
    try:
        for index, value in enumerate(EXACT_VALUES):
            key = f"v{index}"
            for backend in (rcache, sqlite, memory):
                await backend.set(key, value)
            stored = (await raw_redis.get(rcache.prefix + key)).decode("utf-8")
            assert stored == encode(key, value)
            with contextlib.closing(sqlite3.connect(sqlite.path)) as db:
                query = "SELECT value FROM cache WHERE key = ?"
                (in_sqlite,) = db.execute(query, (key,)).fetchone()
            assert stored == in_sqlite
            got = [await backend.get(key) for backend in (rcache, sqlite, memory)]
            assert len({repr(item) for item in got}) == 1
            assert json.loads(stored) == value
    finally:
        await sqlite.close()


@pytest.mark.services
def test_redis_one_instance_serves_consecutive_event_loops() -> None:
    """``GraphRunner.run`` calls ``asyncio.run`` per run with the container's one cache."""
    require_redis()
    cache = redis_cache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(cache.set("k", {"run": 1}))
        assert asyncio.run(cache.get("k")) == {"run": 1}
        asyncio.run(cache.set("k", {"run": 3}))
        assert asyncio.run(cache.get("k")) == {"run": 3}
        # A loop closed without asyncio.run's clean-up leaves a client behind;
        # the next loop replaces it.
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(cache.get("k")) == {"run": 3}
        finally:
            loop.close()
        assert asyncio.run(cache.get("k")) == {"run": 3}
        asyncio.run(cache.clear())
        asyncio.run(cache.close())
        del loop
        gc.collect()
    unexpected = [
        str(w.message)
        for w in caught
        if not (issubclass(w.category, ResourceWarning) and "unclosed" in str(w.message))
    ]
    assert unexpected == []


@pytest.mark.services
def test_redis_clients_are_closed_with_their_loop() -> None:
    require_redis()
    cache = redis_cache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run in range(3):
            asyncio.run(cache.set("k", run))
        assert asyncio.run(cache.get("k")) == 2
        asyncio.run(cache.clear())
        gc.collect()
    assert [str(w.message) for w in caught] == []  # no "unclosed connection" / socket
    assert cache._bindings == {}  # nothing kept for loops that are gone


@pytest.mark.services
async def test_redis_close_then_use_reconnects(rcache: Any) -> None:
    await rcache.set("k", "v")
    await rcache.close()
    assert await rcache.get("k") == "v"


@pytest.mark.services
async def test_redis_loops_in_two_threads_at_once(rcache: Any) -> None:
    """A sync agent may call the cache through ``asyncio.run`` in a worker thread."""
    await rcache.set("shared", "from the main loop")

    def in_thread(n: int) -> Any:
        async def work() -> Any:
            await rcache.set(f"t{n}", n)
            return await rcache.get("shared"), await rcache.get(f"t{n}")

        return asyncio.run(work())

    results = await asyncio.gather(*(asyncio.to_thread(in_thread, n) for n in range(4)))
    assert results == [("from the main loop", n) for n in range(4)]
    assert await rcache.get("t3") == 3


def test_redis_connection_error_names_the_url_but_never_the_password() -> None:
    pytest.importorskip("redis", reason="the redis client is not installed (agentmap[redis])")
    from agentmap.services.cache.redis import RedisCache

    password = "pa55-w0rd!"
    cache = RedisCache("redis://agent:pa55-w0rd%21@127.0.0.1:1/0")  # port 1: nobody listens

    async def use() -> None:
        try:
            with pytest.raises(ConfigurationError) as info:
                await cache.get("k")
        finally:
            await cache.close()
        message = str(info.value)
        assert "redis://agent:**********@127.0.0.1:1/0" in message
        assert "cache.redis_url" in message
        for text in (message, repr(info.value), repr(cache)):
            assert password not in text
            assert "pa55-w0rd%21" not in text
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__

    asyncio.run(use())

    in_query = RedisCache("redis://127.0.0.1:1/0?password=qu3ry-secret")
    with pytest.raises(ConfigurationError, match=r"password=\*{10}") as info:
        asyncio.run(in_query.get("k"))
    assert "qu3ry-secret" not in str(info.value)


def test_redis_bad_url_and_empty_prefix_are_errors() -> None:
    pytest.importorskip("redis", reason="the redis client is not installed (agentmap[redis])")
    from agentmap.services.cache.redis import RedisCache

    with pytest.raises(ConfigurationError, match="not a usable Redis URL") as info:
        RedisCache("http://user:hunter2@example.com/0")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="prefix"):
        RedisCache(REDIS_URL, prefix="")


@pytest.fixture
def no_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import redis`` fail as if the extra were not installed (undone after the test)."""
    for name in ("redis", "redis.asyncio", "redis.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_redis_package")
def test_redis_missing_package_names_the_extra() -> None:
    from agentmap.services.cache.redis import RedisCache

    with pytest.raises(MissingExtraError, match=r"pip install 'agentmap\[redis\]'") as info:
        RedisCache(REDIS_URL)
    assert isinstance(info.value, ConfigurationError)
    assert info.value.extra == "redis"


# --------------------------------------------------------------------------- redis in the container


class CountingAgent(BaseAgent, CacheCapableAgent):
    """Counts its runs in the cache, so a second run sees the first one's value."""

    run_inline = True

    async def process(self, inputs: dict[str, Any]) -> Any:
        key = inputs["key"]
        count = (await self.cache_service.get(key) or 0) + 1
        await self.cache_service.set(key, count, ttl=60)
        return count


@pytest.mark.services
def test_container_builds_a_working_redis_cache() -> None:
    require_redis()
    from agentmap.services.cache.redis import RedisCache
    from containers import create_application
    from tests.unit.runtime.helpers import graph, node

    key = f"agentmap-test:{uuid.uuid4().hex}"
    with create_application("test", cache={"backend": "redis", "default_ttl": 30}) as app:
        cache = app.container.services.cache()
        assert isinstance(cache, RedisCache)
        assert cache is app.container.services.cache()  # one per application
        assert cache.default_ttl == 30
        assert cache.prefix == "agentmap:cache:"
        app.container.agents.registry().register("CountingAgent", CountingAgent)
        spec = graph(node("Count", "CountingAgent", inputs="key", outputs="n"))
        try:
            # Two runs: two asyncio.run loops, one cache instance.
            assert app.runner(spec).run({"key": key}).state["n"] == 1
            assert app.runner(spec).run({"key": key}).state["n"] == 2
        finally:
            asyncio.run(cache.delete(key))
        assert asyncio.run(cache.get(key)) is None
        asyncio.run(cache.close())
