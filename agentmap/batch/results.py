"""One row's result line: what a user of the output file needs, and nothing of the run's internals.

A line holds the row's identity (``row``, ``line``, ``id``), its ``status``,
the chosen ``output`` fields, the ``error``, timings, tokens and cost, and the
job's identity (``job``) that lets a rerun recognise the file. A ``suspended``
line also says what the run waits for (``waiting``); a line written for a row
whose run went on from the state store says how (``via``, see durable.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agentmap.batch.inputs import InputRow
from agentmap.runtime.checkpoint import StepRecord, StoredRun, effective
from agentmap.runtime.keys import RUNTIME_KEYS
from agentmap.runtime.result import RunResult
from agentmap.workflow.spec import GraphSpec

__all__ = [
    "StepUsage",
    "default_fields",
    "failed_result",
    "run_result",
    "step_usage",
    "stored_result",
]


def default_fields(graph: GraphSpec) -> tuple[str, ...]:
    """The fields the graph's nodes write (their Output_Fields), in node order."""
    names: dict[str, None] = {}
    for node in graph.nodes.values():
        for name in node.output_names:
            if name not in RUNTIME_KEYS:  # the runner's bookkeeping is never an output
                names[name] = None
    return tuple(names)


@dataclass(frozen=True, slots=True)
class StepUsage:
    """LLM usage and node time recorded in stored steps (a run resumed, or read back)."""

    calls: int = 0
    tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0


def step_usage(steps: Iterable[StepRecord]) -> StepUsage:
    """What ``steps`` spent: every recorded call counts, a failed attempt's too."""
    calls = tokens = 0
    cost: float | None = None
    seconds = 0.0
    for step in steps:
        seconds += step.duration
        usage = step.usage or {}
        calls += int(usage.get("calls") or 0)
        tokens += int(usage.get("tokens") or 0)
        spent = usage.get("cost")
        if isinstance(spent, int | float):
            cost = (cost or 0.0) + spent
    return StepUsage(calls, tokens, cost, seconds)


def _base(row: InputRow, job: str) -> dict[str, Any]:
    result: dict[str, Any] = {"row": row.row, "line": row.line}
    if row.id is not None:
        result["id"] = row.id
    result["job"] = job
    return result


def run_result(
    row: InputRow,
    result: RunResult,
    fields: Sequence[str],
    duration: float,
    job: str,
    *,
    earlier: StepUsage | None = None,
    via: str | None = None,
) -> dict[str, Any]:
    """The line of a run that ran (or went on) in this batch.

    ``earlier`` is what the run's stored steps had spent before this attempt
    resumed it: replayed steps make no LLM calls, but the row's totals count
    them.
    """
    line = _base(row, job)
    state = result.state
    timings: dict[str, float] = {}
    for timing in result.timings:
        timings[timing.node] = round(timings.get(timing.node, 0.0) + timing.duration, 6)
    calls = result.llm_calls
    tokens = result.tokens if calls else 0
    cost = result.cost
    count = len(calls)
    if earlier is not None:
        count += earlier.calls
        tokens += earlier.tokens
        if earlier.cost is not None:
            cost = (cost or 0.0) + earlier.cost
        duration += earlier.seconds
    line.update(
        status=result.status,
        output={name: state[name] for name in fields if name in state},
        error=result.error,
        failed_node=result.failed_node,
        duration=round(duration, 6),
        timings=timings,
        llm_calls=count,
        tokens=tokens,
        cost=cost,
        run_id=result.run_id,
    )
    if result.waiting is not None:
        line["waiting"] = result.waiting.to_dict()
    if via is not None:
        line["via"] = via
    return line


def stored_result(
    row: InputRow, stored: StoredRun, fields: Sequence[str], job: str, *, via: str = "store"
) -> dict[str, Any]:
    """The line of a run read back from the state store, nothing run.

    ``duration`` and ``timings`` are the recorded time of its nodes (not the
    wall time since it started: a suspended run may have waited for days).
    """
    line = _base(row, job)
    steps = effective(stored.steps)
    state = stored.state
    timings: dict[str, float] = {}
    for step in steps:
        timings[step.node] = round(timings.get(step.node, 0.0) + step.duration, 6)
    spent = step_usage(stored.steps)
    last = stored.steps[-1] if stored.steps else None
    line.update(
        status=stored.status,
        output={name: state[name] for name in fields if name in state},
        error=stored.error,
        failed_node=last.node if last is not None and last.final else None,
        duration=round(sum(step.duration for step in steps), 6),
        timings=timings,
        llm_calls=spent.calls,
        tokens=spent.tokens,
        cost=spent.cost,
        run_id=stored.run_id,
    )
    if stored.waiting is not None:
        line["waiting"] = stored.waiting.to_dict()
    line["via"] = via
    return line


def failed_result(
    row: InputRow, error: str, duration: float, job: str, *, run_id: str | None = None
) -> dict[str, Any]:
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
        run_id=run_id,
    )
    return line
