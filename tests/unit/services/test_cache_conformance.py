"""Every cache backend honours ``CacheProtocol`` the same way.

A new backend (redis, ...) is added as one more ``cache`` fixture param that
builds it with the injected ``clock``; every test below then runs against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agentmap.services.cache.memory import MemoryCache
from agentmap.services.cache.sqlite import SqliteCache
from agentmap.services.protocols import CacheProtocol


class Clock:
    """A clock tests move by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Factory = Callable[[Clock, Path], CacheProtocol]
BACKENDS: dict[str, Factory] = {
    "memory": lambda clock, _: MemoryCache(clock=clock),
    "sqlite": lambda clock, tmp: SqliteCache(tmp / "cache" / "c.sqlite3", clock=clock),
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
async def cache(
    request: pytest.FixtureRequest, clock: Clock, tmp_path: Path
) -> AsyncIterator[CacheProtocol]:
    backend = BACKENDS[request.param](clock, tmp_path)
    yield backend
    await backend.close()


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


async def test_ttl_expiry(cache: CacheProtocol, clock: Clock) -> None:
    await cache.set("short", "v", ttl=10)
    await cache.set("forever", "v")
    clock.advance(9.9)
    assert await cache.get("short") == "v"
    clock.advance(0.2)
    assert await cache.get("short") is None
    assert await cache.get("forever") == "v"


async def test_zero_ttl_is_already_expired(cache: CacheProtocol) -> None:
    await cache.set("k", "v", ttl=0)
    assert await cache.get("k") is None


async def test_overwrite_resets_ttl(cache: CacheProtocol, clock: Clock) -> None:
    await cache.set("k", "old", ttl=5)
    clock.advance(4)
    await cache.set("k", "new")
    clock.advance(100)
    assert await cache.get("k") == "new"


async def test_close_is_idempotent(cache: CacheProtocol) -> None:
    await cache.set("k", "v")
    await cache.close()
    await cache.close()  # and once more by the fixture: none of them may raise


@pytest.mark.parametrize("backend", sorted(BACKENDS))
async def test_default_ttl(backend: str, clock: Clock, tmp_path: Path) -> None:
    cache = (
        MemoryCache(default_ttl=5, clock=clock)
        if backend == "memory"
        else SqliteCache(tmp_path / "c.sqlite3", default_ttl=5, clock=clock)
    )
    await cache.set("k", "v")
    await cache.set("longer", "v", ttl=50)
    clock.advance(6)
    assert await cache.get("k") is None
    assert await cache.get("longer") == "v"
    await cache.close()


# --------------------------------------------------------------------------- backend-specific


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
    clock = Clock()
    path = tmp_path / "c.sqlite3"
    first = SqliteCache(path, clock=clock)
    await first.set("k", "v", ttl=10)
    await first.close()
    clock.advance(11)
    second = SqliteCache(path, clock=clock)
    assert await second.get("k") is None
    await second.close()
