"""Agents container and the agent factory: one agent per node, with exactly the services it declares.

An agent *declares* a service by listing its capability protocol among its base
classes (``class MyAgent(BaseAgent, LLMCapableAgent)``). The factory checks the
class's MRO rather than the protocol's structural ``isinstance``: ``BaseAgent``
itself has every ``configure_*`` hook, so a structural check would hand every
service to every agent. Services are reached through provider delegates and
created on first need, so a graph with no LLM node never builds the LLM service
(and never imports litellm).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.registry import AgentRegistry
from agentmap.errors import AgentError
from agentmap.services.protocols import (
    CacheCapableAgent,
    LLMCapableAgent,
    PromptCapableAgent,
    StorageCapableAgent,
)
from agentmap.settings import AgentMapSettings
from agentmap.workflow.spec import NodeSpec

#: (capability protocol, hook on the agent, service name in the factory's ``services``)
CAPABILITIES: tuple[tuple[type, str, str], ...] = (
    (LLMCapableAgent, "configure_llm_service", "llm"),
    (CacheCapableAgent, "configure_cache_service", "cache"),
    (StorageCapableAgent, "configure_storage_service", "storage"),
    (PromptCapableAgent, "configure_prompt_service", "prompt"),
)
_BASE_KWARGS = ("logger", "execution_tracker_service", "state_adapter_service")


class AgentFactory:
    """Builds the agent of a node. Called once per node when a runner is built.

    The container makes one factory per runner: the tracker and state adapter
    every agent may receive are resolved once (with whatever overrides are in
    force), while the capability services stay lazy delegates.
    """

    def __init__(
        self,
        registry: AgentRegistry,
        services: Mapping[str, Callable[[], Any]],
        logger: Any,
        tracker: Any,
        state_adapter: Any,
    ) -> None:
        self.registry = registry
        self._services = services
        self._logger = logger
        self._base_services = {
            "execution_tracker_service": tracker,
            "state_adapter_service": state_adapter,
        }
        self._accepted: dict[type, tuple[str, ...]] = {}
        self._warned: set[tuple[type, str]] = set()
        self._warned_hidden: set[tuple[type, str]] = set()

    def __call__(self, node: NodeSpec) -> BaseAgent:
        try:
            cls = self.registry.get(node.agent_type)
        except AgentError:
            raise AgentError(
                f"{node.location}: node {node.name!r}: unknown agent type {node.agent_type!r}"
            ) from None
        self._warn_if_hidden(cls, node)
        kwargs = self._constructor_kwargs(cls, node)
        try:
            agent = cls(node.name, node.prompt, dict(node.context), **kwargs)
        except Exception as exc:
            raise AgentError(
                f"{node.location}: node {node.name!r}: cannot construct agent "
                f"{cls.__name__}: {type(exc).__name__}: {exc}"
            ) from exc
        self._inject(agent, type(agent), node)
        if node.tool_source:
            configure = getattr(agent, "configure_tools", None)
            if configure is not None:
                # Loaded while the runner is built, so a broken tool stops the run
                # before its first node (raises WorkflowError at the node's row).
                from agentmap.services.tools.loading import node_tools

                configure(node_tools(node))
        return agent

    def _warn_if_hidden(self, cls: type, node: NodeSpec) -> None:
        """Say so when the node's type names another class than the user's custom one."""
        hidden = self.registry.hidden(node.agent_type)
        if hidden is None or hidden is cls or (hidden, node.agent_type) in self._warned_hidden:
            return
        self._warned_hidden.add((hidden, node.agent_type))
        self._logger.warning(
            f"{node.location}: node {node.name!r}: agent type {node.agent_type!r} is "
            f"{cls.__module__}.{cls.__qualname__}, not your {hidden.__qualname__} "
            f"({getattr(sys.modules.get(hidden.__module__), '__file__', hidden.__module__)}): "
            "that name was taken first; write "
            f"{hidden.__qualname__!r} in the AgentType column to use yours"
        )

    def _constructor_kwargs(self, cls: type, node: NodeSpec) -> dict[str, Any]:
        accepted = self._accepted.get(cls)
        if accepted is None:
            params = inspect.signature(cls).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            accepted = tuple(k for k in _BASE_KWARGS if takes_any or k in params)
            self._accepted[cls] = accepted
        kwargs: dict[str, Any] = {}
        for key in accepted:
            if key == "logger":
                kwargs[key] = self._logger.bind(node=node.name, graph=node.graph)
            else:
                kwargs[key] = self._base_services[key]
        return kwargs

    def _inject(self, agent: BaseAgent, cls: type, node: NodeSpec) -> None:
        mro = cls.__mro__
        for capability, hook, service in CAPABILITIES:
            if capability in mro:
                provider = self._services.get(service)
                if provider is None:
                    raise AgentError(
                        f"{node.location}: node {node.name!r}: {cls.__name__} declares "
                        f"{capability.__name__}, but this version has no {service} service yet"
                    )
                getattr(agent, hook)(provider())
            elif getattr(cls, hook, None) is not getattr(BaseAgent, hook) and (
                (cls, hook) not in self._warned
            ):
                self._warned.add((cls, hook))
                self._logger.warning(
                    f"{cls.__name__} defines {hook}() but does not list "
                    f"{capability.__name__} among its bases, so it gets no {service} service"
                )


def build_registry(settings: AgentMapSettings) -> AgentRegistry:
    return AgentRegistry.with_builtins([Path(settings.paths.custom_agents)])


class AgentsContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)
    logger: providers.Dependency[Any] = providers.Dependency()
    services = providers.DependenciesContainer()

    registry = providers.Singleton(build_registry, settings)
    factory = providers.Factory(
        AgentFactory,
        registry=registry,
        services=providers.Dict(
            llm=services.llm_service.provider,
            cache=services.cache.provider,
            prompt=services.prompts.provider,
            storage=services.storage.provider,
        ),
        logger=logger,
        tracker=services.tracker,
        state_adapter=services.state,
    )
