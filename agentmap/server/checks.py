"""The checks a run request passes before the run manager starts anything.

Each failure is a ``ProblemError`` naming the field a client must change
(``state.topic``, ``values.approved``, ``run_id``); none of them reads the
store or changes anything, so the manager calls them before it claims a run
id or launches a task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agentmap.runtime.checkpoint import StoredRun
from agentmap.server.catalog import GraphEntry
from agentmap.server.problems import FieldError, ProblemError
from agentmap.workflow.suggest import suggest

__all__ = ["check_inputs", "check_resume", "check_run_id", "run_exists", "unknown_graph"]

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def unknown_graph(name: str, known: Iterable[str]) -> ProblemError:
    names = sorted(known)
    hint = suggest(name, names)
    return ProblemError(
        404,
        "unknown-graph",
        f"no graph {name!r} in this server"
        + (f"; did you mean {hint!r}?" if hint else f"; its graphs: {', '.join(names) or 'none'}"),
        [FieldError("graph", f"unknown graph {name!r}")],
    )


def check_inputs(entry: GraphEntry, state: Mapping[str, Any]) -> None:
    """The run's state holds every field the graph requires (``GraphEntry.required``)."""
    missing = [name for name in entry.required if name not in state]
    if missing:
        raise ProblemError(
            422,
            "missing-inputs",
            f"graph {entry.name!r} needs {', '.join(repr(m) for m in missing)} in the run's "
            f"state; it reads {'it' if len(missing) == 1 else 'them'} before any node "
            "writes them",
            [FieldError(f"state.{name}", "required by the graph") for name in missing],
        )


def check_run_id(run_id: str) -> None:
    if not _RUN_ID.match(run_id):
        raise ProblemError(
            422,
            "invalid-request",
            "run_id may hold letters, digits and _ . : - (1 to 128 of them)",
            [FieldError("run_id", "invalid run id")],
        )


def run_exists(run_id: str) -> ProblemError:
    return ProblemError(
        409,
        "run-exists",
        f"a run {run_id} exists already; GET /v1/runs/{run_id} shows it",
        extra={"run_id": run_id},
    )


def check_resume(stored: StoredRun, values: Mapping[str, Any] | None, force: bool) -> None:
    """The API's own rules for a resume, before ``runtime.resume.check_resumable``:
    a ``running`` run needs ``force``, and a suspended one exactly its fields."""
    run_id, status = stored.run_id, stored.status
    if status == "completed":
        raise ProblemError(
            409, "not-resumable", f"run {run_id} already completed, so there is nothing to resume"
        )
    if status == "running" and not force:
        raise ProblemError(
            409,
            "not-resumable",
            f"run {run_id} is marked running, but not in this server process: another "
            "server may be running it, or its server died. If it died, resume it with "
            '"force": true',
        )
    waiting = stored.waiting
    if status != "suspended" or waiting is None:
        return
    given = dict(values or {})
    errors = [
        FieldError(f"values.{name}", f"run {run_id} waits for no field {name!r}")
        for name in given
        if name not in waiting.fields
    ] + [
        FieldError(f"values.{name}", "required: the run waits for it")
        for name in waiting.fields
        if name not in given
    ]
    if errors:
        asked = f" ({waiting.question})" if waiting.question else ""
        raise ProblemError(
            422,
            "invalid-request",
            f"run {run_id} waits at node {waiting.node!r}{asked} for {', '.join(waiting.fields)}",
            errors,
        )
