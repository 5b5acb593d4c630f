"""The ``human`` agent run through the real runner and a memory store: it suspends, asks,
and on resume writes the answer (checked against its choices) to its outputs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.human import HumanAgent
from agentmap.errors import ResumeError
from agentmap.runtime.result import RunResult
from agentmap.runtime.resume import check_resumable
from agentmap.runtime.runner import GraphRunner
from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.workflow.spec import GraphSpec, NodeSpec
from tests.unit.runtime.helpers import graph, node


def factory(spec: NodeSpec) -> Any:
    return BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))


def approval(choices: Any = ("yes", "no")) -> GraphSpec:
    context = {"choices": list(choices)} if choices is not None else {}
    return graph(
        node(
            "Draft", inputs="topic", outputs="draft", prompt="A post about {topic}", edge="Review"
        ),
        node(
            "Review",
            "human",
            inputs="draft",
            outputs="approved",
            prompt="Publish this post? {draft}",
            context=context,
            success="Decide",
        ),
        node(
            "Decide",
            "branching",
            inputs="approved",
            context={"success_values": ["yes"]},
            success="Publish",
            failure="Revise",
        ),
        node("Publish", "success", inputs="draft", outputs="result", prompt="published: {draft}"),
        node("Revise", "echo", inputs="draft", outputs="result", prompt="revise: {draft}"),
    )


def start(g: GraphSpec, store: MemoryStateAdapter, state: dict[str, Any]) -> RunResult:
    return GraphRunner(g, factory, state_adapter=store).run(state)


def resume(
    g: GraphSpec, store: MemoryStateAdapter, run_id: str, values: dict[str, Any] | None
) -> RunResult:
    """Resume as Application.resume does: load, check, replay."""

    async def go() -> RunResult:
        stored = await store.load_run(run_id)
        assert stored is not None
        runner = GraphRunner(g, factory, state_adapter=store)
        check_resumable(stored, runner.fingerprint, values)
        return await runner.aresume(stored, values)

    return asyncio.run(go())


def test_human_is_a_builtin_that_runs_inline() -> None:
    assert BUILTIN_AGENTS["human"] is HumanAgent
    assert HumanAgent.run_inline is True


def test_a_human_node_suspends_with_the_rendered_question_and_its_fields() -> None:
    store = MemoryStateAdapter()
    first = start(approval(), store, {"topic": "tea"})
    assert first.status == "suspended"
    assert first.error is None
    assert first.path == ["Draft"]
    assert first.waiting is not None
    assert first.waiting.node == "Review"
    assert first.waiting.fields == ("approved",)
    assert first.waiting.question == "Publish this post? A post about tea [yes|no]"
    assert "approved" not in first.state
    stored = asyncio.run(store.load_run(first.run_id))
    assert stored is not None
    assert stored.status == "suspended"
    assert stored.waiting == first.waiting


@pytest.mark.parametrize(
    ("answer", "path", "result"),
    [
        ("yes", ["Draft", "Review", "Decide", "Publish"], "published: A post about tea"),
        ("no", ["Draft", "Review", "Decide", "Revise"], "revise: A post about tea"),
        # Matched as text, ignoring case and spaces; the choice is written as listed.
        (" YES ", ["Draft", "Review", "Decide", "Publish"], "published: A post about tea"),
    ],
)
def test_resume_with_an_answer_writes_it_and_routes_on_it(
    answer: str, path: list[str], result: str
) -> None:
    store = MemoryStateAdapter()
    first = start(approval(), store, {"topic": "tea"})
    done = resume(approval(), store, first.run_id, {"approved": answer})
    assert done.status == "completed", done.error
    assert done.run_id == first.run_id
    assert done.path == path
    assert done.state["approved"] == answer.strip().lower()
    assert done.state["result"] == result
    assert done.waiting is None
    stored = asyncio.run(store.load_run(first.run_id))
    assert stored is not None
    assert stored.status == "completed"
    assert stored.path == path


def test_an_answer_outside_the_choices_fails_the_node_naming_them_and_can_be_asked_again() -> None:
    store = MemoryStateAdapter()
    first = start(approval(), store, {"topic": "tea"})
    bad = resume(approval(), store, first.run_id, {"approved": "maybe"})
    assert bad.status == "failed"
    assert bad.failed_node == "Review"
    message = (
        "human node 'Review': 'maybe' is not an answer for 'approved'; the choices are 'yes', 'no'"
    )
    assert bad.state["error"] == message
    assert (bad.error or "").endswith(message)
    assert "approved" not in bad.state
    # A failed run resumes by running the failed node again: it asks again.
    again = resume(approval(), store, first.run_id, None)
    assert again.status == "suspended"
    assert again.waiting is not None
    assert again.waiting.node == "Review"
    done = resume(approval(), store, first.run_id, {"approved": "no"})
    assert done.status == "completed"
    assert done.path == ["Draft", "Review", "Decide", "Revise"]


def test_without_choices_any_answer_is_written_as_given() -> None:
    store = MemoryStateAdapter()
    first = start(approval(choices=None), store, {"topic": "tea"})
    assert first.waiting is not None
    assert first.waiting.question == "Publish this post? A post about tea"
    done = resume(approval(choices=None), store, first.run_id, {"approved": {"by": "ada"}})
    assert done.state["approved"] == {"by": "ada"}
    assert done.path[-1] == "Revise"  # {"by": "ada"} is not in success_values


def test_several_outputs_wait_for_every_field_and_write_each() -> None:
    g = graph(
        node(
            "Ask",
            "human",
            inputs="ticket",
            outputs="priority|owner",
            prompt="Triage {ticket}",
            context={"choices": {"priority": "low|high"}},
            success="Show",
        ),
        node("Show", "echo", inputs="priority|owner", outputs="shown", prompt="{priority}/{owner}"),
    )
    store = MemoryStateAdapter()
    first = start(g, store, {"ticket": "T-1"})
    assert first.waiting is not None
    assert first.waiting.fields == ("priority", "owner")
    assert first.waiting.question == "Triage T-1 [priority: low|high]"
    stored = asyncio.run(store.load_run(first.run_id))
    assert stored is not None
    with pytest.raises(ResumeError, match=r"give it: agentmap resume .* --set owner="):
        check_resumable(stored, GraphRunner(g, factory).fingerprint, {"priority": "low"})
    done = resume(g, store, first.run_id, {"priority": "HIGH", "owner": "ada"})
    assert done.status == "completed", done.error
    assert done.state["priority"] == "high"
    assert done.state["owner"] == "ada"
    assert done.state["shown"] == "high/ada"

    bad = start(g, store, {"ticket": "T-2"})
    failed = resume(g, store, bad.run_id, {"priority": "urgent", "owner": "ada"})
    assert failed.error is not None
    assert "the choices are 'low', 'high'" in failed.error
    assert "owner" not in failed.state


def test_with_no_prompt_the_question_names_the_node_and_fields() -> None:
    g = graph(node("Ask", "human", outputs="name"))
    first = start(g, MemoryStateAdapter(), {})
    assert first.waiting is not None
    assert first.waiting.question == "Ask: name?"


def test_a_human_node_without_output_field_fails_saying_so() -> None:
    g = graph(node("Ask", "human", prompt="hello?"))
    result = start(g, MemoryStateAdapter(), {})
    assert result.status == "failed"
    assert result.state["error"] == "human node 'Ask' has no Output_Field to write the answer to"


def test_choices_for_a_field_the_node_does_not_write_fail_before_asking() -> None:
    g = graph(node("Ask", "human", outputs="ok", context={"choices": {"okay": ["y", "n"]}}))
    result = start(g, MemoryStateAdapter(), {})
    assert result.status == "failed"
    assert result.waiting is None
    assert result.error is not None
    assert "choices name 'okay', which is not among its Output_Field (ok)" in result.error


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (3, "Context key 'choices' must be a list of answers, got int"),
        ([], "Context key 'choices' must list at least one answer"),
        ({"a": None}, "Context key 'choices.a' must be a list of answers, got NoneType"),
    ],
)
def test_bad_choices_are_refused_when_the_agent_is_built(choices: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HumanAgent("Ask", "", {"choices": choices})


def test_without_a_store_a_human_node_fails_the_run_saying_it_could_not_be_resumed() -> None:
    result = GraphRunner(approval(), factory).run({"topic": "tea"})
    assert result.status == "failed"
    assert "could never be resumed" in (result.error or "")
