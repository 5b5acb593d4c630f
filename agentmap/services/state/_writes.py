"""Durability modes (``state.durability``) over a backend's one-transaction write.

A SQL backend implements one coroutine, ``write(ops)``, that applies a list
of operations in a single transaction (all or nothing: a crash mid-write
leaves the previous checkpoint valid). This buffer decides when it is called:

- ``sync``: every operation is written before ``add`` returns, so a step's
  checkpoint is stored before the next node starts (the default);
- ``async``: operations are queued and written together as soon as the run
  yields to the event loop (typically while the next node awaits its LLM
  call), so writing overlaps work; a crash loses at most what was queued;
- ``exit``: nothing is written until the run ends, suspends or is resumed;
  a crash loses the run.

Ending, suspending and reopening a run are barriers in every mode: when
``finish_run`` returns, everything before it is stored. A write that fails in
the background is raised by the next operation or barrier, so a run whose
checkpoints were not stored never reports success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

__all__ = ["Durability", "Op", "WriteBuffer"]

Durability = Literal["sync", "async", "exit"]
#: ("start", RunStart) | ("step", run_id, StepRecord) | ("finish", run_id, status, error,
#: waiting) | ("reopen", run_id, fingerprint): what ``write`` applies, in order.
Op = tuple[Any, ...]


class WriteBuffer:
    def __init__(
        self, durability: Durability, write: Callable[[list[Op]], Awaitable[None]]
    ) -> None:
        if durability not in ("sync", "async", "exit"):
            raise ValueError(f"durability must be sync, async or exit, not {durability!r}")
        self.durability = durability
        self._write = write
        self._pending: list[Op] = []
        self._flushing: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def add(self, op: Op) -> None:
        """Write ``op`` now (sync) or later (async, exit)."""
        self._raise_failure()
        if self.durability == "sync":
            await self._write([op])
            return
        self._pending.append(op)
        if self.durability == "async" and self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush_soon())

    async def barrier(self, op: Op | None = None) -> None:
        """Write everything queued, and ``op`` with it, before returning."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._raise_failure()
        ops, self._pending = self._pending, []
        if op is not None:
            ops.append(op)
        if ops:
            await self._write(ops)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)
        ops, self._pending = self._pending, []
        try:
            if ops:
                await self._write(ops)
        except BaseException as exc:  # kept for the run's next operation to raise
            self._error = exc
        finally:
            self._flushing = None

    def _raise_failure(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error
