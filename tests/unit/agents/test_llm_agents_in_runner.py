"""The LLM built-ins run through the real runner: Output_Field, memory in the run state, failures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.runtime.result import RunResult
from agentmap.runtime.runner import GraphRunner
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.protocols import LLMCapableAgent
from agentmap.workflow.spec import GraphSpec, NodeSpec
from containers import create_application
from tests.unit.runtime.helpers import FnAgent, graph, node


def runner(g: GraphSpec, fake: Any, **agents: Any) -> GraphRunner:
    """Built-ins by type (``agents[name]`` replaces one); the LLM goes to agents that declare it."""

    def factory(spec: NodeSpec) -> Any:
        if spec.name in agents:
            return agents[spec.name]
        agent = BUILTIN_AGENTS[spec.agent_type](spec.name, spec.prompt, dict(spec.context))
        if LLMCapableAgent in type(agent).__mro__:
            agent.configure_llm_service(fake)
        return agent

    return GraphRunner(g, factory)


def run(g: GraphSpec, fake: Any, state: dict[str, Any] | None = None, **agents: Any) -> RunResult:
    return runner(g, fake, **agents).run(state)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# ---------------------------------------------------------------------- llm


def test_the_output_field_receives_the_reply() -> None:
    fake = FakeLLMService(["Paris"])
    g = graph(node("Ask", "llm", inputs="q", outputs="answer", prompt="Capital of {q}?"))
    result = run(g, fake, {"q": "France"})
    assert result.success, result.error
    assert result.state["answer"] == "Paris"
    assert fake.calls[0].messages == [user("Capital of France?")]
    assert [(c.node, c.model) for c in result.llm_calls] == [("Ask", "fake")]


def test_memory_is_shared_by_key_and_kept_apart_by_key() -> None:
    fake = FakeLLMService(["r1", "r2", "r3"])
    g = graph(
        node("A", "llm", inputs="q1", outputs="a1", edge="B", context={"memory_key": "chat"}),
        node("B", "llm", inputs="q2", outputs="a2", edge="C", context={"memory_key": "chat"}),
        node("C", "llm", inputs="q3", outputs="a3", context={"memory_key": "notes"}),
    )
    result = run(g, fake, {"q1": "one", "q2": "two", "q3": "three"})
    assert (result.state["a1"], result.state["a2"], result.state["a3"]) == ("r1", "r2", "r3")
    assert [c.messages for c in fake.calls] == [
        [user("one")],
        [user("one"), bot("r1"), user("two")],
        [user("three")],  # node C's key is another conversation
    ]
    assert result.state["chat"] == [user("one"), bot("r1"), user("two"), bot("r2")]
    assert result.state["notes"] == [user("three"), bot("r3")]


def _chat_loop(max_memory: int = 20) -> GraphSpec:
    return graph(
        node(
            "Chat",
            "llm",
            inputs="q",
            outputs="answer",
            success="Loop",
            prompt="You are brief.",
            context={"memory_key": "chat", "max_memory_messages": max_memory},
        ),
        node("Loop", inputs="turns", success="Chat|Done"),
        node("Done", inputs="answer", outputs="final"),
    )


def test_memory_grows_over_a_loop_and_is_trimmed() -> None:
    fake = FakeLLMService(["r1", "r2", "r3"])

    def decide(inputs: dict[str, Any]) -> Any:
        return {"__next__": "Chat" if len(fake.calls) < 3 else "Done"}

    result = run(_chat_loop(max_memory=4), fake, {"q": "hi"}, Loop=FnAgent("Loop", decide))
    assert result.path == ["Chat", "Loop", "Chat", "Loop", "Chat", "Loop", "Done"]
    system = {"role": "system", "content": "You are brief."}
    assert [c.messages for c in fake.calls] == [
        [system, user("hi")],
        [system, user("hi"), bot("r1"), user("hi")],
        [system, user("hi"), bot("r1"), user("hi"), bot("r2"), user("hi")],
    ]
    # Kept: the last 4 messages, i.e. the last two exchanges.
    assert result.state["chat"] == [user("hi"), bot("r2"), user("hi"), bot("r3")]
    assert result.state["final"] == "r3"


def test_memory_belongs_to_the_run_not_to_the_shared_agent() -> None:
    fake = FakeLLMService(default="ok")
    g = graph(node("Ask", "llm", inputs="q", outputs="a", context={"memory_key": "chat"}))
    shared = runner(g, fake)
    shared.run({"q": "first run"})
    second = shared.run({"q": "second run"})
    assert fake.calls[1].messages == [user("second run")]
    assert second.state["chat"] == [user("second run"), bot("ok")]
    # A run may start from a remembered conversation (a checkpoint, a previous session).
    third = shared.run({"q": "again", "chat": [user("before"), bot("yes")]})
    assert fake.calls[2].messages == [user("before"), bot("yes"), user("again")]
    assert len(third.state["chat"]) == 4


def test_json_with_memory_fills_several_output_fields() -> None:
    fake = FakeLLMService(['{"city": "Oslo", "country": "Norway"}'])
    g = graph(
        node(
            "Extract",
            "llm",
            inputs="text",
            outputs="city|country",
            prompt="Extract city and country as JSON: {text}",
            context={"response_format": "json", "memory_key": "chat"},
        )
    )
    state = run(g, fake, {"text": "I live in Oslo"}).state
    assert (state["city"], state["country"]) == ("Oslo", "Norway")
    assert state["chat"][-1] == bot('{"city": "Oslo", "country": "Norway"}')
    assert fake.calls[0].kwargs == {"response_format": {"type": "json_object"}}


def test_invalid_json_is_retried_then_routed_to_failure() -> None:
    fake = FakeLLMService(["not json", "still not json"])
    g = graph(
        node(
            "Extract",
            "llm",
            inputs="text",
            outputs="data",
            success="Use",
            failure="Oops",
            context={"response_format": "json", "retries": 1},
        ),
        node("Use", inputs="data", outputs="final"),
        node("Oops", inputs="error", outputs="final"),
    )
    result = run(g, fake, {"text": "x"})
    assert len(fake.calls) == 2
    assert result.path == ["Extract", "Oops"]
    assert result.state["final"] == (
        "llm node 'Extract': the reply is not valid JSON (Expecting value: line 1 column 1): "
        "'still not json'"
    )
    assert result.state["errors"][-1]["type"] == "ValueError"
    assert "data" not in result.state


class FlakyLLM(FakeLLMService):
    """Raises like a provider that is rate limiting, ``failures`` times, then answers."""

    def __init__(self, failures: int, reply: str) -> None:
        super().__init__(default=reply)
        self.failures = failures

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("429 rate limited")
        return await super().acall_llm(provider, messages, model, temperature, **kwargs)


def test_provider_errors_fail_the_node_and_retries_apply() -> None:
    g = graph(
        node("Ask", "llm", inputs="q", outputs="a", failure="Oops", context={"retries": 1}),
        node("Oops", inputs="error", outputs="a"),
    )
    recovered = run(g, FlakyLLM(1, "fine"), {"q": "x"})
    assert recovered.path == ["Ask"]
    assert recovered.state["a"] == "fine"

    failed = run(g, FlakyLLM(2, "fine"), {"q": "x"})
    assert failed.path == ["Ask", "Oops"]
    assert failed.state["a"] == "429 rate limited"
    assert failed.state["errors"][-1] == {
        "node": "Ask",
        "type": "ConnectionError",
        "message": "429 rate limited",
        "attempt": 2,
    }


def test_memory_key_that_is_the_output_field_fails() -> None:
    g = graph(
        node(
            "Ask", "llm", inputs="q", outputs="chat", failure="Oops", context={"memory_key": "chat"}
        ),
        node("Oops", inputs="error", outputs="final"),
    )
    fake = FakeLLMService(["r"])
    result = run(g, fake, {"q": "x"})
    assert result.path == ["Ask", "Oops"]
    assert "memory_key 'chat' is also its Output_Field" in result.state["final"]
    assert fake.calls == []


# ---------------------------------------------------------------------- summary


def test_summary_with_llm_summarises_the_joined_text() -> None:
    fake = FakeLLMService(["Rainy day in Oslo."])
    g = graph(
        node(
            "Sum",
            "summary",
            inputs="city|weather|news",
            outputs="digest",
            context={"llm": True, "model": "small", "separator": "\n", "max_tokens": 50},
        )
    )
    result = run(g, fake, {"city": "Oslo", "weather": "rain", "news": None})
    assert result.state["digest"] == "Rainy day in Oslo."
    call = fake.calls[0]
    assert call.messages == [
        {
            "role": "system",
            "content": "Summarize the following content concisely. Keep the important facts, "
            "names and numbers, and do not add anything that is not in the content.",
        },
        {"role": "user", "content": "city: Oslo\nweather: rain"},
    ]
    assert (call.provider, call.model, call.kwargs) == (None, "small", {"max_tokens": 50})


def test_summary_prompt_is_the_instruction_and_llm_may_name_the_provider() -> None:
    fake = FakeLLMService(["Short."])
    g = graph(
        node(
            "Sum",
            "summary",
            inputs="city|report",
            outputs="digest",
            prompt="Summarise for a tourist in {city}, in one sentence.",
            context={"llm": "anthropic", "temperature": 0.3},
        )
    )
    assert run(g, fake, {"city": "Oslo", "report": "long"}).state["digest"] == "Short."
    call = fake.calls[0]
    assert call.messages[0] == {
        "role": "system",
        "content": "Summarise for a tourist in Oslo, in one sentence.",
    }
    assert call.messages[1] == {"role": "user", "content": "city: Oslo\n\nreport: long"}
    assert (call.provider, call.temperature) == ("anthropic", 0.3)


def test_summary_of_nothing_does_not_call_the_llm() -> None:
    fake = FakeLLMService()
    g = graph(node("Sum", "summary", inputs="a", outputs="digest", context={"model": "m"}))
    assert run(g, fake, {"a": None}).state["digest"] == ""
    assert fake.calls == []


def test_text_summary_never_gets_the_llm() -> None:
    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError("a text summary must not use the LLM service")

    g = graph(node("Sum", "summary", inputs="a", outputs="digest", context={"llm": False}))
    assert run(g, Untouchable(), {"a": "x"}).state["digest"] == "a: x"


# ---------------------------------------------------------------------- through the application


CSV = (
    "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Edge\n"
    'QA,Ask,llm,question,answer,Answer briefly: {question},"{""temperature"": 0}",Check\n'
    'QA,Check,claude,answer,verdict,Is this answer correct? {answer},"{""model"": ""haiku""}",\n'
)


def test_application_runs_an_llm_csv_with_the_fake(tmp_path: Path) -> None:
    (tmp_path / "qa.csv").write_text(CSV)
    fake = FakeLLMService(["42", "Yes."])
    with create_application("test") as app, app.use(llm=fake):
        result = app.run(tmp_path / "qa.csv", {"question": "What is six times seven?"})
    assert result.success, result.error
    assert result.state["answer"] == "42"
    assert result.state["verdict"] == "Yes."
    first, second = fake.calls
    assert first.messages == [user("Answer briefly: What is six times seven?")]
    assert (first.provider, first.temperature) == (None, 0.0)
    assert second.messages == [user("Is this answer correct? 42")]
    assert (second.provider, second.model) == ("anthropic", "haiku")


SUMMARY_CSV = (
    "GraphName,Node,AgentType,Input_Fields,Output_Field,Context,Success_Next\n"
    'G,Route,orchestrator,text,route,"{""matching"": ""llm""}",Sum|Other\n'
    'G,Sum,summary,text,digest,"{""llm"": true}",\n'
    "G,Other,echo,text,digest,,\n"
)


def test_application_injects_the_llm_into_llm_summaries_and_routers(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text(SUMMARY_CSV)
    fake = FakeLLMService(["Sum", "A summary."])
    with create_application("test") as app, app.use(llm=fake):
        result = app.run(tmp_path / "g.csv", {"text": "long text"})
    assert result.success, result.error
    assert result.state["digest"] == "A summary."


def test_a_run_with_text_summaries_and_keyword_routing_never_imports_litellm() -> None:
    script = (
        "import sys\n"
        "from containers import create_application\n"
        "from tests.unit.runtime.helpers import graph, node\n"
        "app = create_application('development', tracking={'backend': 'memory'},\n"
        "                         state={'backend': 'memory'})\n"
        "g = graph(\n"
        "    node('R', 'orchestrator', inputs='t', outputs='r', success='Sum|X',\n"
        "         context={'matching': 'keyword', 'default_target': 'Sum'}),\n"
        "    node('Sum', 'summary', inputs='t', outputs='o'),\n"
        "    node('X', 'echo', inputs='t', outputs='o'),\n"
        ")\n"
        "r = app.runner(g).run({'t': 'hi'})\n"
        "assert r.state['o'] == 't: hi', r\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    assert out.stdout.strip() == "[]"
