"""The composition root: small containers wired into one, and the ``Application`` facade.

``ApplicationContainer`` is what tests override (``app.container.services.llm
.override(providers.Object(my_llm))``); ``Application`` is the handful of
operations the CLI, scripts and tests perform with it: load a workflow, build
a runner, run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from dependency_injector import containers, providers

from agentmap.agents.registry import AgentRegistry
from agentmap.runtime.result import RunResult
from agentmap.runtime.runner import GraphRunner, RunOptions
from agentmap.services.prompt_graphs import resolve_graph_prompts
from agentmap.services.protocols import PromptServiceProtocol
from agentmap.settings import AgentMapSettings, load_settings
from agentmap.workflow import load_graph
from agentmap.workflow.overrides import apply_agent_overrides
from agentmap.workflow.spec import GraphSpec, WorkflowSpec
from containers.agents import AgentsContainer
from containers.core import CoreContainer
from containers.services import ServicesContainer


def run_options(settings: AgentMapSettings) -> RunOptions:
    ex = settings.execution
    return RunOptions(
        max_steps=ex.max_steps,
        retry_base_delay=ex.retry_base_delay,
        retry_max_delay=ex.retry_max_delay,
        checkpoint=ex.checkpoint,
        success_policy=ex.success_policy,
        critical_nodes=tuple(ex.critical_nodes),
        functions_paths=(Path(settings.paths.functions),),
        max_threads=ex.max_threads,
    )


class ApplicationContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)

    core = providers.Container(CoreContainer, settings=settings)
    services = providers.Container(ServicesContainer, settings=settings)
    agents = providers.Container(
        AgentsContainer, settings=settings, logger=core.logger, services=services
    )
    runner = providers.Factory(
        GraphRunner,
        agent_factory=agents.factory,
        tracker=services.tracker,
        state_adapter=services.state,
        logger=core.logger,
        options=providers.Callable(run_options, settings),
    )


class Application:
    """A configured AgentMap: settings, services and agents for one environment."""

    def __init__(self, container: ApplicationContainer) -> None:
        self.container = container

    @property
    def settings(self) -> AgentMapSettings:
        settings: AgentMapSettings = self.container.settings()
        return settings

    @property
    def factory(self) -> Callable[[], Application]:
        """A picklable recipe for an equal application (a Dask worker builds its own).

        It carries the settings, not this container: services overridden with
        ``use()`` stay in this process.
        """
        return functools.partial(create_application, settings=self.settings)

    def load(
        self, workflow: str | Path, graph: str | None = None
    ) -> tuple[WorkflowSpec, GraphSpec]:
        """Load and validate a graph, with this environment's agent overrides applied.

        Custom agents are looked up in the configured folder and in a
        ``custom_agents`` folder beside the CSV. Prompt references
        (``prompt:name``, ``file:path``, ``yaml:path#key``) are replaced by their
        text, in the graph and its subgraphs; one that resolves to nothing is a
        ``WorkflowError``.
        """
        spec, chosen = load_graph(workflow, graph, agent_types=self.agent_types_for)
        for warning in spec.warnings:
            self.container.core.logger().warning(str(warning))
        chosen = apply_agent_overrides(chosen, self.settings.agents)
        return spec, resolve_graph_prompts(chosen, self.prompts_for)

    def agent_types_for(self, csv_path: Path) -> list[str]:
        """Every agent type a workflow at ``csv_path`` may use (built-in and custom)."""
        registry: AgentRegistry = self.container.agents.registry()
        registry.load_folder(csv_path.parent / "custom_agents")
        return registry.names

    def prompts_for(self, csv_path: Path | None) -> PromptServiceProtocol:
        """The prompt service for references in the CSV at ``csv_path``.

        It looks in the configured prompts folder and a ``prompts`` folder beside
        the CSV, and tries relative file paths beside the CSV first.
        """
        service: PromptServiceProtocol = self.container.services.prompts()
        for_workflow = getattr(service, "for_workflow", None)
        if callable(for_workflow):
            derived: PromptServiceProtocol = for_workflow(csv_path)
            return derived
        return service

    def runner(self, graph: GraphSpec) -> GraphRunner:
        runner: GraphRunner = self.container.runner(graph)
        return runner

    async def arun(
        self,
        workflow: str | Path,
        state: Mapping[str, Any] | None = None,
        *,
        graph: str | None = None,
    ) -> RunResult:
        _, chosen = self.load(workflow, graph)
        return await self.runner(chosen).arun(state)

    def run(
        self,
        workflow: str | Path,
        state: Mapping[str, Any] | None = None,
        *,
        graph: str | None = None,
    ) -> RunResult:
        _, chosen = self.load(workflow, graph)
        return self.runner(chosen).run(state)

    @contextmanager
    def use(self, **services: Any) -> Iterator[Application]:
        """Replace services for the duration of a ``with`` block (tests, scripts).

        Keys: ``llm``, ``cache``, ``tracker``, ``state``, ``prompts``. Agents built
        (and workflows loaded) inside the block receive the given objects; the
        overrides are reset on exit.
        """
        known = {"llm", "cache", "tracker", "state", "prompts"}
        unknown = sorted(set(services) - known)
        if unknown:
            raise TypeError(f"unknown service(s) {unknown}; known: {sorted(known)}")
        overridden = []
        try:
            for name, instance in services.items():
                provider = getattr(self.container.services, name)
                provider.override(providers.Object(instance))
                overridden.append(provider)
            yield self
        finally:
            for provider in reversed(overridden):
                provider.reset_last_overriding()

    def close(self) -> None:
        self.container.shutdown_resources()

    def __enter__(self) -> Application:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def create_application(
    environment: str | None = None,
    *,
    config_dir: Path | None = None,
    settings: AgentMapSettings | None = None,
    **overrides: Any,
) -> Application:
    """Build an ``Application`` for an environment (or for ready-made ``settings``)."""
    if settings is None:
        settings = load_settings(environment, config_dir=config_dir, **overrides)
    container = ApplicationContainer(settings=providers.Object(settings))
    return Application(container)
