"""The ``orchestrator`` agent: matching functions, Context checks, and routing through the runner."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.orchestrator import (
    MENTION_CONFIDENCE,
    Candidate,
    Choice,
    LLMOrchestratorAgent,
    OrchestratorAgent,
    keyword_choice,
    pick_from_reply,
    words,
)
from agentmap.runtime.result import RunResult
from agentmap.runtime.runner import GraphRunner
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.protocols import LLMCapableAgent
from agentmap.workflow.spec import GraphSpec, NodeSpec
from tests.unit.runtime.helpers import graph, node

BILLING = Candidate("Billing", "Payments, refunds and invoices")
SHIPPING = Candidate("Shipping", "Deliveries, parcel tracking and delivery addresses")
GENERAL = Candidate("General", "Anything else")
CANDIDATES = [BILLING, SHIPPING, GENERAL]


# ---------------------------------------------------------------------- matching


def test_words_are_lower_case_singular_and_split_camel_case() -> None:
    assert words("BillingSupport: Refunds, boxes & queries; status") == [
        "billing",
        "support",
        "refund",
        "box",
        "query",
        "status",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "I", "need", "a" are common words: only "refund" counts, and Billing has it.
        ("I need a refund", Choice("Billing", 1.0, "keyword")),
        # parcel and tracking of {parcel, tracking, say, nothing}
        ("Where is my parcel? Tracking says nothing", Choice("Shipping", 0.5, "keyword")),
        # Naming a candidate is enough.
        ("a shipping question", Choice("Shipping", 1.0, "keyword")),
        # A refund for a parcel: both match equally, so the input does not decide.
        ("refund for my parcel", Choice("Billing", 0.0, "keyword")),
        ("hello", Choice(None, 0.0, "keyword")),
        ("", Choice(None, 0.0, "keyword")),
    ],
)
def test_keyword_choice(text: str, expected: Choice) -> None:
    assert keyword_choice(text, CANDIDATES) == expected


def test_keyword_choice_reads_candidate_keywords() -> None:
    refunds = Candidate("Refunds", keywords=("money back", "chargeback"))
    assert keyword_choice("I want my money back", [BILLING, refunds]) == Choice(
        "Refunds", 1.0, "keyword"
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Shipping", ("Shipping", 1.0)),
        ("  shipping.\n", ("Shipping", 1.0)),
        ('"Billing"', ("Billing", 1.0)),
        ("`General`", ("General", 1.0)),
        ("The best node is Shipping, not Billing.", ("Shipping", MENTION_CONFIDENCE)),
        ("Route to: billing", ("Billing", MENTION_CONFIDENCE)),
        ("I cannot tell.", (None, 0.0)),
        ("Shippingfast", (None, 0.0)),
    ],
)
def test_pick_from_reply(reply: str, expected: tuple[str | None, float]) -> None:
    assert pick_from_reply(reply, ["Billing", "Shipping", "General"]) == expected


def test_the_longest_name_wins_at_the_same_position() -> None:
    assert pick_from_reply("Use Billing Support", ["Billing", "Billing Support"]) == (
        "Billing Support",
        MENTION_CONFIDENCE,
    )


# ---------------------------------------------------------------------- building


def test_the_class_declares_the_llm_only_when_it_may_call_it() -> None:
    assert BUILTIN_AGENTS["orchestrator"] is OrchestratorAgent
    keyword = OrchestratorAgent("R", "", {"matching": "keyword"})
    assert type(keyword) is OrchestratorAgent
    assert LLMCapableAgent not in type(keyword).__mro__
    for context in ({}, {"matching": "llm"}, {"matching": "tiered"}):
        built = OrchestratorAgent("R", "", context)
        assert type(built) is LLMOrchestratorAgent
        assert LLMCapableAgent in type(built).__mro__


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"matching": "fuzzy"},
            "'matching' must be one of 'tiered', 'keyword', 'llm', got 'fuzzy'",
        ),
        ({"matching_strategy": "spacy"}, "'matching_strategy' must be one of"),
        ({"matching": "llm", "matching_strategy": "llm"}, "'matching_strategy' repeats 'matching'"),
        (
            {"confidence_threshold": 1.5},
            "'confidence_threshold' must be a number from 0 to 1, got 1.5",
        ),
        ({"confidence_threshold": "high"}, "'confidence_threshold' must be a number from 0 to 1"),
        ({"default_target": ""}, "'default_target' must be a node name, got ''"),
        ({"nodes": "Billing|Shipping"}, "'nodes' must map node names to descriptions"),
        ({"nodes": {"Billing": 1}}, "'nodes' must map node names to descriptions"),
        ({"temperature": 3}, "'temperature' must be a number from 0 to 2, got 3"),
    ],
)
def test_bad_context(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^orchestrator node 'R': Context key ") as info:
        OrchestratorAgent("R", "", context)
    assert message in str(info.value)


def test_a_text_only_subclass_cannot_ask_the_llm() -> None:
    class KeywordRouter(OrchestratorAgent):
        pass

    KeywordRouter("R", "", {"matching": "keyword"})
    with pytest.raises(ValueError, match="derive it from LLMOrchestratorAgent"):
        KeywordRouter("R", "", {"matching": "llm"})


async def test_outside_a_run_there_is_nothing_to_choose_from() -> None:
    with pytest.raises(RuntimeError, match="only runs inside a graph run"):
        await OrchestratorAgent("R", "", {"matching": "keyword"}).process({"q": "refund"})


# ---------------------------------------------------------------------- through the runner


def described(spec: NodeSpec, description: str) -> NodeSpec:
    return dataclasses.replace(spec, description=description)


def routing_graph(
    context: dict[str, Any], *, outputs: str = "route", prompt: str = "", inputs: str = "request"
) -> GraphSpec:
    return graph(
        node(
            "Route",
            "orchestrator",
            inputs=inputs,
            outputs=outputs,
            success="Billing|Shipping|General",
            failure="Oops",
            context=context,
            prompt=prompt,
        ),
        described(node("Billing", inputs="request", outputs="handled"), BILLING.description),
        described(node("Shipping", inputs="request", outputs="handled"), SHIPPING.description),
        described(node("General", inputs="request", outputs="handled"), GENERAL.description),
        node("Oops", inputs="error", outputs="handled"),
    )


def run(g: GraphSpec, request: Any, fake: FakeLLMService | None = None, **state: Any) -> RunResult:
    """Built-ins by type; agents that declare the LLM get ``fake`` (as the factory will)."""
    llm = fake or FakeLLMService()

    def factory(spec: NodeSpec) -> Any:
        agent = BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))
        if LLMCapableAgent in type(agent).__mro__:
            agent.configure_llm_service(llm)
        return agent

    return GraphRunner(g, factory).run({"request": request, **state})


def test_keyword_routes_to_one_target_without_the_llm() -> None:
    fake = FakeLLMService()
    result = run(routing_graph({"matching": "keyword"}), "I need a refund", fake)
    assert result.path == ["Route", "Billing"]
    assert result.state["route"] == {"target": "Billing", "confidence": 1.0, "method": "keyword"}
    assert fake.calls == []


def test_output_field_can_keep_just_the_name() -> None:
    result = run(routing_graph({"matching": "keyword"}, outputs="route=target"), "refund please")
    assert result.state["route"] == "Billing"


def test_keyword_below_threshold_goes_to_the_default_target() -> None:
    g = routing_graph({"matching": "keyword", "default_target": "General"})
    result = run(g, "refund for my parcel")
    assert result.path == ["Route", "General"]
    assert result.state["route"] == {"target": "General", "confidence": 0.0, "method": "default"}


def test_no_match_and_no_default_fails_the_node() -> None:
    result = run(routing_graph({"matching": "keyword"}), "hello")
    assert result.path == ["Route", "Oops"]
    assert result.state["handled"] == (
        "orchestrator node 'Route': the input matches none of its targets (Billing, Shipping, "
        "General); set Context default_target, or handle the failure with Failure_Next"
    )
    tie = run(routing_graph({"matching": "keyword"}), "refund for my parcel")
    assert "matches several targets equally well" in tie.state["handled"]
    weak = run(
        routing_graph({"matching": "keyword", "confidence_threshold": 0.9}), "parcel refund x"
    )
    assert weak.state["handled"].startswith("orchestrator node 'Route': the input matches several")
    low = run(routing_graph({"matching": "keyword", "confidence_threshold": 0.9}), "late parcel")
    assert "'Shipping' by keyword at 0.50, below confidence_threshold 0.9" in low.state["handled"]


def test_llm_mode_asks_with_the_descriptions() -> None:
    fake = FakeLLMService(["Shipping"])
    g = routing_graph(
        {"matching": "llm", "model": "small"},
        prompt="Prefer {request_kind}.",
        inputs="request|request_kind",
    )
    result = run(g, "I need a refund", fake, request_kind="humans")
    assert result.path == ["Route", "Shipping"]
    assert result.state["route"] == {"target": "Shipping", "confidence": 1.0, "method": "llm"}
    call = fake.calls[0]
    assert (call.model, call.temperature) == ("small", 0.0)
    assert call.messages == [
        {
            "role": "system",
            "content": "You route requests in a workflow: choose the one node that should "
            "handle the user's input.\n"
            "\n"
            "Nodes:\n"
            "- Billing: Payments, refunds and invoices\n"
            "- Shipping: Deliveries, parcel tracking and delivery addresses\n"
            "- General: Anything else\n"
            "\n"
            "Prefer humans.\n"
            "\n"
            "Answer with exactly one node name from the list and nothing else.",
        },
        {"role": "user", "content": "I need a refund"},  # request_kind went to the Prompt
    ]


def test_llm_reply_that_mentions_a_candidate() -> None:
    result = run(routing_graph({"matching": "llm"}), "x", FakeLLMService(["I'd say billing."]))
    assert result.state["route"] == {
        "target": "Billing",
        "confidence": MENTION_CONFIDENCE,
        "method": "llm",
    }


def test_llm_reply_naming_no_candidate_goes_to_the_default() -> None:
    g = routing_graph({"matching": "llm", "default_target": "General"})
    result = run(g, "x", FakeLLMService(["No idea"]))
    assert result.path == ["Route", "General"]
    assert result.state["route"]["method"] == "default"

    failed = run(routing_graph({"matching": "llm"}), "x", FakeLLMService(["No idea"]))
    assert failed.path == ["Route", "Oops"]
    assert "the LLM's reply names none of its targets" in failed.state["handled"]


def test_tiered_uses_keywords_when_sure_and_the_llm_otherwise() -> None:
    fake = FakeLLMService(["General"])
    g = routing_graph({})  # tiered is the default
    sure = run(g, "refund please", fake)
    assert sure.state["route"]["method"] == "keyword"
    assert fake.calls == []

    unsure = run(g, "refund for my parcel", fake)
    assert unsure.path == ["Route", "General"]
    assert unsure.state["route"] == {"target": "General", "confidence": 1.0, "method": "llm"}
    assert fake.calls[0].messages[-1] == {"role": "user", "content": "refund for my parcel"}


def test_provider_errors_fail_the_node() -> None:
    class Down(FakeLLMService):
        async def acall_llm(self, *args: Any, **kwargs: Any) -> str:
            raise ConnectionError("provider down")

    result = run(routing_graph({"matching": "llm", "default_target": "General"}), "x", Down())
    assert result.path == ["Route", "Oops"]
    assert result.state["errors"][-1]["type"] == "ConnectionError"


def test_empty_input_goes_to_the_default_without_asking() -> None:
    fake = FakeLLMService()
    result = run(routing_graph({"default_target": "General"}), None, fake)
    assert result.path == ["Route", "General"]
    assert fake.calls == []
    failed = run(routing_graph({}), "  ", fake)
    assert "nothing to route, the input is empty" in failed.state["handled"]


def test_default_target_must_be_a_target() -> None:
    result = run(routing_graph({"matching": "keyword", "default_target": "Nowhere"}), "refund")
    assert result.path == ["Route", "Oops"]
    assert result.state["handled"] == (
        "orchestrator node 'Route': Context default_target 'Nowhere' is not one of its success "
        "targets (Billing, Shipping, General); list it in Success_Next or Edge, or pick one of "
        "those"
    )


def test_context_nodes_override_descriptions_and_must_be_targets() -> None:
    g = routing_graph(
        {"matching": "keyword", "nodes": {"General": "questions about opening hours"}}
    )
    assert run(g, "opening hours?").path == ["Route", "General"]

    bad = run(routing_graph({"nodes": {"Sales": "buy"}}), "refund")
    assert bad.state["handled"] == (
        "orchestrator node 'Route': Context nodes names 'Sales', which is not among its success "
        "targets (Billing, Shipping, General)"
    )


def test_candidate_keywords_from_their_context() -> None:
    g = routing_graph({"matching": "keyword"})
    g = dataclasses.replace(
        g,
        nodes={
            **g.nodes,
            "General": dataclasses.replace(
                g.nodes["General"], context={"keywords": "hours, opening"}
            ),
        },
    )
    assert run(g, "opening hours").path == ["Route", "General"]
    broken = dataclasses.replace(
        g,
        nodes={
            **g.nodes,
            "General": dataclasses.replace(g.nodes["General"], context={"keywords": 3}),
        },
    )
    assert "candidate 'General' has Context keywords 3" in run(broken, "x").state["handled"]


def test_a_single_target_needs_no_choice() -> None:
    fake = FakeLLMService()
    g = graph(
        node("Route", "orchestrator", inputs="request", outputs="route", edge="Only"),
        node("Only", inputs="request", outputs="handled"),
    )
    result = run(g, "anything", fake)
    assert result.path == ["Route", "Only"]
    assert result.state["route"] == {"target": "Only", "confidence": 1.0, "method": "single"}
    assert fake.calls == []


def test_agentmap_matching_strategy_names() -> None:
    built = OrchestratorAgent("R", "", {"matching_strategy": "algorithm"})
    assert type(built) is OrchestratorAgent
    assert run(routing_graph({"matching_strategy": "algorithm"}), "refund").path == [
        "Route",
        "Billing",
    ]
