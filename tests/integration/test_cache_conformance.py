"""Every cache backend honours ``CacheProtocol`` the same way.

The shared tests run against each entry of ``BACKENDS``. Backends that take a
clock (memory, sqlite) get a ``ManualClock`` that tests move by hand, so expiry
needs no sleeping; Redis keeps time on the server, so it gets a ``WallClock``
whose ``advance`` really waits (the shared TTL tests use sub-second TTLs for
that reason). The redis parameter carries ``@pytest.mark.services``: it skips
when no server listens on 127.0.0.1:6379, which fails the build under
``AGENTMAP_REQUIRE_SERVICES=1`` (CI). Each Redis test works under its own
random key prefix and removes its keys afterwards.

A new backend is one more ``BACKENDS`` entry; backend-specific tests follow the
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
from tests.conftest import require_service

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


class ManualClock:
    """A clock tests move by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """For backends that keep time themselves: advancing means waiting."""

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


Clock = ManualClock | WallClock


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


Factory = Callable[..., CacheProtocol]
BACKENDS: dict[str, Factory] = {
    "memory": lambda clock, tmp, **kw: MemoryCache(clock=clock, **kw),
    "sqlite": lambda clock, tmp, **kw: SqliteCache(tmp / "cache" / "c.sqlite3", clock=clock, **kw),
    "redis": lambda clock, tmp, **kw: redis_cache(**kw),
}
NEEDS_SERVER = {"redis"}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.services) if name in NEEDS_SERVER else name
        for name in sorted(BACKENDS)
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "redis":
        require_redis()
    return name


@pytest.fixture
def clock(backend: str) -> Clock:
    return WallClock() if backend in NEEDS_SERVER else ManualClock()


@pytest.fixture
async def make_cache(
    backend: str, clock: Clock, tmp_path: Path
) -> AsyncIterator[Callable[..., CacheProtocol]]:
    """Builds the backend under test (keyword options such as ``default_ttl`` pass through)."""
    made: list[CacheProtocol] = []

    def make(**options: Any) -> CacheProtocol:
        cache = BACKENDS[backend](clock, tmp_path, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        if backend == "redis":
            await cache.clear()  # only this test's prefix
        await cache.close()


@pytest.fixture
def cache(make_cache: Callable[..., CacheProtocol]) -> CacheProtocol:
    return make_cache()


# --------------------------------------------------------------------------- shared


def test_satisfies_the_protocol(cache: CacheProtocol) -> None:
    assert isinstance(cache, CacheProtocol)


async def test_missing_key_is_none(cache: CacheProtocol) -> None:
    assert await cache.get("absent") is None


async def test_set_get_overwrite(cache: CacheProtocol) -> None:
    await cache.set("k", "first")
    assert await cache.get("k") == "first"
    await cache.set("k", "second")
    assert await cache.get("k") == "second"


async def test_complex_json_values_round_trip_as_copies(cache: CacheProtocol) -> None:
    value = {
        "text": "héllo",
        "n": 3,
        "f": 0.5,
        "ok": True,
        "none": None,
        "items": [1, [2, {"a": []}]],
    }
    await cache.set("doc", value)
    got = await cache.get("doc")
    assert got == value
    got["items"].append("mutated")
    assert await cache.get("doc") == value


#: Values whose type or digits a careless store would change (1.0 -> 1, 2**70 -> float).
EXACT_VALUES: list[Any] = [
    0,
    False,
    1.0,
    0.1,
    1e-300,
    2**70,
    -(2**63),
    "",
    'naïve ✓ 日本 \U0001f600 \x00 \\ "quoted"',
    [],
    {},
    [None, True, 0, "0"],
    {"k": {"nested": [1.5, {"deeper": "x"}]}, "": "empty key"},
]


async def test_values_round_trip_exactly(cache: CacheProtocol) -> None:
    for index, value in enumerate(EXACT_VALUES):
        await cache.set(f"v{index}", value)
    for index, value in enumerate(EXACT_VALUES):
        got = await cache.get(f"v{index}")
        # repr: 1 == 1.0 == True for ==, but a cache must not turn one into another
        assert repr(got) == repr(value)


async def test_keys_are_arbitrary_text(cache: CacheProtocol) -> None:
    keys = ["with space", "a:b:c", "glob*?[x]", "ünï", "x" * 300, ""]
    for key in keys:
        await cache.set(key, key)
    for key in keys:
        assert await cache.get(key) == key


async def test_non_json_value_is_a_clear_type_error(cache: CacheProtocol) -> None:
    with pytest.raises(TypeError, match=r"'obj'.*JSON-serialisable"):
        await cache.set("obj", object())
    assert await cache.get("obj") is None


async def test_delete_and_clear(cache: CacheProtocol) -> None:
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.delete("a")
    await cache.delete("never-set")  # no error
    assert await cache.get("a") is None
    assert await cache.get("b") == 2
    await cache.clear()
    assert await cache.get("b") is None
    await cache.clear()  # clearing an empty cache is fine
    await cache.set("c", 3)  # and the cache is usable afterwards
    assert await cache.get("c") == 3


async def test_ttl_expiry(cache: CacheProtocol, clock: Clock) -> None:
    await cache.set("short", "v", ttl=0.5)
    await cache.set("forever", "v")
    await clock.advance(0.2)
    assert await cache.get("short") == "v"
    await clock.advance(0.4)
    assert await cache.get("short") is None
    assert await cache.get("forever") == "v"


async def test_zero_or_negative_ttl_is_already_expired(cache: CacheProtocol) -> None:
    await cache.set("k", "v", ttl=0)
    assert await cache.get("k") is None
    await cache.set("negative", "v", ttl=-5)
    assert await cache.get("negative") is None


async def test_expired_set_replaces_an_existing_value(cache: CacheProtocol) -> None:
    await cache.set("k", "old")
    await cache.set("k", "new", ttl=0)
    assert await cache.get("k") is None


async def test_overwrite_resets_ttl(cache: CacheProtocol, clock: Clock) -> None:
    await cache.set("k", "old", ttl=0.5)
    await clock.advance(0.2)
    await cache.set("k", "new")
    await clock.advance(0.5)
    assert await cache.get("k") == "new"


async def test_default_ttl(make_cache: Callable[..., CacheProtocol], clock: Clock) -> None:
    cache = make_cache(default_ttl=0.5)
    await cache.set("k", "v")
    await cache.set("longer", "v", ttl=60)
    await clock.advance(0.6)
    assert await cache.get("k") is None
    assert await cache.get("longer") == "v"


async def test_zero_default_ttl_keeps_nothing(make_cache: Callable[..., CacheProtocol]) -> None:
    cache = make_cache(default_ttl=0)
    await cache.set("k", "v")
    assert await cache.get("k") is None
    await cache.set("explicit", "v", ttl=60)  # an explicit TTL still wins
    assert await cache.get("explicit") == "v"


async def test_close_is_idempotent(cache: CacheProtocol) -> None:
    await cache.set("k", "v")
    await cache.close()
    await cache.close()  # and once more by the fixture: none of them may raise


# --------------------------------------------------------------------------- memory, sqlite


@pytest.mark.parametrize("name", ["memory", "sqlite"])
async def test_expiry_is_exact_with_an_injected_clock(name: str, tmp_path: Path) -> None:
    clock = ManualClock()
    cache = BACKENDS[name](clock, tmp_path)
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
