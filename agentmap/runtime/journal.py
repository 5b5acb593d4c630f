"""One run's progress, and what the runner writes about it to the state adapter.

``RunProgress`` is what a run accumulates as it goes (path, timings,
failures) plus, when a state adapter is configured, where each node execution
stands (its branch and visit) and the recorded outcomes a resume replays.
``Journal`` is the runner's side of checkpointing: start, save a step,
suspend, finish, each error of the store turned into a run failure that
says what could not be stored. Keeping it here leaves ``GraphRunner._step``
the sequence of a step, and keeps the cost at zero for a run without an
adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentmap.errors import StateBackendError, StateError
from agentmap.runtime.checkpoint import RunStart, StepRecord, StoredRun, Waiting, replay_map
from agentmap.runtime.fingerprint import fingerprint
from agentmap.runtime.interrupts import Interrupt
from agentmap.runtime.keys import ERROR_KEY, ERRORS_KEY, SUCCESS_KEY
from agentmap.runtime.options import RunOptions
from agentmap.runtime.outcome import judge
from agentmap.runtime.parallel import SUSPENDED
from agentmap.runtime.result import NodeTiming, RunResult, RunStatus
from agentmap.runtime.usage import UsageSink
from agentmap.services.protocols import StateAdapterProtocol
from agentmap.workflow.spec import GraphSpec

__all__ = ["Journal", "RunProgress", "replay_step", "suspend"]

#: (branch, node, visit): where a node execution stands in its run.
StepKey = tuple[str, str, int]


@dataclass(slots=True)
class RunProgress:
    """What one run accumulates while it goes: its path, timings and failures."""

    run_id: str
    initial: Mapping[str, Any]
    usage: UsageSink
    path: list[str] = field(default_factory=list)
    timings: list[NodeTiming] = field(default_factory=list)
    #: Node -> error of its last failed execution (handled failures included).
    failures: dict[str, str] = field(default_factory=dict)
    failed_node: str | None = None
    #: The last step number used (a resume continues after the stored ones).
    seq: int = 0
    #: (branch, node) -> executions so far; None when nothing is checkpointed.
    visits: dict[tuple[str, str], int] | None = None
    #: Recorded outcomes still to replay (a resume, a fork).
    replay: dict[StepKey, StepRecord] | None = None
    #: The node execution a resume gives values to, and the values.
    resume: tuple[StepKey, Mapping[str, Any]] | None = None
    #: Set when a node interrupted: the run ends ``suspended``.
    waiting: Waiting | None = None

    def conclude(
        self, state: Mapping[str, Any], error: str | None, options: RunOptions
    ) -> tuple[RunStatus, str | None]:
        """The run's status and error once it stopped (with ``error``, or None at its end)."""
        if self.waiting is not None:
            return "suspended", None
        if error is None and options.success_policy != "handled":
            final_ok = bool(state.get(SUCCESS_KEY, True))
            error = judge(options.success_policy, self.failures, final_ok, options.critical_nodes)
        return ("failed" if error is not None else "completed"), error

    def result(
        self,
        graph: str,
        status: RunStatus,
        state: dict[str, Any],
        error: str | None,
        duration: float,
    ) -> RunResult:
        return RunResult(
            run_id=self.run_id,
            graph=graph,
            status=status,
            state=state,
            path=self.path,
            timings=self.timings,
            error=error,
            failed_node=self.failed_node,
            duration=duration,
            llm_calls=self.usage.calls,
            waiting=self.waiting,
        )


def replay_step(
    record: StepRecord, state: dict[str, Any], run: RunProgress, changed: set[str] | None
) -> tuple[str, ...]:
    """Apply a recorded step to ``state`` as if its node had just run; return its route."""
    delta = record.delta
    errors = delta.get(ERRORS_KEY)
    if errors:
        # The runner extends the errors list it found, so the stored list starts
        # with the branch's current one: share those entries again, so that a join
        # merging branches counts an error made before they forked once.
        mine = state.get(ERRORS_KEY) or []
        if len(errors) >= len(mine) and errors[: len(mine)] == mine:
            delta = {**delta, ERRORS_KEY: [*mine, *errors[len(mine) :]]}
    state.update(delta)
    if changed is not None:
        changed.update(delta)
    if record.ok:
        run.failures.pop(record.node, None)
    else:
        run.failures[record.node] = str(delta.get(ERROR_KEY) or "")
    run.timings.append(NodeTiming(record.node, record.duration, record.ok, record.attempts))
    return record.route


