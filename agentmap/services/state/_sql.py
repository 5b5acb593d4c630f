"""The table layout and row decoding shared by the SQL state backends (sqlite, postgres).

Both backends store a run as one ``runs`` row and one ``steps`` row per
checkpoint, with the same column names in the same order, so a row read by
either is turned into the records of ``agentmap.runtime.checkpoint`` here,
once. JSON columns arrive as text (sqlite, postgres ``text``) or already
decoded (postgres ``jsonb``); both are accepted.

A row that does not decode (edited by hand, a torn disk block) is a
``StateBackendError`` naming the store, the run and the step, so the user
knows which run to delete; other runs stay readable.

Standard library only: the postgres backend imports this without sqlite3 and
the sqlite backend without psycopg.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentmap.errors import StateBackendError
from agentmap.runtime.checkpoint import RunStart, RunSummary, StepRecord, StoredRun, Waiting
from agentmap.services.state import _json

__all__ = [
    "RUN_COLUMNS",
    "STEP_COLUMNS",
    "SUMMARY_COLUMNS",
    "corrupt_error",
    "decode_run",
    "decode_step",
    "decode_summary",
    "run_row",
    "step_row",
]

#: ``runs`` columns, in the order ``run_row`` produces and ``decode_run`` reads.
#: fingerprint, waiting and initial_state are JSON; the times are epoch seconds.
RUN_COLUMNS = (
    "run_id",
    "graph",
    "workflow",
    "fingerprint",
    "status",
    "error",
    "waiting",
    "initial_state",
    "created_at",
    "updated_at",
    "parent_run_id",
    "forked_from_step",
)

#: ``steps`` columns (primary key ``(run_id, step)``), in ``step_row`` order.
#: delta, route (a list of node names) and usage are JSON; ok and final are booleans.
STEP_COLUMNS = (
    "run_id",
    "step",
    "node",
    "branch",
    "visit",
    "delta",
    "route",
    "ok",
    "final",
    "started_at",
    "duration",
    "attempts",
    "usage",
)

#: What ``decode_summary`` reads: the run's columns, then the number of steps and
#: the node of the highest step (an aggregate over ``steps``: saving a step does
#: not update its run's row, so a step costs one statement).
SUMMARY_COLUMNS = (
    "run_id",
    "graph",
    "status",
    "created_at",
    "updated_at",
    "error",
    "workflow",
    "parent_run_id",
    "steps",
    "last_node",
)

#: Route JSON by route: a graph takes the same few routes over and over, and
#: encoding one costs as much as a small delta (bounded: cleared when full).
_ROUTES: dict[tuple[str, ...], str] = {(): "[]"}
_MAX_ROUTES = 4096


#: Routes read, by their JSON text (bounded like ``_ROUTES``).
_READ_ROUTES: dict[str, tuple[str, ...]] = {"[]": ()}
# The decoder's own scanner (typeshed does not list ``scan_once``).
_scan: Callable[[str, int], tuple[Any, int]]
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _route(route: tuple[str, ...]) -> str:
    if type(route) is not tuple:
        route = tuple(route)
    text = _ROUTES.get(route)
    if text is None:
        if len(_ROUTES) >= _MAX_ROUTES:
            _ROUTES.clear()
        text = _ROUTES[route] = _json.encode(list(route))
    return text


def run_row(run: RunStart, now: float) -> tuple[Any, ...]:
    """The ``runs`` row of a newly started run; an initial state that is not JSON is a
    ``StateValueError`` naming the field, before anything is written."""
    initial_state = _json.encode_delta(None, run.initial_state)
    fingerprint = None if run.fingerprint is None else _json.encode(run.fingerprint)
    return (
        run.run_id,
        run.graph,
        run.workflow,
        fingerprint,
        "running",
        None,
        None,
        initial_state,
        now,
        now,
        run.parent_run_id,
        run.forked_from_step,
    )


def step_row(run_id: str, step: StepRecord) -> tuple[Any, ...]:
    """The ``steps`` row of ``step``: its delta as the JSON the runner encoded when the
    node wrote it (``StepRecord.encoded``), or encoded here for a caller that did not."""
    delta = step.encoded
    if delta is None:
        delta = _json.encode_delta(step.node, step.delta)
    usage = step.usage
    return (
        run_id,
        step.step,
        step.node,
        step.branch,
        step.visit,
        delta,
        _route(step.route),
        bool(step.ok),
        bool(step.final),
        step.started_at,
        step.duration,
        step.attempts,
        None if usage is None else _json.encode(usage),
    )


def decode_step(row: Sequence[Any], store: str) -> StepRecord:
    """A ``StepRecord`` from a row in ``STEP_COLUMNS`` order."""
    run_id, step = row[0], row[1]
    delta = _load(row[5], store, run_id, step, "delta")
    if not isinstance(delta, dict):
        raise corrupt_error(store, run_id, step, "delta", "not a JSON object")
    route = _READ_ROUTES.get(row[6]) if type(row[6]) is str else None
    if route is None:
        found = _load(row[6], store, run_id, step, "route")
        if not isinstance(found, list):
            raise corrupt_error(store, run_id, step, "route", "not a JSON list")
        route = tuple(found)
        if type(row[6]) is str and len(_READ_ROUTES) < _MAX_ROUTES:
            _READ_ROUTES[row[6]] = route
    usage = None if row[12] is None else _load(row[12], store, run_id, step, "usage")
    try:
        return StepRecord(
            step=int(step),
            node=str(row[2]),
            delta=delta,
            route=route,
            ok=bool(row[7]),
            final=bool(row[8]),
            branch=str(row[3]),
            visit=int(row[4]),
            started_at=float(row[9] or 0.0),
            duration=float(row[10] or 0.0),
            attempts=int(row[11] if row[11] is not None else 1),
            usage=usage,
        )
    except (TypeError, ValueError) as exc:
        raise corrupt_error(store, run_id, step, "row", f"of the wrong types ({exc})") from exc


def decode_run(row: Sequence[Any], steps: list[StepRecord], store: str) -> StoredRun:
    """A ``StoredRun`` from a row in ``RUN_COLUMNS`` order and its decoded steps (by step)."""
    run_id = row[0]
    initial = _load(row[7], store, run_id, None, "initial_state")
    if not isinstance(initial, dict):
        raise corrupt_error(store, run_id, None, "initial_state", "not a JSON object")
    fingerprint = None if row[3] is None else _load(row[3], store, run_id, None, "fingerprint")
    waiting = None
    if row[6] is not None:
        data = _load(row[6], store, run_id, None, "waiting")
        try:
            waiting = Waiting.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt_error(
                store, run_id, None, "waiting", f"not a waiting point ({exc})"
            ) from exc
    return StoredRun(
        run_id=run_id,
        graph=row[1],
        status=row[4],
        initial_state=initial,
        steps=steps,
        error=row[5],
        waiting=waiting,
        workflow=row[2],
        fingerprint=fingerprint,
        created_at=float(row[8]),
        updated_at=float(row[9]),
        parent_run_id=row[10],
        forked_from_step=None if row[11] is None else int(row[11]),
    )


def decode_summary(row: Sequence[Any]) -> RunSummary:
    """A ``RunSummary`` from a row in ``SUMMARY_COLUMNS`` order (no JSON to decode)."""
    return RunSummary(
        run_id=row[0],
        graph=row[1],
        status=row[2],
        created_at=float(row[3]),
        updated_at=float(row[4]),
        steps=int(row[8] or 0),
        last_node=row[9],
        error=row[5],
        workflow=row[6],
        parent_run_id=row[7],
    )


def _load(value: Any, store: str, run_id: str, step: int | None, column: str) -> Any:
    if isinstance(value, str | bytes | bytearray | memoryview):
        try:
            return _parse(value if isinstance(value, str) else bytes(value).decode())
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise corrupt_error(store, run_id, step, column, f"not valid JSON ({exc})") from exc
    if isinstance(value, Mapping | list | int | float | bool) or value is None:
        return value  # postgres jsonb: decoded by the driver already
    raise corrupt_error(store, run_id, step, column, f"a {type(value).__name__}, not JSON")


def _parse(text: str) -> Any:
    """``json.loads`` through the C scanner directly (a resume decodes a row per step);
    anything else (surrounding whitespace, an error to report) goes to ``json.loads``."""
    try:
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass
    return json.loads(text)


def corrupt_error(
    store: str, run_id: str, step: int | None, column: str, problem: str
) -> StateBackendError:
    """The one-line error for a row that does not decode: names store, run and step."""
    where = f"run {run_id!r}" if step is None else f"run {run_id!r} step {step}"
    return StateBackendError(
        f"{store}: {where} is corrupt: its {column} is {problem}. The row was changed "
        f"outside AgentMap; other runs are unaffected (delete this one, or restore the store)"
    )


def unknown_run(run_id: str) -> KeyError:
    """What writing to a run that was never started raises (the conformance suite's contract)."""
    return KeyError(f"unknown run {run_id!r}: call start_run first")
