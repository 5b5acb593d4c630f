"""A stored run as JSON: the one shape ``agentmap runs show --json`` and ``GET /v1/runs/{id}`` give.

The run, its path, each step (what it wrote, its error, route, timing and
LLM use) and the LLM totals. ``inputs_of`` (node -> its Input_Fields) adds
each step's ``inputs``: the values those fields had just before the step, from
the run's initial state and the deltas before it (on a parallel branch, the
other branches' writes before it are counted too, as the stored order has them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmap.runtime.checkpoint import StepRecord, StoredRun
from agentmap.runtime.keys import ERROR_KEY, RUNTIME_KEYS

__all__ = ["outputs_of", "stored_run_dict"]


def outputs_of(step: StepRecord) -> dict[str, Any]:
    """What a step wrote, without the runner's bookkeeping (``last_action_success``...)."""
    return {key: value for key, value in step.delta.items() if key not in RUNTIME_KEYS}


def stored_run_dict(
    run: StoredRun, inputs_of: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, Any]:
    steps = []
    calls = tokens = 0
    costs: list[float] = []
    state = dict(run.initial_state) if inputs_of is not None else {}
    for step in run.steps:
        usage = dict(step.usage) if step.usage else None
        if usage:
            calls += int(usage.get("calls") or 0)
            tokens += int(usage.get("tokens") or 0)
            if usage.get("cost") is not None:
                costs.append(float(usage["cost"]))
        shown: dict[str, Any] = {
            "step": step.step,
            "node": step.node,
            "branch": step.branch,
            "visit": step.visit,
            "ok": step.ok,
            "final": step.final,
            "outputs": outputs_of(step),
            "error": None if step.ok else step.delta.get(ERROR_KEY),
            "route": list(step.route),
            "started_at": step.started_at,
            "duration": step.duration,
            "attempts": step.attempts,
            "usage": usage,
        }
        if inputs_of is not None:
            shown["inputs"] = {name: state.get(name) for name in inputs_of.get(step.node, ())}
            state.update(step.delta)
        steps.append(shown)
    return {
        "run_id": run.run_id,
        "graph": run.graph,
        "status": run.status,
        "error": run.error,
        "waiting": run.waiting.to_dict() if run.waiting is not None else None,
        "workflow": run.workflow,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "parent_run_id": run.parent_run_id,
        "forked_from_step": run.forked_from_step,
        "path": run.path,
        "llm": {"calls": calls, "tokens": tokens, "cost": sum(costs) if costs else None},
        "initial_state": run.initial_state,
        "steps": steps,
        "state": run.state,
    }
