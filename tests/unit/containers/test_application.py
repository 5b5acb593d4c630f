"""The composition root: services per settings, overrides in tests, injection by declaration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from agentmap.agents.base_agent import BaseAgent, ServiceNotConfiguredError
from agentmap.errors import AgentError
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.protocols import CacheCapableAgent, LLMCapableAgent
from agentmap.services.tracking.memory import MemoryTracker
from containers import Application, create_application
from tests.unit.runtime.helpers import graph, node


class AskAgent(BaseAgent, LLMCapableAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        return self.llm_service.call_llm(
            provider="openai", messages=[{"role": "user", "content": inputs["q"]}]
        )


class PlainAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        try:
            self.llm_service  # noqa: B018
        except ServiceNotConfiguredError:
            return "no llm"
        return "has llm"


class SneakyAgent(BaseAgent):
    """Defines the hook but does not declare the capability."""

    run_inline = True
    got: Any = None

    def configure_llm_service(self, llm_service: Any) -> None:
        type(self).got = llm_service

    def process(self, inputs: dict[str, Any]) -> Any:
        return "sneaky"


class CachingAgent(BaseAgent, CacheCapableAgent):
    run_inline = True

    async def process(self, inputs: dict[str, Any]) -> Any:  # type: ignore[override]
        await self.cache_service.set("k", inputs["v"])
        return await self.cache_service.get("k")


@pytest.fixture
def app() -> Any:
    application = create_application("test")
    registry = application.container.agents.registry()
    for cls in (AskAgent, PlainAgent, SneakyAgent, CachingAgent):
        registry.register(cls.__name__, cls)
    yield application
    application.close()


def test_test_preset_wires_fake_and_memory_backends(app: Application) -> None:
    services = app.container.services
    assert isinstance(services.llm(), FakeLLMService)
    assert isinstance(services.tracker(), MemoryTracker)
    assert services.tracker() is services.tracker()  # one per application


def test_override_llm_and_tracker_reach_the_agent(app: Application) -> None:
    fake = FakeLLMService(["forty-two"])
    tracker = MemoryTracker()
    with app.use(llm=fake, tracker=tracker):
        result = app.runner(graph(node("Ask", "AskAgent", inputs="q", outputs="a"))).run(
            {"q": "meaning?"}
        )
    assert result.state["a"] == "forty-two"
    assert fake.calls[0].provider == "openai"
    assert fake.calls[0].messages == [{"role": "user", "content": "meaning?"}]
    assert next(e.kind for e in tracker.events) == "run_started"
    assert [e.kind for e in tracker.events][-1] == "run_finished"
    # overrides are reset after the block
    assert app.container.services.llm() is not fake


def test_raw_provider_override_works_too(app: Application) -> None:
    fake = FakeLLMService(["via provider override"])
    app.container.services.llm.override(providers.Object(fake))
    try:
        result = app.runner(graph(node("Ask", "AskAgent", inputs="q", outputs="a"))).run({"q": "?"})
    finally:
        app.container.services.llm.reset_override()
    assert result.state["a"] == "via provider override"


def test_agent_without_capability_gets_no_llm_and_llm_is_never_built(app: Application) -> None:
    built = []
    app.container.services.llm.override(providers.Callable(lambda: built.append(1) or object()))
    try:
        result = app.runner(graph(node("P", "PlainAgent", outputs="r"))).run()
    finally:
        app.container.services.llm.reset_override()
    assert result.state["r"] == "no llm"
    assert built == []


class ListLogger:
    """A logger that keeps its warnings (the part of LoggerProtocol the factory uses)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def bind(self, **extra: Any) -> ListLogger:
        return self

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(message)

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        pass

    info = error = debug


