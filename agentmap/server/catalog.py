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
from agentmap.workflow.dataflow import ERROR_FIELDS, SUCCESS_FLAG, declared_inputs
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
    #: Fields a run may supply (read by a node, written by none) and those it must.
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
            inputs = _run_inputs(spec)
            declared = declared_inputs(workflow, name)
            self._graphs[name] = GraphEntry(
                spec, file, inputs, declared or inputs, application.runner(spec)
            )

    def __getitem__(self, name: str) -> GraphEntry:
        return self._graphs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._graphs)

    def __len__(self) -> int:
        return len(self._graphs)


def _run_inputs(graph: GraphSpec) -> tuple[str, ...]:
    """Fields some node reads and no node writes: only the run's state can supply them."""
    written = {o for n in graph.nodes.values() for o in n.output_names}
    written.update((*ERROR_FIELDS, SUCCESS_FLAG))
    read = (f for n in graph.nodes.values() for f in n.input_names)
    return tuple(dict.fromkeys(f for f in read if f not in written))
