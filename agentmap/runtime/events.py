"""Typed run events, sent to the execution tracker as a run progresses.

Events are small slotted dataclasses built on the hot path (not frozen: a frozen
dataclass costs four times as much to build). They carry names, numbers and
error messages, never the run's state or inputs, which may be large or
private. An error message is whatever an agent raised or returned, so it may
quote a value: trackers that write outside the process mask the configured
secrets (see ``JsonlTracker``). ``to_dict`` gives the JSON form trackers write.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any, ClassVar

__all__ = [
    "LLMCalled",
    "NodeFailed",
    "NodeFinished",
    "NodeRetried",
    "NodeStarted",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "current_batch",
]

#: (batch job id, row number) of the run being started, set by ``agentmap.batch`` around
#: each row; a tracker reads it at ``run_started`` (the OTel one tags the row's trace).
#: A context variable, not an event field: only batches set it, and plain runs pay nothing.
current_batch: ContextVar[tuple[str, int] | None] = ContextVar(
    "agentmap_current_batch", default=None
)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(slots=True)
class RunEvent:
    kind: ClassVar[str] = "event"
    run_id: str
    graph: str
    #: Wall-clock time (``time.time()``) when the event happened.
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value and costs ~20x more,
        # and events hold only scalars.
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        data = {name: getattr(self, name) for name in names}
        data["event"] = self.kind
        return data


@dataclass(slots=True)
class RunStarted(RunEvent):
    kind: ClassVar[str] = "run_started"
    entry: str = ""
    #: Set on a subgraph's run: the run and the graph node that started it.
    parent_run_id: str | None = None
    parent_node: str | None = None


@dataclass(slots=True)
class RunFinished(RunEvent):
    kind: ClassVar[str] = "run_finished"
    status: str = "completed"
    duration: float = 0.0
    steps: int = 0
    error: str | None = None


@dataclass(slots=True)
class NodeStarted(RunEvent):
    kind: ClassVar[str] = "node_started"
    node: str = ""
    step: int = 0


@dataclass(slots=True)
class NodeFinished(RunEvent):
    kind: ClassVar[str] = "node_finished"
    node: str = ""
    step: int = 0
    duration: float = 0.0
    success: bool = True
    attempts: int = 1
    #: The next nodes the run took after this one (empty: its branch or the run ended).
    route: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = RunEvent.to_dict(self)
        data["route"] = list(self.route)  # the JSON form, as a tracker reads it back
        return data


@dataclass(slots=True)
class NodeFailed(RunEvent):
    """One failed attempt of a node (a retry may follow)."""

    kind: ClassVar[str] = "node_failed"
    node: str = ""
    step: int = 0
    attempt: int = 1
    error_type: str = ""
    message: str = ""


@dataclass(slots=True)
class NodeRetried(RunEvent):
    kind: ClassVar[str] = "node_retried"
    node: str = ""
    step: int = 0
    attempt: int = 2
    delay: float = 0.0


@dataclass(slots=True)
class LLMCalled(RunEvent):
    """One LLM call made by a node: model, latency, tokens, cost (no message contents)."""

    kind: ClassVar[str] = "llm_called"
    node: str = ""
    model: str = ""
    provider: str | None = None
    latency: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cached: bool = False
