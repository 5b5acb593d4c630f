"""The conformance suite every cache backend (``CacheProtocol``) must pass.

Shipped in the test kit so that a third-party backend is checked by the same
tests as the built-in ones. Subclass it in a test module and provide a
``cache_factory`` fixture: a function that builds a fresh cache, passing
keyword options (``default_ttl``) on to the constructor::

    from agentmap.testing.cache_conformance import CacheConformance, ManualClock

    class TestSqliteCache(CacheConformance):
        @pytest.fixture
        def clock(self):
            return ManualClock()

        @pytest.fixture
        def cache_factory(self, clock, tmp_path):
            return lambda **options: SqliteCache(tmp_path / "c.sqlite3", clock=clock, **options)

Expiry is tested through the ``clock`` fixture, an object with an async
``advance(seconds)``. A backend that takes a clock gets a ``ManualClock``
(callable, returning the time it was moved to), so expiry needs no sleeping;
one that keeps time itself (a server) keeps the default ``WallClock``, whose
``advance`` really waits: the TTLs in the suite are under a second for that
reason.

Each test runs its whole scenario in one ``asyncio.run`` (no asyncio plugin
needed). The container shares one cache between runs, each in its own
``asyncio.run``, so a cache must serve consecutive event loops: the suite
closes every cache a test built in a later loop, through ``release``. A
backend whose store outlives the cache object (a server shared with other
tests) overrides ``release`` to clear its keys first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import pytest

from agentmap.services.protocols import CacheProtocol

__all__ = ["EXACT_VALUES", "CacheConformance", "Clock", "ManualClock", "WallClock"]


class Clock(Protocol):
    """What the suite needs of a clock: a way to let ``seconds`` pass."""

    async def advance(self, seconds: float) -> None: ...


class ManualClock:
    """A clock tests move by hand (pass it as the backend's ``clock``): no sleeping."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """For backends that keep time themselves: advancing means waiting."""

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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


def _run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await scenario()

    return asyncio.run(main())


class CacheConformance:
    """Base class of a backend's conformance tests; define ``cache_factory`` (and ``clock``)."""

    @pytest.fixture
    def clock(self) -> Clock:
        return WallClock()

    @pytest.fixture
    def cache_factory(self) -> Callable[..., CacheProtocol]:
        raise NotImplementedError("define a `cache_factory` fixture in the subclass")

    async def release(self, cache: Any) -> None:
        """Called after the test for every cache it built; the suite has no other clean-up."""
        await cache.close()

    @pytest.fixture
    def make_cache(self, cache_factory: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
        """Builds the backend under test and releases everything built, after the test."""
        made: list[Any] = []

        def make(**options: Any) -> Any:
            cache = cache_factory(**options)
            made.append(cache)
            return cache

        yield make

        async def release_all() -> None:
            for cache in made:
                await self.release(cache)

        _run(release_all)

    @pytest.fixture
    def cache(self, make_cache: Callable[..., Any]) -> Any:
        return make_cache()

    def test_satisfies_the_protocol(self, cache: Any) -> None:
        assert isinstance(cache, CacheProtocol)

    def test_missing_key_is_none(self, cache: Any) -> None:
        assert _run(lambda: cache.get("absent")) is None

    def test_set_get_overwrite(self, cache: Any) -> None:
        async def scenario() -> list[Any]:
            await cache.set("k", "first")
            first = await cache.get("k")
            await cache.set("k", "second")
            return [first, await cache.get("k")]

        assert _run(scenario) == ["first", "second"]

    def test_complex_json_values_round_trip_as_copies(self, cache: Any) -> None:
        value = {
            "text": "héllo",
            "n": 3,
            "f": 0.5,
            "ok": True,
            "none": None,
            "items": [1, [2, {"a": []}]],
        }

        async def scenario() -> None:
            await cache.set("doc", value)
            got = await cache.get("doc")
            assert got == value
            got["items"].append("mutated")  # a reader's change is not the cache's
            assert await cache.get("doc") == value

        _run(scenario)

    def test_values_round_trip_exactly(self, cache: Any) -> None:
        async def scenario() -> list[Any]:
            for index, value in enumerate(EXACT_VALUES):
                await cache.set(f"v{index}", value)
            return [await cache.get(f"v{index}") for index in range(len(EXACT_VALUES))]

        # repr: 1 == 1.0 == True for ==, but a cache must not turn one into another
        assert [repr(got) for got in _run(scenario)] == [repr(value) for value in EXACT_VALUES]

    def test_keys_are_arbitrary_text(self, cache: Any) -> None:
        keys = ["with space", "a:b:c", "glob*?[x]", "ünï", "x" * 300, ""]

        async def scenario() -> list[Any]:
            for key in keys:
                await cache.set(key, key)
            return [await cache.get(key) for key in keys]

        assert _run(scenario) == keys

    def test_non_json_value_is_a_clear_type_error(self, cache: Any) -> None:
        with pytest.raises(TypeError, match=r"'obj'.*JSON-serialisable"):
            _run(lambda: cache.set("obj", object()))
        assert _run(lambda: cache.get("obj")) is None

    def test_delete_and_clear(self, cache: Any) -> None:
        async def scenario() -> list[Any]:
            await cache.set("a", 1)
            await cache.set("b", 2)
            await cache.delete("a")
            await cache.delete("never-set")  # no error
            seen = [await cache.get("a"), await cache.get("b")]
            await cache.clear()
            seen.append(await cache.get("b"))
            await cache.clear()  # clearing an empty cache is fine
            await cache.set("c", 3)  # and the cache is usable afterwards
            return [*seen, await cache.get("c")]

        assert _run(scenario) == [None, 2, None, 3]

    def test_ttl_expiry(self, cache: Any, clock: Clock) -> None:
        async def scenario() -> list[Any]:
            await cache.set("short", "v", ttl=0.5)
            await cache.set("forever", "v")
            await clock.advance(0.2)
            before = await cache.get("short")
            await clock.advance(0.4)
            return [before, await cache.get("short"), await cache.get("forever")]

        assert _run(scenario) == ["v", None, "v"]

    def test_zero_or_negative_ttl_is_already_expired(self, cache: Any) -> None:
        async def scenario() -> list[Any]:
            await cache.set("k", "v", ttl=0)
            await cache.set("negative", "v", ttl=-5)
            return [await cache.get("k"), await cache.get("negative")]

        assert _run(scenario) == [None, None]

    def test_expired_set_replaces_an_existing_value(self, cache: Any) -> None:
        async def scenario() -> Any:
            await cache.set("k", "old")
            await cache.set("k", "new", ttl=0)
            return await cache.get("k")

        assert _run(scenario) is None

    def test_overwrite_resets_ttl(self, cache: Any, clock: Clock) -> None:
        async def scenario() -> Any:
            await cache.set("k", "old", ttl=0.5)
            await clock.advance(0.2)
            await cache.set("k", "new")
            await clock.advance(0.5)
            return await cache.get("k")

        assert _run(scenario) == "new"

    def test_default_ttl(self, make_cache: Callable[..., Any], clock: Clock) -> None:
        cache = make_cache(default_ttl=0.5)

        async def scenario() -> list[Any]:
            await cache.set("k", "v")
            await cache.set("longer", "v", ttl=60)
            await clock.advance(0.6)
            return [await cache.get("k"), await cache.get("longer")]

        assert _run(scenario) == [None, "v"]

    def test_zero_default_ttl_keeps_nothing(self, make_cache: Callable[..., Any]) -> None:
        cache = make_cache(default_ttl=0)

        async def scenario() -> list[Any]:
            await cache.set("k", "v")
            await cache.set("explicit", "v", ttl=60)  # an explicit TTL still wins
            return [await cache.get("k"), await cache.get("explicit")]

        assert _run(scenario) == [None, "v"]

    def test_close_is_idempotent(self, cache: Any) -> None:
        async def scenario() -> None:
            await cache.set("k", "v")
            await cache.close()
            await cache.close()  # and once more by `release`: none of them may raise

        _run(scenario)
