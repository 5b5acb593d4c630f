"""The workflows a server offers: every graph of every CSV in one folder, loaded at start-up.

Loading everything before the first request means a bad workflow stops
start-up with the usual file/line/node message instead of failing some
request later, and that a request never parses a CSV. Graph names are the
API's identifiers, so two files defining one graph name is a start-up error
naming both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentmap.errors import ConfigurationError, Diagnostic, WorkflowError
from agentmap.runtime.runner import GraphRunner
from agentmap.services.protocols import (
    CacheProtocol,
    ExecutionTrackerProtocol,
    LoggerProtocol,
    StateAdapterProtocol,
)
from agentmap.settings import AgentMapSettings
from agentmap.workflow import GraphSpec, WorkflowSpec, load_workflow
from agentmap.workflow.dataflow import declared_inputs, unset_inputs
from agentmap.workflow.diagram import routes, to_mermaid

__all__ = ["Catalog", "GraphEntry", "ServerApplication"]


class ServerApplication(Protocol):
    """What the server needs of ``containers.application.Application``."""

    @property
    def settings(self) -> AgentMapSettings: ...
    @property
    def state_store(self) -> StateAdapterProtocol: ...
    @property
    def tracker(self) -> ExecutionTrackerProtocol: ...
    @property
    def cache(self) -> CacheProtocol: ...
    @property
    def logger(self) -> LoggerProtocol: ...
    def load(
        self, workflow: str | Path, graph: str | None = None
    ) -> tuple[WorkflowSpec, GraphSpec]: ...
    def agent_types_for(self, csv_path: Path) -> list[str]: ...
    def runner(self, graph: GraphSpec) -> GraphRunner: ...
    def use(self, **services: Any) -> AbstractContextManager[Any]: ...


@dataclass(slots=True)
class GraphEntry:
    """One graph offered by the server, with what the API shows of it computed once."""

    spec: GraphSpec
    file: Path
    #: Fields a node may read before any node wrote them (``unset_inputs``), and
    #: those a run must supply (the CSV's ``# inputs:`` declaration, else ``_required``).
    inputs: tuple[str, ...]
    required: tuple[str, ...]
    runner: GraphRunner

    @property
    def name(self) -> str:
        return self.spec.name

    def summary(self) -> dict[str, Any]:
        entry = self.spec.node(self.spec.entry)
        return {
            "name": self.name,
            "file": self.file.name,
            "entry": self.spec.entry,
            "nodes": len(self.spec),
            "description": entry.description,
        }

    def detail(self) -> dict[str, Any]:
        nodes = self.spec.nodes.values()
        outputs = dict.fromkeys(o for n in nodes for o in n.output_names)
        edges = []
        for node in nodes:
            for route in routes(node):
                on = (
                    "always"
                    if route.always
                    else ("failure" if route.column == "Failure_Next" else "success")
                )
                edges.append({"source": node.name, "target": route.target, "on": on})
        return {
            **self.summary(),
            "nodes": [
                {
                    "name": n.name,
                    "agent_type": n.agent_type,
                    "inputs": list(n.input_names),
                    "outputs": list(n.output_names),
                    "description": n.description,
                    "prompt": n.prompt,
                }
                for n in nodes
            ],
            "edges": edges,
            "inputs": list(self.inputs),
            "required": list(self.required),
            "outputs": list(outputs),
            "mermaid": to_mermaid(self.spec),
            # to_mermaid names nodes n0, n1... in CSV order (names may hold anything).
            "mermaid_ids": {name: f"n{i}" for i, name in enumerate(self.spec.nodes)},
        }


class Catalog(Mapping[str, GraphEntry]):
    """Graph name -> ``GraphEntry``, for the CSVs directly in ``folder``."""

    def __init__(self, application: ServerApplication, folder: Path) -> None:
        self.folder = folder
        self._graphs: dict[str, GraphEntry] = {}
        if not folder.is_dir():
            raise ConfigurationError(
                f"the workflows folder {folder} does not exist (server.workflows, "
                "or --workflows DIR): point it at a folder of workflow CSV files"
            )
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise ConfigurationError(
                f"the workflows folder {folder} holds no .csv file (server.workflows, "
                "or --workflows DIR)"
            )
        for file in files:
            self._add_file(application, file)

    def _add_file(self, application: ServerApplication, file: Path) -> None:
        workflow = load_workflow(file, agent_types=application.agent_types_for(file))
        for name in workflow.graphs:
            if name in self._graphs:
                other = self._graphs[name].file
                raise WorkflowError(
                    Diagnostic(
                        f"graph {name!r} is defined in {other} and again here; the server "
                        "names graphs by name alone, so rename one",
                        file=file,
                        graph=name,
                    )
                )
            _, spec = application.load(file, name)
            inputs = unset_inputs(spec)
            declared = declared_inputs(workflow, name)
            self._graphs[name] = GraphEntry(
                spec, file, inputs, declared or _required(spec, inputs), application.runner(spec)
            )

    def __getitem__(self, name: str) -> GraphEntry:
        return self._graphs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._graphs)

    def __len__(self) -> int:
        return len(self._graphs)


def _required(graph: GraphSpec, inputs: tuple[str, ...]) -> tuple[str, ...]:
    """The fields a run must supply when the CSV declares none: those the entry node
    reads, and those no node writes. A field only *some* path leaves unset is a
    warning of ``agentmap validate``, not a reason to refuse a run."""
    entry = graph.node(graph.entry).input_names
    written = {o for n in graph.nodes.values() for o in n.output_names}
    return tuple(f for f in inputs if f in entry or f not in written)
