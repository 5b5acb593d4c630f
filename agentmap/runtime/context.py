"""The node an agent is running for, available to code that has no other way to know it.

Agents are built once per graph and shared by every run (a batch of thousands
of rows reuses them), so per-run facts cannot live on the agent. The runner
sets a context variable around each node instead: asyncio tasks and worker
threads (the runner copies the context into them) see the right node, even when
branches run concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentmap.workflow.spec import NodeSpec

if TYPE_CHECKING:
    from agentmap.runtime.usage import UsageSink

__all__ = [
    "NodeContext",
    "current_node",
    "current_node_or_none",
    "node_context",
    "reset_current",
    "set_current",
]


@dataclass(slots=True)
class NodeContext:
    run_id: str
    graph: str
    node: NodeSpec
    #: The state the run started with (read-only view; do not mutate).
    initial_state: Mapping[str, Any]
    attempt: int = 1
    #: The run's (or branch's) current state. Read it, never write it: outputs go
    #: through the node's Output_Field. Built-ins such as ``error_handler`` read
    #: the run's ``errors`` here when the CSV does not list them as an input.
    state: Mapping[str, Any] | None = None
    #: Where LLM services report their calls (see ``agentmap.runtime.usage``).
    usage: UsageSink | None = None
    #: Every node of the graph being run (an orchestrator reads its targets' Descriptions).
    graph_nodes: Mapping[str, NodeSpec] | None = None
    #: The values a resume gave this node (``interrupt()`` returns them); None otherwise.
    resume_values: Mapping[str, Any] | None = None
    #: Where in the run this execution is: its parallel branch and how-manieth visit.
    branch: str = ""
    visit: int = 1
    #: The run is a resume (or a fork) of a stored run: work this node started in an
    #: earlier process (a subgraph's child run) may be stored already.
    resumed: bool = False

    @property
    def idempotency_key(self) -> str:
        """The same every time this node execution runs, across resumes of the run.

        A node that was running when its process died runs again on resume;
        an agent whose side effect must happen once (a payment, an e-mail)
        passes this key to the service, or records it and skips a repeat.
        """
        return f"{self.run_id}:{self.node.name}@{self.branch}#{self.visit}"


_current: ContextVar[NodeContext | None] = ContextVar("agentmap_current_node", default=None)


def current_node() -> NodeContext:
    """The node being executed; raises ``LookupError`` outside a run."""
    ctx = _current.get()
    if ctx is None:
        raise LookupError("current_node() was called outside a running AgentMap node")
    return ctx


def current_node_or_none() -> NodeContext | None:
    """The node being executed, or None outside a run (services that merely report)."""
    return _current.get()


#: ``token = set_current(ctx)`` makes ``ctx`` the current node; pass the token to
#: ``reset_current`` afterwards. The runner's hot path uses this pair rather
#: than ``node_context`` (a generator-based context manager costs more than the
#: node it wraps); they are the context variable's own methods, so no call is
#: added around them.
set_current: Callable[[NodeContext | None], Token[NodeContext | None]] = _current.set
reset_current: Callable[[Token[NodeContext | None]], None] = _current.reset


@contextmanager
def node_context(ctx: NodeContext) -> Iterator[NodeContext]:
    """``with node_context(ctx):`` runs the block as node ``ctx`` (tests, custom drivers)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
