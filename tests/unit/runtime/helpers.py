"""Helpers to build graphs from NodeSpecs directly, so runner tests do not depend on the CSV loader."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from agentmap.runtime.runner import GraphRunner, RunOptions
from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.workflow.spec import FieldMapping, GraphSpec, NodeSpec


def fields(spec: str, *, output: bool = False) -> tuple[FieldMapping, ...]:
    """``a:b`` and input ``child=parent`` read state ``parent``; output ``parent=child`` writes it."""
    out = []
    for item in filter(None, spec.split("|")):
        if ":" in item:
            key, name = item.split(":")
        elif "=" in item:
            name, key = item.split("=")
            if output:
                name, key = key, name
        else:
            key = name = item
        out.append(FieldMapping(key, name))
    return tuple(out)


def node(
    name: str,
    agent: str = "echo",
    *,
    inputs: str = "",
    outputs: str = "",
    edge: str = "",
    success: str = "",
    failure: str = "",
    context: dict[str, Any] | None = None,
    prompt: str = "",
) -> NodeSpec:
    def split(value: str) -> tuple[str, ...]:
        return tuple(filter(None, value.split("|")))

    return NodeSpec(
        name=name,
        graph="G",
        agent_type=agent,
        inputs=fields(inputs),
        outputs=fields(outputs, output=True),
        prompt=prompt,
        context=MappingProxyType(context or {}),
        edge=split(edge),
        success_next=split(success),
        failure_next=split(failure),
        line=2,
    )


def graph(*nodes: NodeSpec) -> GraphSpec:
    return GraphSpec("G", {n.name: n for n in nodes})


class FnAgent:
    """An agent whose ``process`` is a plain function given by the test."""

    run_inline = True

    def __init__(self, name: str, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.name = name
        self._fn = fn

    def process(self, inputs: dict[str, Any]) -> Any:
        return self._fn(inputs)


class Recorder:
    """A tracker and a state adapter that keep everything they are given."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.flushes = 0
        self.steps: list[tuple[str, int, str, dict[str, Any]]] = []
        self.runs: dict[str, Any] = {}
        self.store = MemoryStateAdapter()

    def record(self, event: Any) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushes += 1

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    # The state adapter side: the real memory adapter, plus what it was given, flat.

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def start_run(self, run: Any) -> None:
        self.runs[run.run_id] = {"graph": run.graph, "initial": dict(run.initial_state)}
        await self.store.start_run(run)

    async def save_step(self, run_id: str, record: Any) -> None:
        self.steps.append((run_id, record.step, record.node, dict(record.delta)))
        await self.store.save_step(run_id, record)

    async def finish_run(
        self, run_id: str, status: str, error: str | None = None, waiting: Any = None
    ) -> None:
        self.runs[run_id].update(status=status, error=error)
        await self.store.finish_run(run_id, status, error, waiting)

    async def reopen_run(self, run_id: str, fingerprint: Any = None) -> None:
        await self.store.reopen_run(run_id, fingerprint)

    async def load_run(self, run_id: str) -> Any:
        return await self.store.load_run(run_id)

    async def list_runs(self, **filters: Any) -> Any:
        return await self.store.list_runs(**filters)

    async def fork_run(self, run_id: str, new_run_id: str, step: int) -> None:
        await self.store.fork_run(run_id, new_run_id, step)

    async def prune(self, older_than: float) -> int:
        return await self.store.prune(older_than)


def make_runner(
    g: GraphSpec,
    behaviours: dict[str, Any] | None = None,
    *,
    recorder: Recorder | None = None,
    sleeps: list[float] | None = None,
    **options: Any,
) -> GraphRunner:
    """Agents: ``behaviours[name]`` (a function or an agent object), else echo the inputs."""
    behaviours = behaviours or {}

    def factory(spec: NodeSpec) -> Any:
        b = behaviours.get(spec.name)
        if b is None:
            return FnAgent(spec.name, lambda i: next(iter(i.values())) if len(i) == 1 else dict(i))
        return b if hasattr(b, "process") else FnAgent(spec.name, b)

    async def fake_sleep(delay: float) -> None:
        if sleeps is not None:
            sleeps.append(delay)

    return GraphRunner(
        g,
        factory,
        tracker=recorder,
        state_adapter=recorder,
        options=RunOptions(**options),
        rand=lambda: 1.0,
        sleep=fake_sleep,
    )
