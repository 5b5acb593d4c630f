"""Whether a stored run may be resumed as asked, checked before anything is changed.

Every refusal is a ``ResumeError`` whose message says why and what to do
instead; none of them writes to the store. The CLI and ``Application.resume``
both call ``check_resumable``, so a script gets the same answer as a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmap.errors import ResumeError
from agentmap.runtime.checkpoint import StoredRun
from agentmap.runtime.fingerprint import describe_changes

__all__ = ["check_resumable", "check_unchanged"]


def check_resumable(
    stored: StoredRun,
    current: Mapping[str, Any],
    values: Mapping[str, Any] | None,
    *,
    force: bool = False,
) -> None:
    """Raise ``ResumeError`` unless ``stored`` can go on with ``values`` under graph
    fingerprint ``current``."""
    run_id = stored.run_id
    if stored.status == "completed":
        raise ResumeError(
            f"run {run_id} already completed, so there is nothing to resume; to run it "
            f"again from a step, fork it: agentmap runs rerun {run_id} --from STEP"
        )
    waiting = stored.waiting
    if stored.status == "suspended" and waiting is not None:
        _check_values(run_id, waiting.node, waiting.question, waiting.fields, values)
    elif values:
        raise ResumeError(
            f"run {run_id} is {stored.status} and waits for no input, but values were given "
            f"for {', '.join(repr(k) for k in values)}; resume it without them"
        )
    check_unchanged(stored, current, force=force)


def check_unchanged(stored: StoredRun, current: Mapping[str, Any], *, force: bool = False) -> None:
    """Raise ``ResumeError`` saying what changed if the workflow is not the one ``stored``
    ran, unless ``force`` (a resume, and a fork with ``runs rerun``, replay through it)."""
    changes = describe_changes(stored.fingerprint, current)
    if changes and not force:
        raise ResumeError(
            f"the workflow of run {stored.run_id} (graph {stored.graph!r}) changed since the "
            f"run started: {changes}. Resuming replays the recorded steps through the graph as "
            "it is now; to do that anyway, use --force (force=True)"
        )


def _check_values(
    run_id: str,
    node: str,
    question: str,
    fields: tuple[str, ...],
    values: Mapping[str, Any] | None,
) -> None:
    wanted = ", ".join(fields)
    asked = f" ({question})" if question else ""
    unknown = [key for key in values or {} if key not in fields]
    if unknown:
        raise ResumeError(
            f"run {run_id} waits at node {node!r} for {wanted}, not for "
            f"{', '.join(repr(k) for k in unknown)}; give only the fields it waits for"
        )
    missing = [name for name in fields if name not in (values or {})]
    if missing:
        example = " ".join(f"--set {name}=..." for name in missing)
        raise ResumeError(
            f"run {run_id} waits at node {node!r}{asked} for {wanted}; "
            f"give {'it' if len(missing) == 1 else 'them'}: agentmap resume {run_id} {example}"
        )
