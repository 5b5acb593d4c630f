"""Running one node's agent: attempts, retries with back-off, and the events they produce.

Split from the runner so that ``GraphRunner._step`` reads as the sequence of a
step (run the agent, apply the outcome, checkpoint, route) while this module
holds the loop that calls the agent as the current node until it succeeds or
its retries (``RetryPolicy``) run out.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentmap.runtime import events as ev
from agentmap.runtime.calls import call_agent
from agentmap.runtime.context import NodeContext, reset_current, set_current
from agentmap.runtime.keys import ERROR_KEY
from agentmap.runtime.nodes import CompiledNode
from agentmap.runtime.policies import RETURNED_ERROR
from agentmap.runtime.usage import UsageSink
from agentmap.services.protocols import ExecutionTrackerProtocol, LoggerProtocol
from agentmap.workflow.spec import NodeSpec

__all__ = ["Attempts", "Outcome"]

#: What one node execution came to: (success, result or error message, error
#: type, attempts made). A tuple, not an object: it is built once per node.
Outcome = tuple[bool, Any, str, int]


class Attempts:
    """Calls nodes' agents for one runner, with its tracker, logger and back-off clock."""

    def __init__(
        self,
        graph: str,
        graph_nodes: Mapping[str, NodeSpec],
        tracker: ExecutionTrackerProtocol,
        logger: LoggerProtocol,
        rand: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        max_threads: int,
    ) -> None:
        self._graph = graph
        self._graph_nodes = graph_nodes
        self._tracker = tracker
        self._logger = logger
        self._rand = rand
        self._sleep = sleep
        self._max_threads = max_threads

    async def run(
        self,
        node: CompiledNode,
        state: dict[str, Any],
        step: int,
        run_id: str,
        initial: Mapping[str, Any],
        usage: UsageSink,
        resume_values: Mapping[str, Any] | None = None,
        branch: str = "",
        visit: int = 1,
        resumed: bool = False,
    ) -> Outcome:
        """Call the agent, as the current node, until it succeeds or its retries run out.

        An ``Interrupt`` (``interrupt()``) is not a failure: it is not caught
        here, and reaches the runner, which suspends the run.
        """
        if node.pass_state:
            inputs = dict(state)
        else:
            inputs = {param: state.get(key) for key, param in node.inputs}
        ctx = NodeContext(
            run_id,
            self._graph,
            node.spec,
            initial,
            1,
            state,
            usage,
            self._graph_nodes,
            resume_values,
            branch,
            visit,
            resumed,
        )
        policy = node.policy
        token = set_current(ctx)
        try:
            attempt = 0
            while True:
                attempt += 1
                ctx.attempt = attempt
                error: Exception | None
                try:
                    result = (
                        node.process(inputs)
                        if node.direct
                        else await call_agent(node, inputs, self._max_threads)
                    )
                except Exception as exc:  # the agent's failure, whatever it is
                    error, message = exc, _message(node, exc)
                else:
                    failed = result.get(ERROR_KEY) if isinstance(result, Mapping) else None
                    if not failed:
                        return True, result, "", attempt
                    error, message = None, str(failed)
                error_type = RETURNED_ERROR if error is None else type(error).__name__
                self.failed(run_id, node, step, attempt, error_type, message)
                if attempt > policy.retries or not policy.should_retry(error):
                    return False, message, error_type, attempt
                await self._before_retry(node, run_id, step, attempt, message)
        finally:
            reset_current(token)

    async def _before_retry(
        self, node: CompiledNode, run_id: str, step: int, attempt: int, message: str
    ) -> None:
        """Log and record the coming retry, then wait out its back-off."""
        policy = node.policy
        delay = policy.delay(attempt, self._rand)
        self._logger.warning(
            f"node {node.name!r} failed (attempt {attempt}/{policy.retries + 1}): "
            f"{message}; retrying in {delay:.2f}s"
        )
        self._tracker.record(
            ev.NodeRetried(
                run_id,
                self._graph,
                time.time(),
                node=node.name,
                step=step,
                attempt=attempt + 1,
                delay=delay,
            )
        )
        await self._sleep(delay)

    def failed(
        self,
        run_id: str,
        node: CompiledNode,
        step: int,
        attempt: int,
        error_type: str,
        message: str,
    ) -> None:
        """Record one failed attempt: from the agent, or found in its result afterwards."""
        self._tracker.record(
            ev.NodeFailed(
                run_id,
                self._graph,
                time.time(),
                node=node.name,
                step=step,
                attempt=attempt,
                error_type=error_type,
                message=message,
            )
        )


def _message(node: CompiledNode, exc: Exception) -> str:
    timeout = node.policy.timeout
    if isinstance(exc, TimeoutError) and timeout is not None and not str(exc):
        return f"timed out after {timeout:g}s"
    return str(exc) or type(exc).__name__
