"""LLM calls made during a run: reported by LLM services, summed into the run's result.

An LLM service is one object shared by every run of an application, so it
cannot hold per-run totals. It reports each call here instead; the runner has
put a per-run sink in the current node's context, which records a tracker
event and keeps the call for ``RunResult``. Outside a run (a script calling
the service directly) a report goes nowhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agentmap.runtime import events as ev
from agentmap.runtime.context import current_node_or_none

__all__ = ["LLMUsage", "UsageSink", "report_llm_call", "step_usage", "usage_summary"]


@dataclass(slots=True)
class LLMUsage:
    """One LLM call: what it cost. Never the messages or the reply."""

    model: str
    provider: str | None = None
    #: Seconds from request to reply (0 for a cached reply).
    latency: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: US dollars, from litellm's price table; None when the model has no price.
    cost: float | None = None
    cached: bool = False
    #: The node that made the call (set by the sink).
    node: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "model": self.model,
            "provider": self.provider,
            "latency": self.latency,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "cached": self.cached,
        }


class UsageSink:
    """Collects one run's LLM calls; calls may come from worker threads."""

    __slots__ = ("_graph", "_lock", "_record", "_run_id", "calls")

    def __init__(self, run_id: str, graph: str, record: Callable[[Any], None]) -> None:
        self.calls: list[LLMUsage] = []
        self._run_id = run_id
        self._graph = graph
        self._record = record
        self._lock = threading.Lock()

    def add(self, node: str, usage: LLMUsage) -> None:
        usage.node = node
        with self._lock:
            self.calls.append(usage)
            self._record(
                ev.LLMCalled(
                    self._run_id,
                    self._graph,
                    time.time(),
                    node=node,
                    model=usage.model,
                    provider=usage.provider,
                    latency=usage.latency,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    cost=usage.cost,
                    cached=usage.cached,
                )
            )

    def absorb(self, calls: Iterable[LLMUsage]) -> None:
        """Count a subgraph's calls in this run's totals (their events are the child's)."""
        with self._lock:
            self.calls.extend(calls)


def report_llm_call(usage: LLMUsage) -> None:
    """Called by LLM services after each call; a no-op outside a run."""
    ctx = current_node_or_none()
    if ctx is not None and ctx.usage is not None:
        ctx.usage.add(ctx.node.name, usage)


def usage_summary(calls: Iterable[LLMUsage]) -> dict[str, Any]:
    """Totals for ``RunResult.to_dict()`` and the CLI."""
    calls = list(calls)
    costs = [c.cost for c in calls if c.cost is not None]
    return {
        "calls": len(calls),
        "cached_calls": sum(1 for c in calls if c.cached),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "cost": round(sum(costs), 10) if costs else None,
        "by_call": [c.to_dict() for c in calls],
    }


def step_usage(calls: list[LLMUsage], before: int, node: str) -> dict[str, Any] | None:
    """The LLM calls ``node`` made since the run had ``before`` calls, summed for its
    checkpoint (None if it made none)."""
    if len(calls) == before:  # the common case: a step with no LLM call
        return None
    mine = [c for c in calls[before:] if c.node == node]
    if not mine:
        return None
    costs = [c.cost for c in mine if c.cost is not None]
    return {
        "calls": len(mine),
        "tokens": sum(c.prompt_tokens + c.completion_tokens for c in mine),
        "cost": sum(costs) if costs else None,
    }
