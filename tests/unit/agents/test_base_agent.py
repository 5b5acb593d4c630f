"""BaseAgent keeps the AgentMap API users already write against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from agentmap.agents.base_agent import BaseAgent, ServiceNotConfiguredError
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.logging import configure_logger, release_logger
from agentmap.services.protocols import LLMCapableAgent, LLMServiceProtocol
from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.services.tracking.memory import MemoryTracker
from agentmap.settings import LoggingSettings

if TYPE_CHECKING:
    from loguru import Logger


class LogCapture:
    """The real (loguru) logger, writing JSON lines into a list instead of stderr."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.logger: Logger
        self.logger, self.handler_ids = configure_logger(
            LoggingSettings(level="DEBUG", format="json"), sink=self.lines.append
        )

    def records(self) -> list[tuple[str, str]]:
        """(level, message) of every line written so far."""
        return [(r["level"], r["message"]) for r in map(json.loads, self.lines)]


@pytest.fixture
def log() -> Iterator[LogCapture]:
    capture = LogCapture()
    yield capture
    release_logger(capture.handler_ids)


class WeatherAnalysisAgent(BaseAgent, LLMCapableAgent):
    """Written exactly as an AgentMap user writes it."""

    def __init__(
        self,
        name,  # type: ignore[no-untyped-def]
        prompt,
        context=None,
        logger=None,
        execution_tracker_service=None,
        state_adapter_service=None,
    ):
        super().__init__(
            name,
            prompt,
            context,
            logger=logger,
            execution_tracker_service=execution_tracker_service,
            state_adapter_service=state_adapter_service,
        )

    def configure_llm_service(self, llm_service: LLMServiceProtocol) -> None:
        self._llm_service = llm_service

    @property
    def llm_service(self) -> LLMServiceProtocol:  # type: ignore[override]
        if self._llm_service is None:
            raise ValueError("LLM service not configured")
        return self._llm_service

    def process(self, inputs: dict[str, Any]) -> Any:
        provider = self.context.get("provider", "anthropic")
        if not inputs.get("city"):
            self.log_warning("no city given")
            return {"error": "city is required"}
        return self.llm_service.call_llm(
            provider=provider,
            messages=[{"role": "user", "content": f"Weather in {inputs['city']}?"}],
            temperature=self.context.get("temperature", 0.2),
        )


def test_user_agent_works_with_services_passed_positionally(log: LogCapture) -> None:
    tracker, adapter, llm = MemoryTracker(), MemoryStateAdapter(), FakeLLMService(["sunny"])
    agent = WeatherAnalysisAgent(
        "Weather", "prompt", {"provider": "openai"}, log.logger, tracker, adapter
    )
    agent.configure_llm_service(llm)
    assert agent.process({"city": "Oslo"}) == "sunny"
    [call] = llm.calls
    assert (call.provider, call.messages, call.temperature) == (
        "openai",
        [{"role": "user", "content": "Weather in Oslo?"}],
        0.2,
    )
    assert agent.process({}) == {"error": "city is required"}
    assert log.records() == [("WARNING", "[Weather] no city given")]
    assert agent.execution_tracker_service is tracker
    assert agent.state_adapter_service is adapter


def test_construct_with_no_services() -> None:
    agent = BaseAgent("N", "p")
    assert agent.context == {}
    assert agent.logger is None
    agent.log_info("nothing happens without a logger")
    with pytest.raises(NotImplementedError, match="BaseAgent must implement process"):
        agent.process({})


def test_context_is_a_private_copy() -> None:
    ctx = {"a": 1}
    agent = BaseAgent("N", "p", ctx)
    agent.context["a"] = 2
    assert ctx == {"a": 1}


def test_log_helpers_use_each_level(log: LogCapture) -> None:
    agent = BaseAgent("N", logger=log.logger)
    agent.log_debug("d")
    agent.log_info("i")
    agent.log_warning("w {}", "arg")
    agent.log_error("e")
    assert log.records() == [
        ("DEBUG", "[N] d"),
        ("INFO", "[N] i"),
        ("WARNING", "[N] w arg"),
        ("ERROR", "[N] e"),
    ]


def test_unconfigured_service_names_the_capability() -> None:
    agent = BaseAgent("Plain")
    with pytest.raises(ServiceNotConfiguredError) as err:
        agent.llm_service  # noqa: B018
    assert "'Plain'" in str(err.value)
    assert "LLMCapableAgent" in str(err.value)


def test_assigning_the_public_name_in_configure_works() -> None:
    class Assigning(BaseAgent, LLMCapableAgent):
        def configure_llm_service(self, llm_service: LLMServiceProtocol) -> None:
            self.llm_service = llm_service

    llm = FakeLLMService()
    agent = Assigning("A")
    agent.configure_llm_service(llm)
    assert agent.llm_service is llm
    assert agent._llm_service is llm


def test_base_agent_never_assigns_service_attributes() -> None:
    class ReadOnly(BaseAgent):
        @property
        def cache_service(self) -> Any:  # type: ignore[override]
            return "mine"

    agent = ReadOnly("R", "p", {})
    assert agent.cache_service == "mine"
    assert "llm_service" not in vars(agent)
    assert "cache_service" not in vars(agent)
