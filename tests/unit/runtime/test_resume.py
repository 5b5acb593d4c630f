"""Resume is replay: recorded steps are applied, not run again, and the run ends as it would have.

Each test runs a workflow once the way it ends on its own (the reference),
then the same workflow stopped part-way (an unhandled failure, an
interrupt, a fork), resumes it, and compares the final state and which
agents ran how often.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from agentmap.errors import ResumeError, StateBackendError
from agentmap.runtime.interrupts import interrupt
from agentmap.runtime.resume import check_resumable
from agentmap.runtime.runner import GraphRunner
from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.workflow.spec import GraphSpec, NodeSpec
from tests.unit.runtime.helpers import FnAgent, graph, node


class Flaky:
    """Agents that count their calls; the nodes in ``failing`` raise until healed."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.failing = set(failing or ())

    def factory(self, spec: NodeSpec) -> Any:
        def process(inputs: dict[str, Any]) -> Any:
            self.calls[spec.name] += 1
            if spec.name in self.failing:
                raise RuntimeError(f"{spec.name} is down")
            return f"{spec.name}({','.join(str(v) for v in inputs.values())})"

        return FnAgent(spec.name, process)


def runner(g: GraphSpec, agents: Flaky, store: MemoryStateAdapter) -> GraphRunner:
    return GraphRunner(g, agents.factory, state_adapter=store)


CHAIN = graph(
    node("A", inputs="x", outputs="a", success="B"),
    node("B", inputs="a", outputs="b", success="C"),
    node("C", inputs="b", outputs="c", success="D"),
    node("D", inputs="c", outputs="d"),
)

FAN = graph(
    node("Split", inputs="x", outputs="s", success="L|R"),
    node("L", inputs="s", outputs="l", success="L2"),
    node("L2", inputs="l", outputs="l2", success="Join"),
    node("R", inputs="s", outputs="r", success="Join"),
    node("Join", inputs="l2|r", outputs="j", success="End"),
    node("End", inputs="j", outputs="end"),
)


def reference(g: GraphSpec) -> dict[str, Any]:
    return runner(g, Flaky(), MemoryStateAdapter()).run({"x": 1}).state


@pytest.mark.parametrize(("g", "broken"), [(CHAIN, "C"), (FAN, "L2"), (FAN, "Join")])
def test_a_failed_run_resumes_to_the_same_state_running_each_node_once(
    g: GraphSpec, broken: str
) -> None:
    store = MemoryStateAdapter()
    agents = Flaky({broken})
    first = runner(g, agents, store).run({"x": 1})
    assert first.status == "failed"
    assert first.failed_node == broken
    agents.failing.clear()

    async def resume() -> Any:
        stored = await store.load_run(first.run_id)
        return await runner(g, agents, store).aresume(stored)

    second = asyncio.run(resume())
    assert second.status == "completed"
    assert second.run_id == first.run_id
    assert second.state == reference(g)
    # The broken node ran twice (failed, then resumed); every other node once.
    assert agents.calls == Counter({name: 2 if name == broken else 1 for name in g.nodes})
    stored = asyncio.run(store.load_run(first.run_id))
    assert stored.status == "completed"
    assert stored.state == second.state


def test_resume_continues_step_numbers_and_keeps_the_failed_attempt_on_record() -> None:
    store = MemoryStateAdapter()
    agents = Flaky({"C"})
    first = runner(CHAIN, agents, store).run({"x": 1})
    agents.failing.clear()
    stored = asyncio.run(store.load_run(first.run_id))
    assert [(s.step, s.node, s.final) for s in stored.steps] == [
        (1, "A", False),
        (2, "B", False),
        (3, "C", True),
    ]
    result = asyncio.run(runner(CHAIN, agents, store).aresume(stored))
    assert result.path == ["A", "B", "C", "D"]
    after = asyncio.run(store.load_run(first.run_id))
    assert [(s.step, s.node) for s in after.steps] == [
        (1, "A"),
        (2, "B"),
        (3, "C"),
        (4, "C"),
        (5, "D"),
    ]
    assert "error" not in after.state  # the failed attempt's fields are superseded
    assert after.state == reference(CHAIN)


