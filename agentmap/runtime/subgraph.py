"""A ``graph`` node: runs a child graph as one step of its parent.

The child gets its own runner (built once with the parent's services) and its
own run id, ``<parent run id>/<node>/<visit>`` (``<node>@<branch>`` in a
parallel branch), with the parent's run id on its ``run_started`` event, so a
tracker shows the child's events nested under the node that ran it. The
child's outcome is the node's outcome.

The id is the same every time the parent's node execution runs, so with a
state adapter a child that is already stored is resumed, not started again:
a resumed parent does not rerun the child's finished nodes, and a retry of the
graph node reruns only the child's failed node. A child that suspends
(``interrupt()``) suspends the parent at the graph node; resuming the parent
hands the values down to the child.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.runtime.context import current_node
from agentmap.runtime.interrupts import Interrupt
from agentmap.runtime.keys import ERROR_KEY, RUNTIME_KEYS
from agentmap.runtime.nodes import whole_output
from agentmap.workflow.spec import NodeSpec

if TYPE_CHECKING:
    from agentmap.runtime.nodes import AgentBuilder
    from agentmap.runtime.runner import GraphRunner

__all__ = ["SubgraphCall", "SubgraphError"]


class SubgraphError(Exception):
    """The child graph's run failed, or did not write a field the node maps out."""


class SubgraphCall:
    """The ``process`` of a graph node: inputs in, the child's final state out."""

    @classmethod
    def build(cls, parent: GraphRunner, name: str, build_agent: AgentBuilder) -> SubgraphCall:
        """The call for graph node ``name`` of ``parent``: a child runner with its services."""
        node = parent.graph.nodes[name]
        child = parent.graph.subgraphs.get(name)
        if child is None:
            raise WorkflowError(
                Diagnostic.for_node(
                    node,
                    "graph node whose subgraph was not loaded; load workflows with "
                    "load_graph() or Application.load(), which resolve subgraphs",
                    column="Context",
                )
            )
        return cls(node, parent.child_runner(child, build_agent))

    def __init__(self, node: NodeSpec, runner: GraphRunner) -> None:
        self.node = node
        self.runner = runner
        self._count = itertools.count(1)
        #: Child fields the parent's Output_Field maps out (``parent=child``).
        self._needed = () if whole_output(node) else tuple(f.name for f in node.outputs)

    async def __call__(self, inputs: Mapping[str, Any]) -> Any:
        try:
            ctx = current_node()
        except LookupError:  # called outside a run (a unit test): no parent to nest under
            ctx = None
        if ctx is None:
            parent, run_id = "direct", f"direct/{self.node.name}/{next(self._count)}"
        else:
            parent = ctx.run_id
            where = f"{self.node.name}@{ctx.branch}" if ctx.branch else self.node.name
            run_id = f"{parent}/{where}/{ctx.visit}"
        runner = self.runner
        adapter = runner.state_adapter
        # A stored child exists only if this execution ran before: in an earlier process
        # (the parent is a resume) or in an earlier attempt; a fresh run skips the read.
        stored = None
        if adapter is not None and ctx is not None and (ctx.resumed or ctx.attempt > 1):
            stored = await adapter.load_run(run_id)
        if stored is not None:
            values = ctx.resume_values if ctx is not None else None
            result = await runner.aresume(stored, values, parent=(parent, self.node.name))
        else:
            result = await runner.arun(inputs, run_id=run_id, parent=(parent, self.node.name))
        graph = runner.graph.name
        if result.waiting is not None:
            waiting = result.waiting
            raise Interrupt(
                f"{waiting.question} (subgraph {graph!r}, node {waiting.node!r})", waiting.fields
            )
        if ctx is not None and ctx.usage is not None and result.llm_calls:
            ctx.usage.absorb(result.llm_calls)
        if not result.success:
            if result.failed_node:
                # The node's own error, not the "no route to handle it" wrapper around it.
                reason = result.state.get(ERROR_KEY) or result.error
                raise SubgraphError(
                    f"subgraph {graph!r} failed at node {result.failed_node!r}: {reason}"
                )
            raise SubgraphError(f"subgraph {graph!r} failed: {result.error}")
        state = result.state
        missing = [name for name in self._needed if name not in state]
        if missing:
            raise SubgraphError(
                f"subgraph {graph!r} finished without writing "
                f"{', '.join(repr(m) for m in missing)}, which Output_Field maps out"
            )
        if not self.node.outputs:
            return {k: v for k, v in state.items() if k not in RUNTIME_KEYS}
        return state
