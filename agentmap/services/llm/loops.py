"""Event-loop plumbing of an HTTP client: one pool per loop, and a private loop for sync calls.

An aiohttp ``ClientSession`` belongs to the event loop it was made on, yet
one LLM service is shared by every run of a process: ``asyncio.run`` per run,
a batch's loop, worker threads calling the sync API. ``PerLoop`` keeps one
session for each loop that uses the service, made on first use and closed
when that loop shuts its async generators down (``asyncio.run`` does, before
it closes the loop), so nothing is left unclosed and nothing is kept for a
loop that is gone. ``PrivateLoop`` is the loop sync calls run on: a daemon
thread started on the first call (again after a fork, whose child inherits
the loop but not its thread), so sync agents in many worker threads share one
pool.

Kept apart from ``openai_http`` so the service reads as requests and replies.
Nothing here imports an HTTP client: the session comes from a factory.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["PerLoop", "PrivateLoop", "in_running_loop"]

T = TypeVar("T")


class Closable(Protocol):
    @property
    def closed(self) -> bool: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


@dataclass(slots=True)
class _Entry(Generic[S]):
    session: S
    closer: AsyncGenerator[None, None] | None = None


class PerLoop(Generic[S]):
    """One session per event loop, made by ``make`` on first use in that loop."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry[S]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self) -> S:
        """The running loop's session (a new one if it had none, or it was closed)."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None and not entry.session.closed:
            return entry.session
        entry = _Entry(self._make())
        with self._lock:
            self._entries[loop] = entry
        entry.closer = _close_at_loop_shutdown(weakref.ref(self), loop, entry.session)
        await entry.closer.__anext__()  # suspended until the loop finalises it
        return entry.session

    def _forget(self, loop: asyncio.AbstractEventLoop, session: S) -> None:
        with self._lock:
            entry = self._entries.get(loop)
            if entry is not None and entry.session is session:
                del self._entries[loop]

    async def aclose(self) -> None:
        """Close the running loop's session (others close with their loop)."""
        with self._lock:
            entry = self._entries.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.session.close()
            if entry.closer is not None:
                with contextlib.suppress(Exception):
                    await entry.closer.aclose()


async def _close_at_loop_shutdown(
    owner: weakref.ref[PerLoop[Any]], loop: asyncio.AbstractEventLoop, session: Closable
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()
        sessions = owner()
        if sessions is not None:
            sessions._forget(loop, session)


#: Tasks started by ``PrivateLoop.close`` from inside a loop (kept so they are not collected).
_background_tasks: set[asyncio.Task[None]] = set()


class PrivateLoop:
    """An event loop in a daemon thread, for blocking callers; ``on_stop`` runs on it at close."""

    def __init__(self, name: str, on_stop: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._on_stop = on_stop
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.pid = 0

    def _live(self) -> asyncio.AbstractEventLoop | None:
        """The loop, if its thread runs in this process (not a parent's, after a fork)."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None or not thread.is_alive() or self.pid != os.getpid():
            return None
        return loop

    def running(self) -> asyncio.AbstractEventLoop:
        """The loop, started on first use (and anew in a forked child)."""
        loop = self._live()
        if loop is None:
            with self._lock:
                loop = self._live()
                if loop is None:
                    loop = asyncio.new_event_loop()
                    ready = threading.Event()
                    thread = threading.Thread(
                        target=_run, args=(loop, ready), name=self.name, daemon=True
                    )
                    thread.start()
                    ready.wait()
                    self.loop, self.thread, self.pid = loop, thread, os.getpid()
                    atexit.register(_close_at_exit, weakref.ref(self))
        return loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for it (cancelled if the wait is interrupted)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.running())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Run ``on_stop`` there, stop the loop and join its thread (a later call starts anew)."""
        with self._lock:
            loop, thread = self.loop, self.thread
            self.loop = self.thread = None
        if loop is None or thread is None:
            return
        if loop.is_running():
            done = asyncio.run_coroutine_threadsafe(self._stop(), loop)
            with contextlib.suppress(Exception):
                done.result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    async def _stop(self) -> None:
        await self._on_stop()
        await asyncio.get_running_loop().shutdown_asyncgens()


def in_running_loop(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Schedule ``coroutine()`` on the running loop, if there is one (best effort)."""
    with contextlib.suppress(RuntimeError):
        task = asyncio.get_running_loop().create_task(coroutine())
        _background_tasks.add(task)
        task.add_done_callback(_background_tasks.discard)


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def _close_at_exit(private: weakref.ref[PrivateLoop]) -> None:
    owner = private()
    if owner is not None:
        with contextlib.suppress(Exception):
            owner.close()
