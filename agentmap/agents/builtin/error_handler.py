"""``error_handler``: turn the run's last failure into a report, and pick retry or give up.

Why: a recovery branch (``Failure_Next`` -> handler) needs to know what failed
and how often, and a retry loop needs a decision that ends. The runner already
records every failure in ``state["errors"]`` (``{node, type, message,
attempt}``) and the last message in ``state["error"]``; this agent reads those
as its inputs (``Input_Fields: error|errors``) and writes one report.

How the count works: ``failures`` is the number of ``errors`` entries for the
node that failed last, so a loop ``Fetch -> Handler -> Fetch|GiveUp`` sees 1, 2,
3 ... as ``Fetch`` keeps failing. Agents are shared by every run of a runner,
so the count must come from the run's state, never from the agent: from the
``errors`` input, or else from the running node's state (``current_node()``);
outside a run, with only ``error``, it counts 1.

How routing works: when the node's success route lists several targets
(``RetryAPI|End``), the handler returns the reserved ``__next__`` key (which
the runner strips before writing the Output_Field): ``retry_target`` while
``failures < max_attempts``, then ``give_up_target``. The targets are read
from the running node via :func:`current_node`; outside a run (a plain unit
test) there is nothing to route and only the report is returned. The runner's
own ``retries``/``timeout`` Context keys retry a node in place; this handler is
for retries that go through other nodes (refresh a token, then call again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, positive_int
from agentmap.runtime.context import current_node
from agentmap.runtime.keys import ERROR_KEY, ERRORS_KEY, NEXT_KEY

__all__ = ["ErrorHandlerAgent"]


class ErrorHandlerAgent(ConfiguredAgent):
    """Context: ``retry_target``, ``give_up_target``, ``max_attempts`` (default 3)."""

    def configure(self) -> None:
        name = self.name
        targets: dict[str, str | None] = {}
        for key in ("retry_target", "give_up_target"):
            value = self.context.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise bad_context("error_handler", name, key, f"must be a node name, got {value!r}")
            targets[key] = value.strip() if isinstance(value, str) else None
        self._retry_target = targets["retry_target"]
        self._give_up_target = targets["give_up_target"]
        max_attempts = positive_int(
            "error_handler", name, "max_attempts", self.context.get("max_attempts", 3)
        )
        self._max_attempts = max_attempts

    def process(self, inputs: dict[str, Any]) -> Any:
        if ERROR_KEY not in inputs and ERRORS_KEY not in inputs:
            return {
                ERROR_KEY: f"error_handler node {self.name!r} needs an input named 'error' or "
                f"'errors' (it has: {', '.join(inputs) or 'none'}); use Input_Fields "
                "error|errors, or rename another field with field:error"
            }
        raw_errors = inputs.get(ERRORS_KEY)
        if ERRORS_KEY not in inputs:
            raw_errors = self._run_errors()
        if raw_errors is not None and not (
            isinstance(raw_errors, list | tuple)
            and all(isinstance(entry, Mapping) for entry in raw_errors)
        ):
            return {
                ERROR_KEY: f"error_handler node {self.name!r}: input 'errors' must be the list of "
                f"error entries the runner keeps ({{node, type, message, attempt}}), got "
                f"{type(raw_errors).__name__}"
            }
        errors = [dict(entry) for entry in raw_errors or ()]
        last = errors[-1] if errors else {}
        error = inputs.get(ERROR_KEY)
        message = str(error) if error is not None else last.get("message")
        node = last.get("node")
        if errors:
            failures = sum(1 for entry in errors if entry.get("node") == node)
        else:
            failures = 1 if message is not None else 0

        report: dict[str, Any] = {
            "message": message,
            "node": node,
            "type": last.get("type"),
            "failures": failures,
            "errors": errors,
        }
        decision = self._route(failures)
        if isinstance(decision, Mapping):
            return decision
        report["summary"] = _summary(report, decision, failures < self._max_attempts)
        if decision is not None:
            report[NEXT_KEY] = decision
        return report

    @staticmethod
    def _run_errors() -> Any:
        """The run's ``errors`` when the CSV lists only ``error`` as an input."""
        try:
            state = current_node().state
        except LookupError:
            return None
        return None if state is None else state.get(ERRORS_KEY)

    def _route(self, failures: int) -> str | dict[str, str] | None:
        """The target to take, ``None`` for no choice, or an error result."""
        try:
            targets = current_node().node.on_success
        except LookupError:
            return None  # not running inside a graph: nothing to choose from
        for key, value in (
            ("retry_target", self._retry_target),
            ("give_up_target", self._give_up_target),
        ):
            if value is not None and value not in targets:
                return {
                    ERROR_KEY: f"error_handler node {self.name!r}: Context {key} {value!r} is not "
                    f"one of its success targets ({', '.join(targets) or 'none'}); list it in "
                    "Success_Next or Edge, or pick one of those"
                }
        if len(targets) < 2:
            return None  # a single route (or none) needs no decision
        if failures < self._max_attempts:
            return self._retry_target or targets[0]
        return self._give_up_target or targets[-1]


def _summary(report: Mapping[str, Any], target: str | None, retrying: bool) -> str:
    message, node, kind = report["message"], report["node"], report["type"]
    if message is None and node is None:
        text = "no error recorded"
    else:
        what = f"{kind}: {message}" if kind else str(message)
        if node is None:
            text = f"error: {what}"
        else:
            times = "once" if report["failures"] == 1 else f"{report['failures']} times"
            text = f"node {node!r} failed {times}; last error {what}"
    if target is not None:
        text += f"; {'retrying via' if retrying else 'giving up, going to'} {target}"
    return text
