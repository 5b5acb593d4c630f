"""The validated, immutable form of a workflow: what the runner executes.

A ``GraphSpec`` is produced once by the loader and then shared by every run
(and every concurrent batch row), so it is frozen and holds no run state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentmap.errors import Diagnostic

__all__ = [
    "CUSTOM_AGENTS_FOLDER",
    "FUNCTIONS_FOLDER",
    "PROMPTS_FOLDER",
    "FieldMapping",
    "GraphSpec",
    "NodeSpec",
    "WorkflowSpec",
    "beside_workflow",
]

#: Folders a workflow may keep beside its CSV; each is searched in addition to
#: the configured one (``paths.functions``, ``paths.custom_agents``, ``paths.prompts``).
FUNCTIONS_FOLDER = "functions"
CUSTOM_AGENTS_FOLDER = "custom_agents"
PROMPTS_FOLDER = "prompts"


def beside_workflow(csv: Path, folder: str) -> Path:
    """The folder ``folder`` (one of the ``*_FOLDER`` names) next to the workflow file ``csv``."""
    return csv.parent / folder


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view; a spec is shared by every run and must not change under them."""
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


class _PicklableSpec:
    """Pickle support for specs holding read-only mappings.

    ``MappingProxyType`` cannot be pickled, so a spec is rebuilt from its fields
    with the mappings as plain dicts (``__post_init__`` freezes them again). That
    lets a ``GraphSpec`` travel to another process, such as a batch worker.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        values = (getattr(self, name) for name in self.__dataclass_fields__)  # type: ignore[attr-defined]
        return type(self), tuple(dict(v) if isinstance(v, MappingProxyType) else v for v in values)


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One entry of Input_Fields or Output_Field.

    ``state_key`` is the field in the run state; ``name`` is the name the agent
    sees (an input parameter, or a key of the agent's returned mapping).

    - Input ``a``            -> state_key="a", name="a"
    - Input ``a:b``          -> state_key="a", name="b" (read ``a``, pass as ``b``)
    - Input ``child=parent`` -> state_key="parent", name="child"
    - Output ``a``           -> state_key="a", name="a"
    - Output ``parent=child``-> state_key="parent", name="child"
    """

    state_key: str
    name: str

    def __str__(self) -> str:
        return self.state_key if self.state_key == self.name else f"{self.state_key}:{self.name}"


@dataclass(frozen=True, slots=True)
class NodeSpec(_PicklableSpec):
    """One CSV row: a node, its agent, its data flow and its routing."""

    name: str
    graph: str
    agent_type: str = "default"
    inputs: tuple[FieldMapping, ...] = ()
    outputs: tuple[FieldMapping, ...] = ()
    prompt: str = ""
    context: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    #: Next node(s) after success and, unless ``failure_next`` is set, after failure.
    edge: tuple[str, ...] = ()
    success_next: tuple[str, ...] = ()
    failure_next: tuple[str, ...] = ()
    #: Tool_Source: a Python file (relative to the CSV) or a module holding the node's tools.
    tool_source: str = ""
    #: Available_Tools: the tool names offered; empty means every ``@agentmap.tool`` of the source.
    tools: tuple[str, ...] = ()
    #: Where the node was declared, for error messages.
    file: Path | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", _frozen(self.context))

    @property
    def on_success(self) -> tuple[str, ...]:
        return self.success_next or self.edge

    @property
    def on_failure(self) -> tuple[str, ...]:
        return self.failure_next or self.edge

    @property
    def targets(self) -> tuple[str, ...]:
        """Every node this node can route to, in column order, without repeats."""
        return tuple(dict.fromkeys((*self.edge, *self.success_next, *self.failure_next)))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(f.state_key for f in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(f.state_key for f in self.outputs)

    @property
    def location(self) -> str:
        where = str(self.file) if self.file is not None else "<workflow>"
        return f"{where}:{self.line}" if self.line is not None else where


@dataclass(frozen=True, slots=True)
class GraphSpec(_PicklableSpec):
    """A graph: its nodes in CSV order; the first row is the entry node."""

    name: str
    nodes: Mapping[str, NodeSpec]
    file: Path | None = None
    #: The graph each ``graph`` node runs, by node name, resolved when the
    #: workflow is loaded: a spec carries its subgraphs so that a runner (or a
    #: batch worker in another process) needs no file access to build them.
    subgraphs: Mapping[str, GraphSpec] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", _frozen(self.nodes))
        object.__setattr__(self, "subgraphs", _frozen(self.subgraphs))

    @property
    def entry(self) -> str:
        for name in self.nodes:
            return name
        raise ValueError(f"graph {self.name!r} has no nodes, so it has no entry node")

    def node(self, name: str) -> NodeSpec:
        return self.nodes[name]

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True, slots=True)
class WorkflowSpec(_PicklableSpec):
    """Every graph of one CSV file, plus the warnings found while loading it."""

    file: Path
    graphs: Mapping[str, GraphSpec]
    warnings: tuple[Diagnostic, ...] = ()
    #: Run inputs declared by ``# inputs:`` comment rows: graph name -> field
    #: names, with ``""`` for the rows that declare them for every graph of the file.
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "graphs", _frozen(self.graphs))
        object.__setattr__(self, "inputs", _frozen(self.inputs))

    @property
    def graph_names(self) -> tuple[str, ...]:
        return tuple(self.graphs)