def approval_graph() -> GraphSpec:
    return graph(
        node("Draft", inputs="x", outputs="draft", edge="Approve"),
        node("Approve", agent="ask", inputs="draft", outputs="approved", edge="Publish"),
        node("Publish", inputs="draft|approved", outputs="published"),
    )


def asking_factory(calls: Counter[str]) -> Any:
    def factory(spec: NodeSpec) -> Any:
        def process(inputs: dict[str, Any]) -> Any:
            calls[spec.name] += 1
            if spec.name == "Approve":
                answer = interrupt(f"publish {inputs['draft']}?")
                return answer["approved"]
            if spec.name == "Publish":
                return f"{inputs['draft']} approved={inputs['approved']}"
            return f"draft of {inputs['x']}"

        return FnAgent(spec.name, process)

    return factory


def test_interrupt_suspends_and_resume_with_values_goes_on() -> None:
    store = MemoryStateAdapter()
    calls: Counter[str] = Counter()
    g = approval_graph()
    first = GraphRunner(g, asking_factory(calls), state_adapter=store).run({"x": "post"})
    assert first.status == "suspended"
    assert first.error is None
    assert first.path == ["Draft"]
    assert first.waiting is not None
    assert (first.waiting.node, first.waiting.fields) == ("Approve", ("approved",))
    assert first.waiting.question == "publish draft of post?"
    stored = asyncio.run(store.load_run(first.run_id))
    assert stored.status == "suspended"
    assert stored.waiting == first.waiting

    with pytest.raises(ResumeError, match="waits at node 'Approve' for approved, not for 'ok'"):
        check_resumable(stored, GraphRunner(g, asking_factory(calls)).fingerprint, {"ok": 1})
    with pytest.raises(ResumeError, match="--set approved="):
        check_resumable(stored, GraphRunner(g, asking_factory(calls)).fingerprint, None)

    again = GraphRunner(g, asking_factory(calls), state_adapter=store)
    result = asyncio.run(again.aresume(stored, {"approved": True}))
    assert result.status == "completed"
    assert result.state["published"] == "draft of post approved=True"
    assert calls == Counter({"Draft": 1, "Approve": 2, "Publish": 1})


def test_interrupt_without_a_store_fails_the_run_saying_why() -> None:
    calls: Counter[str] = Counter()
    result = GraphRunner(approval_graph(), asking_factory(calls)).run({"x": "post"})
    assert result.status == "failed"
    assert "could never be resumed" in (result.error or "")


def test_a_completed_run_is_not_resumed() -> None:
    store = MemoryStateAdapter()
    done = runner(CHAIN, Flaky(), store).run({"x": 1})
    stored = asyncio.run(store.load_run(done.run_id))
    with pytest.raises(ResumeError, match=r"already completed.*runs rerun"):
        check_resumable(stored, runner(CHAIN, Flaky(), store).fingerprint, None)


def test_a_changed_workflow_is_named_and_refused_unless_forced() -> None:
    store = MemoryStateAdapter()
    agents = Flaky({"C"})
    first = runner(CHAIN, agents, store).run({"x": 1})
    changed = graph(
        node("A", inputs="x", outputs="a", success="B"),
        node("B", inputs="a", outputs="b", success="C", prompt="new"),
        node("C", inputs="b", outputs="c"),
        node("E", inputs="c", outputs="e"),
    )
    stored = asyncio.run(store.load_run(first.run_id))
    current = runner(changed, agents, store).fingerprint
    with pytest.raises(ResumeError) as caught:
        check_resumable(stored, current, None)
    message = str(caught.value)
    assert "node added: E" in message
    assert "node removed: D" in message
    assert "node 'B' changed (Prompt)" in message
    assert "node 'C' changed (routes)" in message
    assert "--force" in message
    check_resumable(stored, current, None, force=True)


