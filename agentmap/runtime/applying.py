"""Writing a node's outcome into the run's state: the fields, the failure, the JSON check.

Split from the runner so that ``GraphRunner._step`` reads as the sequence of
a step. Everything that can make a *returned* result a failure lives here: a
missing output, an invalid ``__next__`` choice, and a value the state store
cannot hold as JSON. Each fails the node before its fields reach the state
or the store, so Failure_Next applies and nothing half-written is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentmap.errors import StateValueError
from agentmap.runtime.attempts import Outcome
from agentmap.runtime.keys import ERROR_KEY, ERRORS_KEY, SUCCESS_KEY
from agentmap.runtime.nodes import NOT_CHOSEN, CompiledNode, NodeFailure, write_outputs
from agentmap.runtime.routing import check_choice

__all__ = ["Applied", "apply_outcome"]

#: (success, the fields written, the ``__next__`` choice, the failure message or
#: "", the fields as JSON when the state adapter encodes).
Applied = tuple[bool, dict[str, Any], str | None, str, str | None]


def apply_outcome(
    node: CompiledNode,
    outcome: Outcome,
    state: dict[str, Any],
    failures: dict[str, str],
    encode: Callable[[str, Mapping[str, Any]], str] | None,
    failed: Callable[[str, CompiledNode, int, int, str, str], None],
    run_id: str,
    step: int,
) -> Applied:
    """Write the node's outcome into ``state``; ``failures`` keeps each node's last error.

    ``failed(run_id, node, step, attempts, error_type, message)`` records a
    failure found here, after the agent itself succeeded (``Attempts.failed``).
    """
    ok, value, error_type, attempts = outcome
    delta: dict[str, Any] = {}
    if ok:
        try:
            raw = write_outputs(node, value, delta)
            chosen = None if raw is NOT_CHOSEN else check_choice(node, raw)
            delta[SUCCESS_KEY] = True
            encoded = encode(node.name, delta) if encode is not None else None
        except (NodeFailure, StateValueError) as failure:
            error_type = getattr(failure, "error_type", type(failure).__name__)
            value = str(failure)
            failed(run_id, node, step, attempts, error_type, value)
        else:
            state.update(delta)
            if node.name in failures:
                del failures[node.name]
            return True, delta, chosen, "", encoded
    message = failures[node.name] = str(value)
    errors = list(state.get(ERRORS_KEY) or ())
    errors.append({"node": node.name, "type": error_type, "message": message, "attempt": attempts})
    delta = {ERROR_KEY: message, ERRORS_KEY: errors, SUCCESS_KEY: False}
    state.update(delta)
    return False, delta, None, message, None
