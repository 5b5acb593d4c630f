"""``interrupt(...)``: stop a run until a person answers, then go on from there.

A node that needs a person calls ``interrupt(question, fields)``. The first
time, that raises ``Interrupt``: the runner ends the run as ``suspended`` and
stores the question and the fields it waits for. ``agentmap resume RUN_ID
--set field=value`` (``Application.resume(run_id, values=...)``) replays the
run to that node and runs it again, and this time ``interrupt`` returns the
values given. So code before the call runs twice (as in LangGraph): keep side
effects after it, or guard them with ``current_node().idempotency_key``.

``Interrupt`` derives from ``BaseException`` so that an agent's own
``except Exception`` cannot swallow it and turn a pause into a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentmap.runtime.context import current_node

__all__ = ["Interrupt", "interrupt"]


class Interrupt(BaseException):
    """Raised by ``interrupt()`` to suspend the run; the runner catches it."""

    def __init__(self, question: str, fields: tuple[str, ...]) -> None:
        super().__init__(question)
        self.question = question
        self.fields = fields


def interrupt(question: str, fields: Sequence[str] | str | None = None) -> dict[str, Any]:
    """Suspend the run for ``fields`` (default: the node's output fields), asking ``question``.

    Returns the values given to the resume, as a dict of field -> value.
    Outside a running node it raises ``LookupError``.
    """
    ctx = current_node()
    if ctx.resume_values is not None:
        return dict(ctx.resume_values)
    if fields is None:
        names = ctx.node.output_names
    elif isinstance(fields, str):
        names = tuple(name.strip() for name in fields.split("|") if name.strip())
    else:
        names = tuple(fields)
    if not names:
        raise ValueError(
            f"interrupt() in node {ctx.node.name!r} names no fields to wait for and the node "
            "has no Output_Field: pass fields=[...]"
        )
    raise Interrupt(question, names)