def test_a_fork_replays_up_to_its_step_and_runs_the_rest() -> None:
    store = MemoryStateAdapter()
    agents = Flaky()
    first = runner(CHAIN, agents, store).run({"x": 1})

    async def fork() -> Any:
        await store.fork_run(first.run_id, "fork", 2)
        return await runner(CHAIN, agents, store).aresume(await store.load_run("fork"))

    result = asyncio.run(fork())
    assert result.state == first.state
    assert agents.calls == Counter({"A": 1, "B": 1, "C": 2, "D": 2})
    old = asyncio.run(store.load_run(first.run_id))
    assert len(old.steps) == 4
    assert old.status == "completed"
    new = asyncio.run(store.load_run("fork"))
    assert (new.parent_run_id, new.forked_from_step) == (first.run_id, 2)


def test_a_value_that_is_not_json_fails_the_node_naming_the_field() -> None:
    store = MemoryStateAdapter(check_json=True)
    g = graph(
        node("A", inputs="x", outputs="when", edge="B", failure="Handle"),
        node("B", inputs="when", outputs="b"),
        node("Handle", inputs="error", outputs="handled"),
    )
    result = GraphRunner(
        g,
        lambda spec: FnAgent(spec.name, lambda i: {1, 2} if spec.name == "A" else "ok"),
        state_adapter=store,
    ).run({"x": 1})
    assert result.path == ["A", "Handle"]
    assert "node 'A' wrote field 'when', which cannot be stored as JSON" in result.state["error"]
    assert "when" not in result.state
    stored = asyncio.run(store.load_run(result.run_id))
    assert stored.steps[0].ok is False
    assert "when" not in stored.steps[0].delta


