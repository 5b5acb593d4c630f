"""A cache in Redis: shared by every process and machine that points at one server.

This is the one module that imports the ``redis`` package, lazily, when the
backend is built (``pip install 'agentmap[redis]'``). Values are the same JSON
text the other backends store (see ``_codec``); keys are ``prefix + key`` and
``clear`` removes only the keys under the prefix (SCAN + UNLINK, never FLUSHDB),
so several applications can share one database.

Time to live is Redis's own (``SET ... PX``, millisecond precision, at least
1 ms for any positive TTL); a TTL of zero or less removes the key, which is
what "stored already expired" means on the other backends.

Event loops: a ``redis.asyncio`` connection belongs to the loop that opened it,
and ``GraphRunner.run`` starts a new loop (``asyncio.run``) per call while the
container hands every run the same cache. So a client is kept per running
loop. Each is closed when its loop shuts down (``asyncio.run`` and
``asyncio.Runner`` finalise pending async generators, and a small one here
holds the client), or by ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.services.cache._codec import decode, encode

if TYPE_CHECKING:
    from pydantic import SecretStr
    from redis.asyncio import Redis

__all__ = ["RedisCache"]

_MASK = "**********"
#: Keys per SCAN page and per UNLINK call in ``clear``.
_BATCH = 500
#: Seconds to wait for a TCP connection (a ``socket_connect_timeout`` in the URL wins).
_CONNECT_TIMEOUT = 5.0
#: A TTL longer than this (about 31,700 years, in ms) is stored without expiry,
#: as Redis rejects expiry times past its clock's range.
_FOREVER_MS = 10**15
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)([^&#]*)")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class _Binding:
    """The client of one event loop and the async generator that closes it with the loop."""

    __slots__ = ("client", "guard")

    def __init__(self, client: Redis, guard: AsyncGenerator[None, None]) -> None:
        self.client = client
        self.guard = guard


class RedisCache:
    def __init__(
        self,
        url: str | SecretStr,
        *,
        prefix: str = "agentmap:cache:",
        default_ttl: float | None = None,
    ) -> None:
        try:
            import redis.asyncio
            import redis.exceptions
        except ImportError:
            raise MissingExtraError("redis", "redis", "The redis cache backend") from None
        if not prefix:
            raise ValueError("prefix must not be empty: clear() deletes every key under it")
        plain = url if isinstance(url, str) else url.get_secret_value()
        self._url = plain
        self._hidden = _passwords(plain)
        #: The URL with its password masked: safe to print.
        self.display_url = _mask_url(plain)
        try:
            redis.asyncio.connection.parse_url(plain)
        except ValueError as exc:
            raise ConfigurationError(
                f"cache.redis_url {self.display_url!r} is not a usable Redis URL: "
                f"{self._masked(str(exc))}"
            ) from None
        self.prefix = prefix
        self.default_ttl = default_ttl
        self._redis = redis.asyncio
        self._unreachable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._bindings: dict[asyncio.AbstractEventLoop, _Binding] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisCache({self.display_url!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ protocol

    async def get(self, key: str) -> Any | None:
        with self._translate_errors():
            raw = await (await self._client()).get(self.prefix + key)
        if raw is None:
            return None
        return decode(raw.decode("utf-8"))

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``; ``<= 0``: expired)."""
        text = encode(key, value)
        ttl = self.default_ttl if ttl is None else ttl
        name = self.prefix + key
        with self._translate_errors():
            client = await self._client()
            if ttl is not None and ttl <= 0:
                await client.delete(name)
                return
            milliseconds = None if ttl is None else _milliseconds(ttl)
            await client.set(name, text, px=milliseconds)

    async def delete(self, key: str) -> None:
        with self._translate_errors():
            await (await self._client()).delete(self.prefix + key)

    async def clear(self) -> None:
        """Delete every key under ``prefix`` (and nothing else), in batches."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.prefix) + "*"
        with self._translate_errors():
            client = await self._client()
            batch: list[bytes] = []
            async for name in client.scan_iter(match=pattern, count=_BATCH):
                batch.append(name)
                if len(batch) >= _BATCH:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

    async def close(self) -> None:
        """Close every connection pool; a later call connects again."""
        with self._lock:
            bindings = list(self._bindings.items())
            self._bindings.clear()
        current = asyncio.get_running_loop()
        for loop, binding in bindings:
            if loop is current:
                await binding.guard.aclose()
            elif loop.is_running():
                # A loop in another thread: close its client there.
                future = asyncio.run_coroutine_threadsafe(_finish(binding.guard), loop)
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(future)
            elif loop.is_closed():
                await self._abandon(binding.client)
            # else: an idle loop; the guard closes the client if that loop runs again.

    # ------------------------------------------------------------------ internals

    async def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        binding = self._bindings.get(loop)
        if binding is not None:
            return binding.client
        client: Redis = self._redis.Redis.from_url(
            self._url, socket_connect_timeout=_CONNECT_TIMEOUT
        )
        guard = self._guard(loop, client)
        with self._lock:
            self._bindings[loop] = _Binding(client, guard)
            stale = [other for other in self._bindings if other.is_closed()]
            abandoned = [self._bindings.pop(other).client for other in stale]
        # Registers the generator with the loop, which finalises it on shutdown.
        await anext(guard)
        for old in abandoned:
            await self._abandon(old)
        return client

    async def _guard(
        self, loop: asyncio.AbstractEventLoop, client: Redis
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                binding = self._bindings.get(loop)
                if binding is not None and binding.client is client:
                    del self._bindings[loop]
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _abandon(self, client: Redis) -> None:
        """Drop a client whose loop was closed without finalising it (no ``asyncio.run``).

        Its connections cannot be closed gracefully any more; this marks them
        closed so that nothing tries again, and the sockets go with the objects.
        """
        with contextlib.suppress(Exception):
            await client.aclose()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except self._unreachable as exc:
            reason = self._masked(str(exc)).rstrip(". ") or type(exc).__name__
            raise ConfigurationError(
                f"Cannot use the Redis cache at {self.display_url}: {reason}. Check that the "
                "server is running and that cache.redis_url (AGENTMAP_CACHE__REDIS_URL) "
                "points to it."
            ) from None

    def _masked(self, text: str) -> str:
        for secret in self._hidden:
            text = text.replace(secret, _MASK)
        return text


async def _finish(guard: AsyncGenerator[None, None]) -> None:
    await guard.aclose()


def _milliseconds(ttl: float) -> int | None:
    """A positive TTL in whole milliseconds (at least 1), or None for "never expires"."""
    if ttl != ttl or ttl * 1000 >= _FOREVER_MS:  # NaN never expires on the other backends
        return None
    return max(1, round(ttl * 1000))


def _passwords(url: str) -> list[str]:
    """Every form of the password in ``url``, longest first, for masking messages."""
    found: set[str] = set()
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        if password:
            found.update({password, unquote(password)})
    for match in _QUERY_PASSWORD.finditer(url):
        if match.group(2):
            found.update({match.group(2), unquote(match.group(2))})
    return sorted(found, key=len, reverse=True)


def _mask_url(url: str) -> str:
    """``url`` with the password of its user part and any ``password=`` parameter masked."""
    masked = _QUERY_PASSWORD.sub(rf"\g<1>{_MASK}", url)
    try:
        parts = urlsplit(masked)
        password = parts.password
    except ValueError:
        return _MASK  # not parseable: show nothing rather than a secret
    if not password:
        return masked
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:{_MASK}@{host}").geturl()
