"""BaseAgent keeps the AgentMap API users already write against."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import pytest

from agentmap.agents.base_agent import BaseAgent, ServiceNotConfiguredError
from agentmap.services.protocols import LLMCapableAgent, LLMServiceProtocol


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


def test_user_agent_works_with_mock_services() -> None:
    logger, tracker, adapter, llm = Mock(), Mock(), Mock(), Mock()
    llm.call_llm.return_value = "sunny"
    agent = WeatherAnalysisAgent(
        "Weather", "prompt", {"provider": "openai"}, logger, tracker, adapter
    )
    agent.configure_llm_service(llm)
    assert agent.process({"city": "Oslo"}) == "sunny"
    llm.call_llm.assert_called_once_with(
        provider="openai",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        temperature=0.2,
    )
    assert agent.process({}) == {"error": "city is required"}
    logger.warning.assert_called_once_with("[Weather] no city given")
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


def test_log_helpers_use_each_level() -> None:
    logger = Mock()
    agent = BaseAgent("N", logger=logger)
    agent.log_debug("d")
    agent.log_info("i")
    agent.log_warning("w")
    agent.log_error("e")
    logger.debug.assert_called_once_with("[N] d")
    logger.info.assert_called_once_with("[N] i")
    logger.warning.assert_called_once_with("[N] w")
    logger.error.assert_called_once_with("[N] e")


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

    llm = Mock()
    agent = Assigning("A")
    agent.configure_llm_service(llm)
    assert agent.llm_service is llm
    assert agent._llm_service is llm


def test_base_agent_never_assigns_service_attributes() -> None:
    class ReadOnly(BaseAgent):
        @property
        def cache_service(self) -> Any:  # type: ignore[override]
            return "mine"

    agent = ReadOnly("R", "p", {}, logger=Mock())
    assert agent.cache_service == "mine"
    assert "llm_service" not in vars(agent)
    assert "cache_service" not in vars(agent)