class BrokenStore(MemoryStateAdapter):
    """Loses its connection after ``after`` steps."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    async def save_step(self, run_id: str, step: Any) -> None:
        if step.step > self.after:
            raise ConnectionError("server closed the connection unexpectedly")
        await super().save_step(run_id, step)


def test_a_store_that_fails_mid_run_fails_the_run_never_reports_success() -> None:
    store = BrokenStore(after=2)
    result = runner(CHAIN, Flaky(), store).run({"x": 1})
    assert result.status == "failed"
    assert "could not save the checkpoint of step 3 (node 'C')" in (result.error or "")
    assert "ConnectionError" in (result.error or "")
    stored = asyncio.run(store.load_run(result.run_id))
    assert stored.status == "running"  # as a killed process leaves it: resumable
    assert [s.node for s in stored.steps] == ["A", "B"]


def test_resume_needs_a_store() -> None:
    store = MemoryStateAdapter()
    first = runner(CHAIN, Flaky({"C"}), store).run({"x": 1})
    stored = asyncio.run(store.load_run(first.run_id))
    with pytest.raises(StateBackendError, match="needs a state adapter"):
        asyncio.run(GraphRunner(CHAIN, Flaky().factory).aresume(stored))


def test_an_interrupt_in_a_subgraph_suspends_the_parent_and_resume_reaches_it(
    tmp_path: Any,
) -> None:
    from agentmap.agents.registry import AgentRegistry
    from agentmap.workflow import load_graph

    csv = tmp_path / "main.csv"
    csv.write_text(
        "GraphName,Node,AgentType,Success_Next,Input_Fields,Output_Field,Context\n"
        "Main,Start,echo,Sub,x,draft,\n"
        'Main,Sub,graph,End,draft=draft,verdict=result,"{""workflow"": ""::Child""}"\n'
        "Main,End,echo,,verdict,out,\n"
        "Child,Ask,echo,Done,draft,answer,\n"
        "Child,Done,echo,,answer,result,\n"
    )
    _, g = load_graph(f"{csv}::Main")
    calls: Counter[str] = Counter()

    def factory(spec: NodeSpec) -> Any:
        if spec.name == "Ask":

            def ask(inputs: dict[str, Any]) -> Any:
                calls["Ask"] += 1
                return interrupt(f"ok to send {inputs['draft']}?", ["answer"])["answer"]

            return FnAgent("Ask", ask)
        calls[spec.name] += 1
        cls = AgentRegistry.with_builtins().get(spec.agent_type)
        return cls(spec.name, spec.prompt, dict(spec.context))

    store = MemoryStateAdapter()
    first = GraphRunner(g, factory, state_adapter=store).run({"x": "memo"})
    assert first.status == "suspended"
    assert first.waiting is not None
    assert first.waiting.node == "Sub"
    assert first.waiting.fields == ("answer",)
    assert "ok to send memo?" in first.waiting.question

    async def resume() -> Any:
        stored = await store.load_run(first.run_id)
        return await GraphRunner(g, factory, state_adapter=store).aresume(stored, {"answer": "yes"})

    result = asyncio.run(resume())
    assert result.status == "completed", result.error
    assert result.state["out"] == "yes"
    assert calls["Ask"] == 2  # interrupted once, answered once
    child = asyncio.run(store.load_run(f"{first.run_id}/Sub/1"))
    assert child.status == "completed"
    assert [s.node for s in child.steps] == ["Ask", "Done"]


def test_a_branch_that_waits_parks_while_the_others_run_on_to_the_join() -> None:
    g = graph(
        node("Split", inputs="x", outputs="s", success="Ask|Work"),
        node("Ask", agent="ask", inputs="s", outputs="answer", success="Join"),
        node("Work", inputs="s", outputs="w", success="Work2"),
        node("Work2", inputs="w", outputs="w2", success="Join"),
        node("Join", inputs="answer|w2", outputs="j", success="End"),
        node("End", inputs="j", outputs="end"),
    )
    calls: Counter[str] = Counter()

    def factory(spec: NodeSpec) -> Any:
        def process(inputs: dict[str, Any]) -> Any:
            calls[spec.name] += 1
            if spec.name == "Ask":
                return interrupt("go?")["answer"]
            return f"{spec.name}({','.join(str(v) for v in inputs.values())})"

        return FnAgent(spec.name, process)

    store = MemoryStateAdapter()
    first = GraphRunner(g, factory, state_adapter=store).run({"x": 1})
    assert first.status == "suspended"
    assert first.waiting is not None
    assert first.waiting.node == "Ask"
    assert first.waiting.branch == "0"
    # The other branch ran to the join, which waits for the parked one.
    assert calls == Counter({"Split": 1, "Ask": 1, "Work": 1, "Work2": 1})

    async def resume() -> Any:
        stored = await store.load_run(first.run_id)
        return await GraphRunner(g, factory, state_adapter=store).aresume(stored, {"answer": "y"})

    result = asyncio.run(resume())
    assert result.status == "completed", result.error
    assert result.state["end"] == "End(Join(y,Work2(Work(Split(1)))))"
    assert calls == Counter({"Split": 1, "Ask": 2, "Work": 1, "Work2": 1, "Join": 1, "End": 1})


def test_a_changed_tool_list_counts_as_a_changed_node() -> None:
    from dataclasses import replace

    from agentmap.runtime.fingerprint import describe_changes, fingerprint

    before = graph(node("A", outputs="a"))
    spec = before.nodes["A"]
    with_tools = graph(replace(spec, tool_source="tools.py", tools=("search",)))
    other_tools = graph(replace(spec, tool_source="tools.py", tools=("search", "fetch")))
    assert describe_changes(fingerprint(before), fingerprint(before)) is None
    assert describe_changes(fingerprint(with_tools), fingerprint(other_tools)) == (
        "node 'A' changed (Tools)"
    )