def test_hook_without_declaration_is_not_injected_and_warns(app: Application) -> None:
    logger = ListLogger()
    app.container.core.logger.override(providers.Object(logger))
    try:
        app.runner(graph(node("S", "SneakyAgent", edge="S2"), node("S2", "SneakyAgent"))).run()
    finally:
        app.container.core.logger.reset_override()
    assert SneakyAgent.got is None
    warnings = logger.warnings
    assert len(warnings) == 1  # once per class, not per node
    assert "configure_llm_service" in warnings[0]
    assert "LLMCapableAgent" in warnings[0]


def test_cache_capability_gets_the_configured_cache(app: Application) -> None:
    result = app.runner(graph(node("C", "CachingAgent", inputs="v", outputs="r"))).run({"v": [1]})
    assert result.state["r"] == [1]


def test_base_services_are_passed_only_to_constructors_that_accept_them(
    app: Application,
) -> None:
    seen: dict[str, Any] = {}

    class Narrow(BaseAgent):
        run_inline = True

        def __init__(self, name: str, prompt: str, context: Any = None) -> None:
            super().__init__(name, prompt, context)

        def process(self, inputs: dict[str, Any]) -> Any:
            seen["narrow"] = (self.logger, self.execution_tracker_service)

    class Wide(BaseAgent):
        run_inline = True

        def __init__(self, name: str, prompt: str, context: Any = None, **kw: Any) -> None:
            super().__init__(name, prompt, context, **kw)

        def process(self, inputs: dict[str, Any]) -> Any:
            seen["wide"] = (self.logger, self.execution_tracker_service)

    registry = app.container.agents.registry()
    registry.register("Narrow", Narrow)
    registry.register("Wide", Wide)
    app.runner(graph(node("N", "Narrow", edge="W"), node("W", "Wide"))).run()
    assert seen["narrow"] == (None, None)
    assert seen["wide"][0] is not None
    assert seen["wide"][1] is app.container.services.tracker()


def test_unknown_type_and_broken_constructor_name_the_node(app: Application) -> None:
    with pytest.raises(AgentError, match=r"node 'X': unknown agent type 'Nope'"):
        app.runner(graph(node("X", "Nope")))

    class Broken(BaseAgent):
        def __init__(self, name: str, prompt: str, context: Any = None) -> None:
            raise ValueError("needs an api key")

    app.container.agents.registry().register("Broken", Broken)
    with pytest.raises(AgentError, match=r"node 'B': cannot construct agent Broken: ValueError"):
        app.runner(graph(node("B", "Broken")))


def test_otel_tracker_backend_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)  # no exporter: nothing leaves
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    from agentmap.services.tracking.otel import OtelTracker

    application = create_application("test", tracking={"backend": "otel"})
    assert isinstance(application.tracker, OtelTracker)
    assert application.runner(graph(node("A", "echo"))).run({}).success


def test_unknown_service_name_in_use(app: Application) -> None:
    with pytest.raises(TypeError, match="unknown service"), app.use(llmm=object()):
        pass


def test_jsonl_tracker_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    with create_application("test", tracking={"backend": "jsonl", "path": path}) as application:
        application.runner(graph(node("A", "echo", edge="B"), node("B", "echo"))).run()
    kinds = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_finished"
    assert kinds.count("node_finished") == 2


def test_a_run_without_llm_nodes_never_imports_litellm(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from containers import create_application\n"
        "from tests.unit.runtime.helpers import graph, node\n"
        "app = create_application('development', tracking={'backend': 'memory'},\n"
        "                         state={'backend': 'memory'})\n"
        "r = app.runner(graph(node('A', 'echo', prompt='hi', outputs='o'))).run()\n"
        "assert r.state['o'] == 'hi', r\n"
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


def test_jsonl_tracker_masks_secrets_in_error_messages(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    secret = "sk-test-very-secret-123"
    settings_overrides = {
        "tracking": {"backend": "jsonl", "path": path},
        "llm": {"api_key": secret},
    }
    with create_application("test", **settings_overrides) as application:
        result = application.runner(
            graph(node("A", "failure", prompt=f"key {secret} leaked"))
        ).run()
    assert result.status == "failed"
    text = path.read_text()
    assert secret not in text
    assert "key ********** leaked" in text
