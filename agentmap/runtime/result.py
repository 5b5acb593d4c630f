"""What a run returns: enough to report, assert on in tests, and serialise with ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentmap.runtime.checkpoint import Waiting
from agentmap.runtime.usage import LLMUsage, usage_summary

__all__ = ["NodeTiming", "RunResult", "RunStatus"]

RunStatus = Literal["completed", "failed", "suspended"]


@dataclass(slots=True)
class NodeTiming:
    node: str
    #: Seconds spent in the node, all attempts and retry back-off included.
    duration: float
    success: bool
    attempts: int = 1


@dataclass(slots=True, repr=False)
class RunResult:
    run_id: str
    graph: str
    status: RunStatus
    state: dict[str, Any]
    path: list[str] = field(default_factory=list)
    timings: list[NodeTiming] = field(default_factory=list)
    error: str | None = None
    #: The node whose unhandled failure ended the run, if any.
    failed_node: str | None = None
    duration: float = 0.0
    #: Every LLM call of the run, subgraphs' included, in the order they finished.
    llm_calls: list[LLMUsage] = field(default_factory=list)
    #: A ``suspended`` run waits here (``agentmap resume RUN_ID --set field=value``).
    waiting: Waiting | None = None

    @property
    def tokens(self) -> int:
        return sum(c.prompt_tokens + c.completion_tokens for c in self.llm_calls)

    @property
    def cost(self) -> float | None:
        costs = [c.cost for c in self.llm_calls if c.cost is not None]
        return sum(costs) if costs else None

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def __repr__(self) -> str:
        # Short on purpose: the state and timings of a long run are huge, and asyncio
        # formats a finished task's result (this) when it restores signal handlers.
        return (
            f"RunResult(run_id={self.run_id!r}, graph={self.graph!r}, status={self.status!r}, "
            f"steps={len(self.path)}, error={self.error!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "graph": self.graph,
            "status": self.status,
            "error": self.error,
            "failed_node": self.failed_node,
            "duration": self.duration,
            "path": list(self.path),
            "timings": [
                {
                    "node": t.node,
                    "duration": t.duration,
                    "success": t.success,
                    "attempts": t.attempts,
                }
                for t in self.timings
            ],
            "llm": usage_summary(self.llm_calls),
            "waiting": self.waiting.to_dict() if self.waiting is not None else None,
            "state": self.state,
        }
