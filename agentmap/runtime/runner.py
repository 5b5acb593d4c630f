"""The async graph runner: executes one ``GraphSpec`` for any number of runs.

A runner compiles its graph once (agents built, Context policies parsed,
field mappings turned into tuples) and then keeps the per-node hot path small:
a dict comprehension for the inputs, one call into the agent, a few dict writes
and two tracker events. That is what keeps the framework's own cost per node
in microseconds, far below the agents it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from agentmap.errors import StateBackendError, StateError
from agentmap.runtime import events as ev
from agentmap.runtime.applying import apply_outcome
from agentmap.runtime.attempts import Attempts
from agentmap.runtime.branches import Branch, Reachability, merge
from agentmap.runtime.calls import NullLogger, NullTracker
from agentmap.runtime.checkpoint import StepRecord, StoredRun
from agentmap.runtime.fingerprint import fingerprint
from agentmap.runtime.interrupts import Interrupt
from agentmap.runtime.journal import Journal, RunProgress, replay_step, suspend
from agentmap.runtime.nodes import (
    AgentBuilder,
    CompiledNode,
    compile_node,
)
from agentmap.runtime.options import RunOptions
from agentmap.runtime.parallel import ParallelRun
from agentmap.runtime.result import NodeTiming, RunResult
from agentmap.runtime.routing import Decision, next_nodes
from agentmap.runtime.subgraph import SubgraphCall
from agentmap.runtime.usage import UsageSink, step_usage
from agentmap.services.protocols import (
    ExecutionTrackerProtocol,
    LoggerProtocol,
    StateAdapterProtocol,
)
from agentmap.workflow.spec import FUNCTIONS_FOLDER, GraphSpec, beside_workflow
from agentmap.workflow.subgraphs import is_subgraph_node

__all__ = ["AgentBuilder", "GraphRunner", "RunOptions", "closing"]

T = TypeVar("T")


async def closing(work: Awaitable[T], adapter: StateAdapterProtocol | None) -> T:
    """Await ``work``, then close ``adapter`` in the same loop.

    For whoever owns the loop (the sync facades, the CLI, ``run_batch``): what
    an adapter holds per loop (a postgres pool) must end with it. When ``work``
    failed, a store that also fails to close does not hide why.
    """
    if adapter is None:
        return await work
    try:
        done = await work
    except BaseException:
        with contextlib.suppress(Exception):
            await adapter.close()
        raise
    await adapter.close()
    return done


class GraphRunner:
    """Runs one graph. Build it once, then call ``arun``/``run`` once per input state."""

    def __init__(
        self,
        graph: GraphSpec,
        build_agent: AgentBuilder,
        *,
        tracker: ExecutionTrackerProtocol | None = None,
        state_adapter: StateAdapterProtocol | None = None,
        logger: LoggerProtocol | None = None,
        options: RunOptions | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.graph = graph
        self.options = options = options or RunOptions()
        self._tracker: ExecutionTrackerProtocol = tracker or NullTracker()
        #: Per-node events are built only when someone listens (they cost more
        #: than the runner's own work on a node).
        self._per_node_events = tracker is not None and not isinstance(tracker, NullTracker)
        self._state_adapter = state_adapter if options.checkpoint else None
        self._journal = (
            Journal(graph, self._state_adapter) if self._state_adapter is not None else None
        )
        self._encode = self._journal.encode if self._journal is not None else None
        self._logger: LoggerProtocol = logger or NullLogger()
        self._rand = rand
        self._sleep = sleep
        functions = options.functions_paths
        if graph.file is not None:
            functions = (*functions, beside_workflow(graph.file, FUNCTIONS_FOLDER))
        self._nodes = {
            name: compile_node(
                spec,
                build_agent,
                base_delay=options.retry_base_delay,
                max_delay=options.retry_max_delay,
                functions=functions,
                subgraph=self._subgraph(name, build_agent) if is_subgraph_node(spec) else None,
            )
            for name, spec in graph.nodes.items()
        }
        self._reach = Reachability(graph.nodes)
        self._attempts = Attempts(
            graph.name,
            graph.nodes,
            self._tracker,
            self._logger,
            rand,
            sleep,
            options.max_threads,
        )

    def _subgraph(self, name: str, build_agent: AgentBuilder) -> SubgraphCall:
        """The call that runs graph node ``name``'s child with this runner's services."""
        return SubgraphCall.build(self, name, build_agent)

    def child_runner(self, child: GraphSpec, build_agent: AgentBuilder) -> GraphRunner:
        """A runner for a subgraph, with this runner's services and options."""
        return GraphRunner(
            child,
            build_agent,
            tracker=self._tracker,
            state_adapter=self._state_adapter,
            logger=self._logger,
            options=self.options,
            rand=self._rand,
            sleep=self._sleep,
        )

    # ------------------------------------------------------------------ public API

    def run(
        self, state: Mapping[str, Any] | None = None, *, run_id: str | None = None
    ) -> RunResult:
        """Synchronous facade over ``arun`` for scripts and plain tests.

        It runs in an event loop of its own, so it closes the state adapter in
        that loop before returning: what an adapter holds per loop (a
        connection pool) cannot outlive it, and adapters open again on next use.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(closing(self.arun(state, run_id=run_id), self._state_adapter))
        raise RuntimeError("GraphRunner.run() was called inside an event loop; use await arun()")

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What a stored run of this graph is compared with before it resumes."""
        if self._journal is not None:
            return self._journal.fingerprint
        return fingerprint(self.graph)

    @property
    def state_adapter(self) -> StateAdapterProtocol | None:
        """Where this runner's runs are checkpointed (None: nowhere)."""
        return self._state_adapter

    async def arun(
        self,
        state: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        parent: tuple[str, str] | None = None,
    ) -> RunResult:
        """Run the graph once from ``state``.

        ``parent`` is (run id, node) of the graph node running this graph as a
        subgraph; it goes on the ``run_started`` event so trackers can nest runs.
        """
        current: dict[str, Any] = dict(state or {})
        run = self._progress(run_id or os.urandom(16).hex(), current)
        started = self._started(run, parent)
        if self._journal is not None:
            try:
                await self._journal.start(run, parent[0] if parent else None)
            except BaseException:
                self._finish(run.run_id, started, 0, "failed", "the run could not be stored")
                raise
        return await self._execute(run, current, started, parent)

    async def aresume(
        self,
        stored: StoredRun,
        values: Mapping[str, Any] | None = None,
        *,
        parent: tuple[str, str] | None = None,
    ) -> RunResult:
        """Go on with a stored run: replay its recorded steps, then run from where it stopped.

        Callers check first that the run may be resumed (``agentmap.runtime
        .resume.check_resumable``); ``values`` go to the node the run waits at.
        """
        if self._journal is None:
            raise StateBackendError(
                "resuming a run needs a state adapter and execution.checkpoint on"
            )
        current = dict(stored.initial_state)
        run = self._progress(stored.run_id, current)
        started = self._started(run, parent)
        await self._journal.reopen(run, stored, values)
        return await self._execute(run, current, started, parent)

    def _progress(self, run_id: str, current: dict[str, Any]) -> RunProgress:
        return RunProgress(
            run_id,
            MappingProxyType(dict(current)),
            UsageSink(run_id, self.graph.name, self._tracker.record),
        )

    def _started(self, run: RunProgress, parent: tuple[str, str] | None) -> float:
        started = time.perf_counter()
        self._tracker.record(
            ev.RunStarted(
                run.run_id,
                self.graph.name,
                time.time(),
                entry=self.graph.entry,
                parent_run_id=parent[0] if parent else None,
                parent_node=parent[1] if parent else None,
            )
        )
        return started

    async def _execute(
        self,
        run: RunProgress,
        current: dict[str, Any],
        started: float,
        parent: tuple[str, str] | None,
    ) -> RunResult:
        run_id, graph = run.run_id, self.graph.name
        journal = self._journal
        stored = journal is not None
        try:
            current, error = await self._drive(run, current)
        except asyncio.CancelledError:
            self._finish(run_id, started, len(run.path), "failed", "run was cancelled")
            raise
        except StateBackendError as exc:
            # The store failed mid-run: the run fails, saying what was not stored.
            error, stored, run.waiting = str(exc), False, None
        status, error = run.conclude(current, error, self.options)
        if stored and journal is not None:
            try:
                await journal.finish(run, status, error)
            except StateBackendError as exc:
                status, error, run.waiting = "failed", str(exc), None
        duration = self._finish(run_id, started, len(run.path), status, error)
        if error is not None:
            # A subgraph's failure is its graph node's failure, which the parent may handle.
            log = self._logger.warning if parent else self._logger.error
            log(f"run {run_id} of graph {graph!r} failed: {error}")
        return run.result(graph, status, current, error, duration)

    async def _drive(
        self, run: RunProgress, state: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        """Run nodes one after another until the run ends or fans out.

        This loop is the fast path every linear workflow stays on; a fan-out
        hands the rest of the run to ``ParallelRun``.
        """
        name = self.graph.entry
        max_steps = self.options.max_steps
        while True:
            if len(run.path) >= max_steps:
                return state, self._too_many_steps(run)
            targets, error = await self._step(self._nodes[name], state, run, None)
            if error is not None or not targets:
                return state, error
            if len(targets) == 1:
                name = targets[0]
                continue
            parallel = ParallelRun(
                lambda branch: self._branch_step(run, branch), self._reach, self._logger.warning
            )
            error = await parallel.run(Branch((), name, state), targets)
            branches = parallel.branches
            if len(branches) == 1:
                return branches[0].state, error
            final = merge(branches, "", self._logger.warning, where="end of the run")
            return final.state, error

    async def _branch_step(self, run: RunProgress, branch: Branch) -> Decision:
        if len(run.path) >= self.options.max_steps:
            return (), self._too_many_steps(run)
        return await self._step(
            self._nodes[branch.at], branch.state, run, branch.changed, branch.tag
        )

    def _too_many_steps(self, run: RunProgress) -> str:
        run.failed_node = None
        return (
            f"stopped after {self.options.max_steps} steps (execution.max_steps); "
            f"last nodes: {' -> '.join(run.path[-5:])}"
        )

    def _finish(
        self, run_id: str, started: float, steps: int, status: str, error: str | None
    ) -> float:
        duration = time.perf_counter() - started
        self._tracker.record(
            ev.RunFinished(
                run_id,
                self.graph.name,
                time.time(),
                status=status,
                duration=duration,
                steps=steps,
                error=error,
            )
        )
        self._tracker.flush()
        return duration

    # ------------------------------------------------------------------ one node

    async def _step(
        self,
        node: CompiledNode,
        state: dict[str, Any],
        run: RunProgress,
        changed: set[str] | None,
        branch: str = "",
    ) -> Decision:
        """Run a node, update the state, checkpoint, and return (next nodes, unhandled error).

        ``changed`` collects the fields written, for a parallel branch's merge.
        With a state adapter, a node execution that a resume has on record is
        replayed instead of run (see ``agentmap.runtime.checkpoint``).
        """
        name = node.name
        run.path.append(name)
        visits = run.visits
        visit = 1
        if visits is not None:
            where = (branch, name)
            visit = visits[where] = visits.get(where, 0) + 1
            if run.replay:
                record = run.replay.pop((branch, name, visit), None)
                if record is not None:
                    return replay_step(record, state, run, changed), None
        run.seq = step = run.seq + 1
        started = time.perf_counter()
        if self._per_node_events:
            self._tracker.record(
                ev.NodeStarted(run.run_id, self.graph.name, time.time(), node=name, step=step)
            )
        resume = None
        if run.resume is not None and run.resume[0] == (branch, name, visit):
            resume = run.resume[1]
        usage = run.usage.calls
        calls = len(usage)
        try:
            outcome = await self._attempts.run(
                node,
                state,
                step,
                run.run_id,
                run.initial,
                run.usage,
                resume,
                branch,
                visit,
                run.replay is not None,
            )
        except Interrupt as signal:
            return suspend(run, name, branch, visit, signal, stored=self._journal is not None)
        ok, delta, chosen, failure, encoded = apply_outcome(
            node,
            outcome,
            state,
            run.failures,
            self._encode,
            self._attempts.failed,
            run.run_id,
            step,
        )
        if changed is not None:
            changed.update(delta)
        duration = time.perf_counter() - started
        run.timings.append(NodeTiming(name, duration, ok, outcome[3]))
        targets, error = await next_nodes(node, ok, chosen, failure, state, self.graph.nodes)
        if error is not None:
            run.failed_node = name
        if self._per_node_events:
            self._tracker.record(
                ev.NodeFinished(
                    run.run_id,
                    self.graph.name,
                    time.time(),
                    node=name,
                    step=step,
                    duration=duration,
                    success=ok,
                    attempts=outcome[3],
                    route=targets,
                )
            )
        journal = self._journal
        if journal is not None:
            record = StepRecord(
                step,
                name,
                delta,
                targets,
                ok,
                error is not None,
                branch,
                visit,
                time.time() - duration,
                duration,
                outcome[3],
                step_usage(usage, calls, name) if len(usage) != calls else None,
                encoded,
            )
            try:
                await journal.adapter.save_step(run.run_id, record)
            except StateError:
                raise
            except Exception as exc:  # the store's own error: the run cannot go on durably
                raise journal.save_failed(run, record, exc) from exc
        return targets, error
