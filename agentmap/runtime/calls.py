"""How a node's agent is called: on the loop, awaited, or in a worker thread; under a timeout.

Also the stand-ins a runner uses when it is given no tracker or logger, so the
hot path never checks for None.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agentmap.runtime.nodes import ASYNC, INLINE, CompiledNode

__all__ = ["NullLogger", "NullTracker", "call_agent", "run_in_thread"]

_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _executor(size: int) -> ThreadPoolExecutor:
    """The process's pool for sync agents of this size, created on first use.

    Not asyncio's default executor: that one has ``min(32, cores + 4)`` threads
    (six on a 2-core machine), so a fan-out of 50 sync agents waiting on a
    network call would run six at a time. Threads start only when needed.
    """
    pool = _executors.get(size)
    if pool is None:
        with _executors_lock:
            pool = _executors.get(size)
            if pool is None:
                pool = _executors[size] = ThreadPoolExecutor(size, "agentmap-agent")
    return pool


def run_in_thread(
    process: Callable[[dict[str, Any]], Any], inputs: dict[str, Any], max_threads: int
) -> asyncio.Future[Any]:
    """``process(inputs)`` in a worker thread that sees the caller's context variables."""
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(
        _executor(max_threads), context.run, process, inputs
    )


async def call_agent(node: CompiledNode, inputs: dict[str, Any], max_threads: int) -> Any:
    """One attempt of ``node``'s agent, honouring its Context ``timeout``."""
    timeout = node.policy.timeout
    mode = node.mode
    if timeout is None:
        if mode == INLINE:
            return node.process(inputs)
        if mode == ASYNC:
            return await node.process(inputs)
        return await run_in_thread(node.process, inputs, max_threads)
    if mode == INLINE:
        # A sync inline agent cannot be interrupted; enforce the limit afterwards.
        t0 = time.perf_counter()
        result = node.process(inputs)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError
        return result
    async with asyncio.timeout(timeout):
        if mode == ASYNC:
            return await node.process(inputs)
        return await run_in_thread(node.process, inputs, max_threads)


class NullTracker:
    def record(self, event: Any) -> None:
        pass

    def flush(self) -> None:
        pass


class NullLogger:
    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        pass

    info = warning = error = debug