def suspend(
    run: RunProgress, node: str, branch: str, visit: int, signal: Interrupt, *, stored: bool
) -> tuple[tuple[str, ...], str]:
    """The node called ``interrupt()``: end the run (or branch) ``suspended`` there.

    The node did not finish, so it leaves no step and leaves the path: a
    resume runs it again. Without a store the run could never go on, so it
    fails instead, saying so.
    """
    if not stored:
        run.failed_node = node
        return (), (
            f"node {node!r} called interrupt() but runs are not stored (no state "
            "adapter, or execution.checkpoint is off), so the run could never be resumed"
        )
    path = run.path
    del path[len(path) - 1 - path[::-1].index(node)]
    if run.waiting is None:  # two branches waiting: the first is asked, then the other
        run.waiting = Waiting(node, signal.question, signal.fields, branch, visit)
    return (), SUSPENDED


class Journal:
    """Writes a runner's runs to its state adapter."""

    def __init__(self, graph: GraphSpec, adapter: StateAdapterProtocol) -> None:
        self.graph = graph
        self.adapter = adapter
        #: Checks and encodes a node's delta as it is written (adapters that store JSON).
        self.encode: Callable[[str, Mapping[str, Any]], str] | None = getattr(
            adapter, "encode_delta", None
        )
        self._fingerprint: dict[str, Any] | None = None
        #: Resolved once: ``Path.resolve`` costs more than a whole short run.
        self._workflow = str(graph.file.resolve()) if graph.file is not None else None

    @property
    def fingerprint(self) -> dict[str, Any]:
        """Computed on the first run, not when the runner is built (a 5,000-node graph)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.graph)
        return self._fingerprint

    async def start(self, run: RunProgress, parent: str | None) -> None:
        run.visits = {}
        adapter = self.adapter
        start = RunStart(
            run.run_id,
            self.graph.name,
            run.initial,
            workflow=self._workflow,
            fingerprint=self.fingerprint,
            parent_run_id=parent,
        )
        try:
            await adapter.open()
            await adapter.start_run(start)
        except StateError:
            raise
        except Exception as exc:  # the store's own error: the run cannot start durably
            raise _failed(f"start run {run.run_id}", exc) from exc

    async def reopen(
        self, run: RunProgress, stored: StoredRun, values: Mapping[str, Any] | None
    ) -> None:
        """Prepare ``run`` to replay ``stored`` and mark it running again."""
        run.visits = {}
        run.replay = replay_map(stored.steps)
        run.seq = max((s.step for s in stored.steps), default=0)
        waiting = stored.waiting
        if waiting is not None:
            run.resume = ((waiting.branch, waiting.node, waiting.visit), dict(values or {}))
        adapter = self.adapter
        try:
            await adapter.open()
            await adapter.reopen_run(run.run_id, self.fingerprint)
        except StateError:
            raise
        except Exception as exc:
            raise _failed(f"reopen run {run.run_id}", exc) from exc

    @staticmethod
    def save_failed(run: RunProgress, record: StepRecord, exc: Exception) -> StateBackendError:
        """What a store's own error in ``save_step`` becomes (the runner calls the
        adapter directly: one coroutine less per step)."""
        where = f"step {record.step} (node {record.node!r}) of run {run.run_id}"
        return _failed(f"save the checkpoint of {where}", exc)

    async def finish(self, run: RunProgress, status: str, error: str | None) -> None:
        try:
            await self.adapter.finish_run(run.run_id, status, error, run.waiting)
        except StateError:
            raise
        except Exception as exc:
            raise _failed(f"store the end of run {run.run_id} ({status})", exc) from exc


def _failed(what: str, exc: Exception) -> StateBackendError:
    """A store's own error (not a ``StateError``): the run cannot go on durably."""
    return StateBackendError(f"could not {what}: {type(exc).__name__}: {exc}")
