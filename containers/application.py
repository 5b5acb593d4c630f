"""The composition root: small containers wired into one, and the ``Application`` facade.

``ApplicationContainer`` is what tests override (``app.container.services.llm
.override(providers.Object(my_llm))``); ``Application`` is the handful of
operations the CLI, scripts and tests perform with it: load a workflow, build
a runner, run.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from dependency_injector import containers, providers

from agentmap.agents.registry import AgentRegistry
from agentmap.errors import ResumeError, RunNotFoundError
from agentmap.runtime.checkpoint import StoredRun
from agentmap.runtime.result import RunResult
from agentmap.runtime.resume import check_resumable, check_unchanged
from agentmap.runtime.runner import GraphRunner, RunOptions, closing
from agentmap.services.prompt_graphs import resolve_graph_prompts
from agentmap.services.protocols import (
    CacheProtocol,
    ExecutionTrackerProtocol,
    LoggerProtocol,
    PromptServiceProtocol,
    StateAdapterProtocol,
)
from agentmap.settings import AgentMapSettings, load_settings
from agentmap.workflow import load_graph, parse_workflow_ref
from agentmap.workflow.overrides import apply_agent_overrides
from agentmap.workflow.spec import CUSTOM_AGENTS_FOLDER, GraphSpec, WorkflowSpec, beside_workflow
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
        build_agent=agents.factory,
        tracker=services.tracker,
        state_adapter=services.state,
        logger=core.logger,
        options=providers.Callable(run_options, settings),
    )


class Application:
    """A configured AgentMap: settings, services and agents for one environment."""

    def __init__(self, container: ApplicationContainer) -> None:
        self.container = container
        #: Derived agent registries by the custom_agents folders beside the CSVs.
        self._registries: dict[tuple[Path, ...], AgentRegistry] = {}

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
        return self.registry_for([csv_path]).names

    def registry_for(self, csv_paths: Iterable[Path]) -> AgentRegistry:
        """The agent types of workflows at ``csv_paths``: the application's registry
        plus each CSV's ``custom_agents`` folder.

        The application's registry is not changed (a workflow's own agents are
        not visible to another workflow); the derived registry is built once
        per set of folders and looks up the application's registry for
        everything else, so types registered there later are seen too.
        """
        registry: AgentRegistry = self.container.agents.registry()
        folders = tuple(
            dict.fromkeys(
                folder.resolve()
                for csv in csv_paths
                if (folder := beside_workflow(csv, CUSTOM_AGENTS_FOLDER)).is_dir()
            )
        )
        if not folders:
            return registry
        derived = self._registries.get(folders)
        if derived is None or derived.parent is not registry:
            derived = self._registries[folders] = registry.derive(folders)
        return derived

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
        """A runner for ``graph``; its agents come from ``registry_for`` its CSV(s)."""
        registry = self.registry_for(_workflow_files(graph))
        if registry is self.container.agents.registry():
            runner: GraphRunner = self.container.runner(graph)
        else:
            factory = self.container.agents.factory(registry=registry)
            runner = self.container.runner(graph, build_agent=factory)
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

    # ------------------------------------------------------------------ durable runs

    @property
    def tracker(self) -> ExecutionTrackerProtocol:
        """The execution tracker runs report to (``tracking.backend``)."""
        tracker: ExecutionTrackerProtocol = self.container.services.tracker()
        return tracker

    @property
    def cache(self) -> CacheProtocol:
        cache: CacheProtocol = self.container.services.cache()
        return cache

    @property
    def logger(self) -> LoggerProtocol:
        logger: LoggerProtocol = self.container.core.logger()
        return logger

    @property
    def state_store(self) -> StateAdapterProtocol:
        """The state adapter runs are stored in (``state.backend``)."""
        store: StateAdapterProtocol = self.container.services.state()
        return store

    async def aload_run(self, run_id: str) -> StoredRun:
        """A stored run; ``RunNotFoundError`` names the store when there is none."""
        store = self.state_store
        await store.open()
        stored = await store.load_run(run_id)
        if stored is None:
            raise RunNotFoundError(
                f"no run {run_id!r} in the {self._store_name()}; "
                "`agentmap runs list` shows the stored runs"
            )
        return stored

    async def aresume(
        self,
        run_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        workflow: str | Path | None = None,
        graph: str | None = None,
    ) -> RunResult:
        """Go on with a stored run that failed, was interrupted or is suspended.

        The workflow is the one the run recorded, unless ``workflow`` names it
        (a run of another graph is refused). ``values`` answer a suspended
        run's question; ``force`` resumes although the workflow changed.
        Nothing is written before every check has passed.
        """
        stored = await self.aload_run(run_id)
        runner = self._runner_for(stored, workflow, graph)
        check_resumable(stored, runner.fingerprint, values, force=force)
        return await runner.aresume(stored, values)

    def resume(
        self,
        run_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        workflow: str | Path | None = None,
        graph: str | None = None,
    ) -> RunResult:
        """Synchronous ``aresume`` (not inside an event loop)."""
        return asyncio.run(
            closing(
                self.aresume(run_id, values, force=force, workflow=workflow, graph=graph),
                self.state_store,
            )
        )

    async def arerun(self, run_id: str, step: int, *, force: bool = False) -> RunResult:
        """Fork a stored run at ``step`` into a new run and run that from there.

        The old run is kept as it was; the new one records where it came from
        (``parent_run_id``, ``forked_from_step``).
        """
        stored = await self.aload_run(run_id)
        steps = [s.step for s in stored.steps]
        if step < 0 or (step and step not in steps):
            raise ResumeError(
                f"run {run_id} has no step {step}; its steps are "
                f"{_ranges(steps) if steps else 'none'} (0 starts from the initial state)"
            )
        runner = self._runner_for(stored, None, None)
        check_unchanged(stored, runner.fingerprint, force=force)
        new_id = os.urandom(16).hex()
        await self.state_store.fork_run(run_id, new_id, step)
        return await runner.aresume(await self.aload_run(new_id))

    def rerun(self, run_id: str, step: int, *, force: bool = False) -> RunResult:
        return asyncio.run(closing(self.arerun(run_id, step, force=force), self.state_store))

    def _runner_for(
        self, stored: StoredRun, workflow: str | Path | None, graph: str | None
    ) -> GraphRunner:
        if workflow is None:
            if stored.workflow is None:
                raise ResumeError(
                    f"run {stored.run_id} recorded no workflow file; name it: "
                    f"agentmap resume {stored.run_id} --workflow FILE.csv"
                )
            workflow = stored.workflow
        path, ref_graph = parse_workflow_ref(str(workflow))
        wanted = graph or ref_graph
        if wanted is not None and wanted != stored.graph:
            raise ResumeError(
                f"run {stored.run_id} is a run of graph {stored.graph!r}, not {wanted!r}"
            )
        if not Path(path).is_file():
            raise ResumeError(
                f"run {stored.run_id} ran workflow {path}, which is not there any more; "
                "name where it is now with --workflow"
            )
        _, chosen = self.load(path, stored.graph)
        return self.runner(chosen)

    def _store_name(self) -> str:
        state = self.settings.state
        if state.backend == "sqlite":
            return f"sqlite state store {state.path} (state.path)"
        if state.backend == "postgres":
            return f"postgres state store (state.url, schema {state.schema_name})"
        return "memory state store of this process (state.backend=memory keeps runs in memory only)"

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


def _ranges(steps: list[int]) -> str:
    return f"{steps[0]}..{steps[-1]}" if len(steps) > 1 else str(steps[0])


def _workflow_files(graph: GraphSpec) -> Iterator[Path]:
    """The CSV of ``graph`` and of each subgraph it runs, at any depth."""
    if graph.file is not None:
        yield graph.file
    for child in graph.subgraphs.values():
        yield from _workflow_files(child)


def create_application(
    environment: str | None = None,
    *,
    config_dir: Path | None = None,
    settings: AgentMapSettings | None = None,
    **overrides: Any,
) -> Application:
    """Build an ``Application`` for an environment, or for ready-made ``settings``.

    ``settings`` is complete as given: combining it with ``environment``,
    ``config_dir`` or overrides is a ``TypeError`` rather than a silent choice
    of one over the other. To change a few values of ready-made settings, pass
    ``settings.model_copy(update=...)`` (or load them with the overrides).
    """
    if settings is not None:
        extra = [
            name
            for name, given in (
                ("environment", environment is not None),
                ("config_dir", config_dir is not None),
                *((name, True) for name in overrides),
            )
            if given
        ]
        if extra:
            raise TypeError(
                "create_application(settings=...) takes no "
                f"{', '.join(extra)}: the settings are used as given "
                "(load them with load_settings(environment, config_dir=..., **overrides))"
            )
    else:
        settings = load_settings(environment, config_dir=config_dir, **overrides)
    container = ApplicationContainer(settings=providers.Object(settings))
    return Application(container)
