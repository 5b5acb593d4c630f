"""Limits on LLM calls: how many are in flight, and how many start per minute.

A batch runs thousands of workflow runs in one process through ONE LLM
service object, and a provider counts requests per API key, not per run. So
the limits live in the service, in one ``CallLimits`` that every backend
holds (litellm, and the fake, so a batch test sees the same pacing):

- Concurrency (``max_concurrency``, ``provider_concurrency``): asyncio
  semaphores belong to one event loop, so each loop gets its own set (a batch
  may run several loops over one service, e.g. Dask worker threads), and sync
  calls share threading semaphores. These caps are per event loop.
- Rate (``rpm``, ``provider_rpm``): one schedule for the whole process, over
  every loop and thread, because that is what the provider counts. It is a
  GCRA ("virtual scheduling"): each request is given the next start time
  ``max(now, due - tolerance)`` and moves ``due`` one interval on, so starts
  are spread evenly instead of a minute's worth going out at once and then
  hitting 429s. A burst of ``max(1, floor(rpm / 60))`` (one second's worth)
  may start together after an idle spell; the interval is
  ``60 / (rpm - burst + 1)`` so that even with the burst no more than ``rpm``
  (``ceil(rpm)`` for a fractional limit) start in any 60-second window.

A call takes its concurrency slot first and only then its start time, so a
call queued behind the concurrency cap does not hold a reservation that would
later let queued calls start in a bunch. The schedule is computed under a
threading lock and the wait happens outside it. A call cancelled while it
waits keeps its reservation (the schedule only errs on the slow side).
Retries and fallbacks that litellm's Router makes inside one call are part
of that call, not separate requests here.

Clock and sleeps are constructor arguments so tests can check the schedule
exactly without waiting.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmap.settings import LLMSettings

__all__ = ["CallLimits"]

_ALL = "all"


def _provider_key(provider: str) -> str:
    return f"provider:{provider.lower()}"


class _Rate:
    """One requests-per-minute limit as a virtual schedule (GCRA)."""

    __slots__ = ("burst", "due", "interval", "tolerance")

    def __init__(self, rpm: float) -> None:
        if not 0 < rpm < math.inf:
            raise ValueError(f"a requests-per-minute limit must be a positive number, got {rpm}")
        self.burst = max(1, math.floor(rpm / 60))
        #: Seconds between starts once the burst is used up.
        self.interval = 60.0 / (rpm - self.burst + 1)
        #: How far ahead of the schedule a burst may run.
        self.tolerance = (self.burst - 1) * self.interval
        #: The theoretical start time of the next request.
        self.due = -math.inf

    def earliest(self) -> float:
        return self.due - self.tolerance

    def take(self, start: float) -> None:
        self.due = max(self.due, start) + self.interval


class CallLimits:
    """Concurrency and rate limits shared by every call through one LLM service.

    ``async with limits.aslot(provider):`` around an async request and
    ``with limits.slot(provider):`` around a sync one. ``provider`` (any case)
    selects the per-provider limits; None applies only the global ones.
    """

    def __init__(
        self,
        *,
        max_concurrency: int | None = None,
        provider_concurrency: Mapping[str, int] | None = None,
        rpm: float | None = None,
        provider_rpm: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        sync_sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._concurrency = {_provider_key(p): n for p, n in (provider_concurrency or {}).items()}
        if max_concurrency is not None:
            self._concurrency[_ALL] = max_concurrency
        self._rates = {_provider_key(p): _Rate(n) for p, n in (provider_rpm or {}).items()}
        if rpm is not None:
            self._rates[_ALL] = _Rate(rpm)
        for key, n in self._concurrency.items():
            if n < 1:
                raise ValueError(f"concurrency limit {key!r} must be at least 1, got {n}")
        self._clock = clock
        self._sleep = sleep
        self._sync_sleep = sync_sleep
        self._rate_lock = threading.Lock()
        self._sync_semaphores = {
            key: threading.BoundedSemaphore(n) for key, n in self._concurrency.items()
        }
        self._loops_lock = threading.Lock()
        self._async_semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    @classmethod
    def from_settings(
        cls,
        settings: LLMSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        sync_sleep: Callable[[float], object] = time.sleep,
    ) -> CallLimits:
        """The limits ``settings`` asks for (clock and sleeps as in the constructor)."""
        return cls(
            max_concurrency=settings.max_concurrency,
            provider_concurrency=settings.provider_concurrency,
            rpm=settings.rpm,
            provider_rpm=settings.provider_rpm,
            clock=clock,
            sleep=sleep,
            sync_sleep=sync_sleep,
        )

    @property
    def enabled(self) -> bool:
        """Whether any limit is set (a service may skip the slot when none is)."""
        return bool(self._concurrency or self._rates)

    def _keys(self, limits: Mapping[str, object], provider: str | None) -> list[str]:
        """The limits a call to ``provider`` is under, the provider's first.

        Always in this order, so no two calls wait for each other's semaphore;
        and a call queued for its provider's slot holds no global slot that a
        call to another provider could use meanwhile.
        """
        keys = [key] if provider and (key := _provider_key(provider)) in limits else []
        if _ALL in limits:
            keys.append(_ALL)
        return keys

    def _reserve(self, provider: str | None) -> float:
        """Claim a start time under every rate limit that applies; seconds to wait for it."""
        rates = [self._rates[key] for key in self._keys(self._rates, provider)]
        if not rates:
            return 0.0
        with self._rate_lock:
            now = self._clock()
            start = max(now, *(rate.earliest() for rate in rates))
            for rate in rates:
                rate.take(start)
        return start - now

    def _loop_semaphores(self) -> dict[str, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        semaphores = self._async_semaphores.get(loop)
        if semaphores is None:
            with self._loops_lock:
                semaphores = self._async_semaphores.get(loop)
                if semaphores is None:
                    semaphores = {k: asyncio.Semaphore(n) for k, n in self._concurrency.items()}
                    self._async_semaphores[loop] = semaphores
        return semaphores

    @asynccontextmanager
    async def aslot(self, provider: str | None = None) -> AsyncIterator[None]:
        """Wait for a concurrency slot, then for the call's start time; hold the slot."""
        keys = self._keys(self._concurrency, provider)
        acquired: list[asyncio.Semaphore] = []
        try:
            if keys:
                semaphores = self._loop_semaphores()
                for key in keys:
                    await semaphores[key].acquire()
                    acquired.append(semaphores[key])
            delay = self._reserve(provider)
            if delay > 0:
                await self._sleep(delay)
            yield
        finally:
            for semaphore in reversed(acquired):
                semaphore.release()

    @contextmanager
    def slot(self, provider: str | None = None) -> Iterator[None]:
        """The blocking twin of ``aslot``, for sync calls (worker threads)."""
        acquired: list[threading.BoundedSemaphore] = []
        try:
            for key in self._keys(self._concurrency, provider):
                self._sync_semaphores[key].acquire()
                acquired.append(self._sync_semaphores[key])
            delay = self._reserve(provider)
            if delay > 0:
                self._sync_sleep(delay)
            yield
        finally:
            for semaphore in reversed(acquired):
                semaphore.release()
