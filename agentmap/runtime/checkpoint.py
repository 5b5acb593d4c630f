"""What a durable run stores: its start, a record per step, its end; and how they replay.

The runner writes these records through a state adapter
(``StateAdapterProtocol``) and reads them back to resume. A checkpoint is a
step record: the fields the node wrote (its *delta*), the route it took, and
where it ran (``branch``, ``visit``). The state after step N is the run's
initial state with the deltas of steps 1..N applied in step order, so a step
costs O(fields written), not O(state size), and a 1,000-step run loads as
1,000 small rows.

Resume is replay: the runner starts the graph again from its entry, and every
node execution whose record exists (same branch, same node, same visit) takes
its recorded delta and route instead of calling the agent. Routing, joins and
merges are deterministic given those outcomes, so the run arrives where it
stopped, with the same state, and only then starts calling agents again. A
branch that finished is never run twice, and a fork (``rerun --from STEP``) is
a copy of the records up to STEP replayed the same way.

This module is standard library only: backends import it, and so does the
runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "RunStart",
    "RunSummary",
    "StepRecord",
    "StoredRun",
    "StoredStatus",
    "Waiting",
    "replay_map",
    "state_after",
]

#: ``interrupted``: a server shut down before the run ended (``agentmap serve``);
#: ``cancelled``: a request cancelled it. Both resume like a failed run.
StoredStatus = Literal["running", "suspended", "completed", "failed", "interrupted", "cancelled"]


@dataclass(frozen=True, slots=True)
class RunStart:
    """What ``start_run`` stores once per run."""

    run_id: str
    graph: str
    initial_state: Mapping[str, Any]
    #: The workflow CSV (absolute path), so ``agentmap resume RUN_ID`` can reload it.
    workflow: str | None = None
    #: ``agentmap.runtime.fingerprint``: the file's digest and one per node, to say what changed.
    fingerprint: Mapping[str, Any] | None = None
    #: The run this one was forked from (``runs rerun``) or that ran it as a subgraph.
    parent_run_id: str | None = None
    forked_from_step: int | None = None


@dataclass(slots=True)
class StepRecord:
    """One finished node execution: a checkpoint."""

    #: 1-based, unique within the run, in the order steps started.
    step: int
    node: str
    #: The fields the node wrote (outputs, ``last_action_success``, ``error``/``errors``).
    delta: Mapping[str, Any]
    #: The next nodes the run took after this one (empty: the branch or run ended).
    route: tuple[str, ...] = ()
    ok: bool = True
    #: The node's failure was unhandled and ended the run here. Resume runs it again.
    final: bool = False
    #: The parallel branch ("" on the main line, "0.1" for the second target of a
    #: fan-out inside the first), and the how-manieth time it ran this node.
    branch: str = ""
    visit: int = 1
    #: Epoch seconds when the node started, and seconds it took (all attempts).
    started_at: float = 0.0
    duration: float = 0.0
    attempts: int = 1
    #: LLM calls of this step: ``{"calls": n, "tokens": n, "cost": usd or None}``.
    usage: Mapping[str, Any] | None = None
    #: ``delta`` as JSON text, when the adapter encoded it already (``encode_delta``).
    encoded: str | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str, int]:
        """Where in the run this step happened; the same in a replay of the run."""
        return (self.branch, self.node, self.visit)

    @property
    def idempotency_key(self) -> str:
        """Stable across resumes of one run: ``node@branch#visit`` (the run id is added by
        ``NodeContext.idempotency_key``)."""
        return f"{self.node}@{self.branch}#{self.visit}"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A suspended run waits here: for ``fields`` at ``node``, asking ``question``."""

    node: str
    question: str
    fields: tuple[str, ...]
    branch: str = ""
    visit: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "question": self.question,
            "fields": list(self.fields),
            "branch": self.branch,
            "visit": self.visit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Waiting:
        return cls(
            node=str(data["node"]),
            question=str(data.get("question") or ""),
            fields=tuple(data.get("fields") or ()),
            branch=str(data.get("branch") or ""),
            visit=int(data.get("visit") or 1),
        )


@dataclass(slots=True)
class RunSummary:
    """A run as ``list_runs`` returns it (no state, no steps)."""

    run_id: str
    graph: str
    status: StoredStatus
    created_at: float
    updated_at: float
    steps: int = 0
    last_node: str | None = None
    error: str | None = None
    workflow: str | None = None
    parent_run_id: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.updated_at - self.created_at)


@dataclass(slots=True)
class StoredRun:
    """A run as ``load_run`` returns it: everything needed to show or resume it."""

    run_id: str
    graph: str
    status: StoredStatus
    initial_state: dict[str, Any]
    #: Ordered by ``step``.
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    waiting: Waiting | None = None
    workflow: str | None = None
    fingerprint: Mapping[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    parent_run_id: str | None = None
    forked_from_step: int | None = None

    @property
    def state(self) -> dict[str, Any]:
        """The state after the last step (a new dict; its values are the stored ones)."""
        return state_after(self.initial_state, self.steps)

    @property
    def path(self) -> list[str]:
        return [step.node for step in self.steps]

    @property
    def last_step(self) -> int:
        return self.steps[-1].step if self.steps else 0


def effective(steps: Iterable[StepRecord]) -> list[StepRecord]:
    """The steps whose deltas make up the state: a ``final`` failure that a resume ran
    again after is left out (its node's later record stands for it)."""
    ordered = sorted(steps, key=lambda s: s.step)
    if not ordered:
        return ordered
    last = ordered[-1]
    return [s for s in ordered if not s.final or s is last]


def state_after(
    initial: Mapping[str, Any], steps: Iterable[StepRecord], upto: int | None = None
) -> dict[str, Any]:
    """The state after step ``upto`` (default: the last), replaying deltas in step order."""
    state = dict(initial)
    for step in effective(steps):
        if upto is not None and step.step > upto:
            break
        state.update(step.delta)
    return state


def replay_map(steps: Iterable[StepRecord]) -> dict[tuple[str, str, int], StepRecord]:
    """The recorded outcomes a resume replays, by (branch, node, visit).

    A ``final`` step (the unhandled failure that ended the run) is not
    replayed: resuming a failed run runs that node again. When a key occurs
    twice (a failure that a resume ran again), the later record wins.
    """
    found: dict[tuple[str, str, int], StepRecord] = {}
    for step in sorted(steps, key=lambda s: s.step):
        if step.final:
            continue
        found[step.key] = step
    return found
