"""A node compiled for execution, and what happens to an agent's result.

Compiling does, once per runner, everything about a node that does not depend
on the run: the agent is built, its calling convention detected, its Context
policy parsed and its field mappings flattened into tuples. The runner's hot
loop then only reads attributes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmap.runtime.backoff import RETRY_BASE_DELAY, RETRY_MAX_DELAY
from agentmap.runtime.keys import NEXT_KEY, STATE_KEY, VALUE_KEY
from agentmap.runtime.policies import RetryPolicy, node_policy
from agentmap.runtime.routers import Router, load_routers
from agentmap.workflow.spec import NodeSpec

__all__ = [
    "ASYNC",
    "INLINE",
    "NEXT_KEY",
    "NOT_CHOSEN",
    "STATE_KEY",
    "THREAD",
    "AgentBuilder",
    "CompiledNode",
    "NodeFailure",
    "compile_node",
    "whole_output",
    "write_outputs",
]

#: How ``process`` is called: directly on the loop, awaited, or in a worker thread.
INLINE, ASYNC, THREAD = 0, 1, 2

#: What the runner needs to build a node's agent: node in, agent (an object with
#: ``process``) out. ``containers.agents.AgentFactory`` is the implementation
#: that injects services; tests pass plain functions.
AgentBuilder = Callable[[NodeSpec], Any]


class _NotChosen:
    """The type of ``NOT_CHOSEN``: a result without ``__next__`` (None is a choice, a bad one)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_CHOSEN"


NOT_CHOSEN: Any = _NotChosen()


class NodeFailure(Exception):
    """A failure found after the agent returned (bad ``__next__``, missing output)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(slots=True)
class CompiledNode:
    spec: NodeSpec
    name: str
    process: Callable[[dict[str, Any]], Any]
    mode: int
    #: Inline and no timeout: call ``process`` straight from the attempt loop.
    direct: bool
    policy: RetryPolicy
    inputs: tuple[tuple[str, str], ...]  # (state_key, param)
    whole_output: str | None  # Output_Field is one plain field: write the result as is
    outputs: tuple[tuple[str, str], ...]  # (state_key, result key) otherwise
    on_success: tuple[str, ...]
    on_failure: tuple[str, ...]
    #: ``func:`` routers among the targets, by reference (None: there are none).
    routers: Mapping[str, Router] | None = None
    #: No Input_Fields on a graph node: the child starts from the whole state.
    pass_state: bool = False
    #: No Output_Field on a graph node: the child's fields are written back.
    merge_output: bool = False


def _call_mode(agent: Any) -> int:
    process = agent.process
    if inspect.iscoroutinefunction(process):
        return ASYNC
    return INLINE if getattr(agent, "run_inline", False) else THREAD


def whole_output(spec: NodeSpec) -> str | None:
    """The Output_Field that receives the whole result: a single, unrenamed field."""
    outputs = spec.outputs
    if len(outputs) == 1 and outputs[0].state_key == outputs[0].name:
        return outputs[0].state_key
    return None


def compile_node(
    spec: NodeSpec,
    build_agent: AgentBuilder,
    *,
    base_delay: float = RETRY_BASE_DELAY,
    max_delay: float = RETRY_MAX_DELAY,
    functions: Sequence[Path] = (),
    subgraph: Callable[[dict[str, Any]], Any] | None = None,
) -> CompiledNode:
    """``subgraph``: the call that runs a ``graph`` node's child graph (no agent is built)."""
    policy = node_policy(spec, base_delay=base_delay, max_delay=max_delay)
    routers = load_routers(spec, functions) or None
    if subgraph is not None:
        process, mode = subgraph, ASYNC
    else:
        agent = build_agent(spec)
        process, mode = agent.process, _call_mode(agent)
    outputs = spec.outputs
    whole = whole_output(spec)
    return CompiledNode(
        spec=spec,
        name=spec.name,
        process=process,
        mode=mode,
        direct=mode == INLINE and policy.timeout is None,
        policy=policy,
        inputs=tuple((f.state_key, f.name) for f in spec.inputs),
        whole_output=whole,
        outputs=() if whole else tuple((f.state_key, f.name) for f in outputs),
        on_success=spec.on_success,
        on_failure=spec.on_failure,
        routers=routers,
        pass_state=subgraph is not None and not spec.inputs,
        merge_output=subgraph is not None and not spec.outputs,
    )


def write_outputs(node: CompiledNode, result: Any, delta: dict[str, Any]) -> Any:
    """Fill ``delta`` with the node's outputs; return the raw ``__next__`` value.

    ``NOT_CHOSEN`` when the result has none. Whether the choice is valid is
    ``agentmap.runtime.routing.check_choice``'s to say.
    """
    chosen: Any = NOT_CHOSEN
    if isinstance(result, Mapping) and (NEXT_KEY in result or STATE_KEY in result):
        chosen, result = _reserved_keys(node, result, delta)
    if node.whole_output is not None:
        delta[node.whole_output] = result
    elif node.merge_output:
        delta.update(result)
    elif node.outputs:
        if not isinstance(result, Mapping):
            raise NodeFailure(
                "OutputError",
                f"node {node.name!r} has Output_Field "
                f"{'|'.join(f'{s}={n}' if s != n else s for s, n in node.outputs)} and must "
                f"return a mapping with {', '.join(repr(n) for _, n in node.outputs)}; "
                f"it returned {type(result).__name__}",
            )
        missing = [n for _, n in node.outputs if n not in result]
        if missing:
            raise NodeFailure(
                "OutputError",
                f"node {node.name!r} returned no {', '.join(repr(n) for n in missing)} "
                f"(its Output_Field needs {', '.join(repr(n) for _, n in node.outputs)})",
            )
        for key, name in node.outputs:
            delta[key] = result[name]
    return chosen


def _reserved_keys(
    node: CompiledNode, result: Mapping[str, Any], delta: dict[str, Any]
) -> tuple[Any, Any]:
    """Apply ``__state__``; return the raw ``__next__`` and the rest of the result."""
    chosen = result.get(NEXT_KEY, NOT_CHOSEN)
    if STATE_KEY in result:
        extra = result[STATE_KEY]
        if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
            raise NodeFailure(
                "OutputError",
                f"node {node.name!r} returned {STATE_KEY} = {extra!r}; it must map field names "
                "to values",
            )
        delta.update(extra)
    rest = {k: v for k, v in result.items() if k not in (NEXT_KEY, STATE_KEY)}
    return chosen, rest[VALUE_KEY] if rest.keys() == {VALUE_KEY} else rest  # the output itself
