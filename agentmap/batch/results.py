"""One row's result line: what a user of the output file needs, and nothing of the run's internals.

A line holds the row's identity (``row``, ``line``, ``id``), its ``status``,
the chosen ``output`` fields, the ``error``, timings, tokens and cost, and the
job's identity (``job``) that lets a rerun recognise the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentmap.batch.inputs import InputRow
from agentmap.runtime.keys import RUNTIME_KEYS
from agentmap.runtime.result import RunResult
from agentmap.workflow.spec import GraphSpec

__all__ = ["default_fields", "failed_result", "run_result"]


def default_fields(graph: GraphSpec) -> tuple[str, ...]:
    """The fields the graph's nodes write (their Output_Fields), in node order."""
    names: dict[str, None] = {}
    for node in graph.nodes.values():
        for name in node.output_names:
            if name not in RUNTIME_KEYS:  # the runner's bookkeeping is never an output
                names[name] = None
    return tuple(names)


def _base(row: InputRow, job: str) -> dict[str, Any]:
    result: dict[str, Any] = {"row": row.row, "line": row.line}
    if row.id is not None:
        result["id"] = row.id
    result["job"] = job
    return result


def run_result(
    row: InputRow, result: RunResult, fields: Sequence[str], duration: float, job: str
) -> dict[str, Any]:
    line = _base(row, job)
    state = result.state
    timings: dict[str, float] = {}
    for timing in result.timings:
        timings[timing.node] = round(timings.get(timing.node, 0.0) + timing.duration, 6)
    calls = result.llm_calls
    line.update(
        status=result.status,
        output={name: state[name] for name in fields if name in state},
        error=result.error,
        failed_node=result.failed_node,
        duration=round(duration, 6),
        timings=timings,
        llm_calls=len(calls),
        tokens=result.tokens if calls else 0,
        cost=result.cost,
        run_id=result.run_id,
    )
    return line


def failed_result(row: InputRow, error: str, duration: float, job: str) -> dict[str, Any]:
    """A row that produced no run result: unreadable, timed out, or its run raised."""
    line = _base(row, job)
    line.update(
        status="failed",
        output={},
        error=error,
        failed_node=None,
        duration=round(duration, 6),
        timings={},
        llm_calls=0,
        tokens=0,
        cost=None,
        run_id=None,
    )
    return line
