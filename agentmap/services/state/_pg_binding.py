"""One event loop's connection pool and write buffer, for the postgres state backend.

A psycopg async pool belongs to the loop that opened it; ``PostgresStateAdapter``
keeps one ``LoopBinding`` per running loop (``PerLoop``) and closes it with
the loop. Nothing here imports psycopg: the adapter hands in how to make,
open and write through a pool.

Writes go through a group commit. What arrives while the writes in flight are
at their limit goes together into the next write, when one ends, so with many
runs at once a commit is shared instead of queued for. In ``sync`` durability
up to ``limit`` writes (the pool's size) run at once and only steps are
grouped: each run awaits its own writes, so steps of different runs have no
order to keep, and every step is still stored before ``save_step`` returns.
Batches (``async``, ``exit``) go one at a time, in the order they were taken:
on a pool two could commit out of order (a run's end before its start).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from agentmap.services.state._writes import Durability, Op, WriteBuffer

__all__ = ["LoopBinding"]


class _Pool(Protocol):
    async def close(self) -> None: ...


P = TypeVar("P", bound=_Pool)
_Waiting = list[tuple[list[Op], "asyncio.Future[None]"]]


class LoopBinding(Generic[P]):
    """The pool and ``WriteBuffer`` of one event loop (made in it, closed with it)."""

    def __init__(
        self,
        durability: Durability,
        limit: int,
        *,
        make_pool: Callable[[Callable[[Any], Awaitable[None]]], P],
        open_pool: Callable[[P], Awaitable[None]],
        apply: Callable[[P, list[Op]], Awaitable[None]],
    ) -> None:
        #: ``make_pool(configure)``: ``configure`` is to be called with each new connection.
        self.pool = make_pool(self._track)
        self.buffer = WriteBuffer(durability, self.write)
        self.opened = False
        self.closed = False
        self._open_pool, self._apply = open_pool, apply
        self._opening = asyncio.Lock()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._busy = 0
        self._limit = limit if durability == "sync" else 1
        self._queued: _Waiting = []
        self._groups: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        async with self._opening:
            if not self.opened:
                try:
                    await self._open_pool(self.pool)
                except BaseException:
                    self.closed = True  # the next use makes a new binding
                    raise
                self.opened = True

    async def write(self, ops: list[Op]) -> None:
        """Write ``ops`` (the ``WriteBuffer``'s write): stored when this returns."""
        if self._busy >= self._limit and (
            self._limit == 1 or all(kind == "step" for kind, _ in ops)
        ):
            future = asyncio.get_running_loop().create_future()
            self._queued.append((ops, future))
            await future
        elif ops:
            self._busy += 1
            try:
                await self._apply(self.pool, ops)
            finally:
                self._busy -= 1
                self._next_group()

    async def settled(self) -> None:
        """Return once everything queued, and any batch still being written, is stored."""
        await self.buffer.barrier()
        if self._limit == 1:
            await self.write([])  # behind every batch taken before

    async def close(self) -> None:
        """Write what is queued, then close the pool (also when the loop shuts down)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.opened:
                try:
                    await self.buffer.barrier()
                except asyncio.CancelledError:
                    # asyncio.run cancels a pending background flush before it closes the
                    # loop's generators (which call this): its operations are still queued.
                    await self.buffer.barrier()
        finally:
            await self._close_pool()

    def _next_group(self) -> None:
        if self._queued and self._busy < self._limit:
            group, self._queued = self._queued, []
            self._busy += 1
            task = asyncio.ensure_future(self._write_group(group))
            self._groups.add(task)
            task.add_done_callback(self._groups.discard)

    async def _write_group(self, group: _Waiting) -> None:
        results: list[BaseException | None] = [None] * len(group)
        try:
            try:
                await self._apply(self.pool, [op for ops, _ in group for op in ops])
            except KeyError:  # a run that is not stored: each alone, for its own answer
                for index, (ops, _) in enumerate(group):
                    try:
                        await self._apply(self.pool, ops)
                    except Exception as exc:
                        results[index] = exc
            except Exception as exc:
                results = [exc] * len(group)
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(None) if result is None else future.set_exception(result)
        finally:
            for _, future in group:
                future.cancel()  # only those left undone: the loop is going away
            self._busy -= 1
            self._next_group()

    async def _track(self, conn: Any) -> None:
        """The pool's ``configure``: remember each connection it makes, to close at the end."""
        self._connections.add(conn)

    async def _close_pool(self) -> None:
        try:
            await self.pool.close()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # The loop is shutting down: asyncio.run cancelled the pool's worker tasks
            # before closing generators, and psycopg_pool's close() stops at waiting for
            # them, leaving its connections open. Close them here.
            for conn in list(self._connections):
                await conn.close()
