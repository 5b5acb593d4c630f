"""``/v1/runs``: start, read, list, resume and cancel runs, and follow their events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator
from pydantic_core import PydanticCustomError
from sse_starlette import EventSourceResponse

from agentmap.runtime.run_view import stored_run_dict
from agentmap.server.app import ServerState, json_response
from agentmap.server.events import stored_events
from agentmap.server.manager import LiveRun
from agentmap.server.payload import json_problem
from agentmap.server.problems import FieldError, ProblemError
from agentmap.server.sse import event_stream, first_event

__all__ = ["router"]

router = APIRouter(tags=["runs"])

_STATUSES = ("running", "suspended", "completed", "failed", "interrupted", "cancelled")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph: StrictStr = Field(description="The graph to run (GET /v1/graphs lists them)")
    state: dict[str, Any] = Field(default_factory=dict, description="The run's initial state")
    wait: StrictBool = Field(default=True, description="Answer with the final state")
    timeout: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Seconds to wait before answering 202 (the run goes on)"
    )
    run_id: StrictStr | None = Field(default=None, description="Your own id for the run")

    @field_validator("state")
    @classmethod
    def _portable_state(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _portable(value, "state")


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict, description="Answers to the question")
    wait: StrictBool = True
    timeout: Annotated[float, Field(gt=0)] | None = None
    force: StrictBool = Field(
        default=False,
        description="Resume although the workflow changed or the run is marked running",
    )

    @field_validator("values")
    @classmethod
    def _portable_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _portable(value, "values")


def _portable(value: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse what Python's JSON reader lets through and no store or client can take.

    The error's ``field`` context names the exact member (``state.items[2]``);
    the problem handler puts it in ``errors[].field``.
    """
    found = json_problem(value, where)
    if found is not None:
        field, why = found
        raise PydanticCustomError("json_value", "{field}: {why}", {"field": field, "why": why})
    return value


def server(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def _key(request: Request) -> str | None:
    key: str | None = request.scope.get("state", {}).get("api_key")
    return key


@router.post(
    "/v1/runs",
    summary="Start a run; with wait (the default), answer with its result",
    status_code=200,
    responses={202: {"description": "The run goes on; follow it at Location"}},
)
async def create_run(body: RunRequest, request: Request) -> Response:
    srv = server(request)
    live = await srv.manager.start(body.graph, body.state, run_id=body.run_id, key=_key(request))
    return await _answer(srv, live, body.wait, body.timeout)


@router.post(
    "/v1/runs/{run_id}/resume",
    summary="Go on with a suspended (or interrupted, failed, cancelled) run",
    responses={202: {"description": "The run goes on; follow it at Location"}},
)
async def resume_run(run_id: str, body: ResumeRequest, request: Request) -> Response:
    srv = server(request)
    live = await srv.manager.resume(run_id, body.values, force=body.force, key=_key(request))
    return await _answer(srv, live, body.wait, body.timeout)


async def _answer(srv: ServerState, live: LiveRun, wait: bool, within: float | None) -> Response:
    result = await srv.manager.wait(live, within) if wait else None
    if result is None:
        where = f"/v1/runs/{live.run_id}"
        return json_response(
            {"run_id": live.run_id, "graph": live.graph, "status": "running"},
            202,
            {"Location": where},
        )
    return json_response(result.to_dict())


@router.post("/v1/runs/{run_id}/cancel", summary="Cancel a run in flight", status_code=202)
async def cancel_run(run_id: str, request: Request) -> Response:
    await server(request).manager.cancel(run_id)
    return json_response({"run_id": run_id, "status": "cancelled"}, 202)


@router.get("/v1/runs", summary="Stored runs, newest first")
async def list_runs(
    request: Request,
    status: Annotated[str | None, Query(description="Only runs with this status")] = None,
    graph: Annotated[str | None, Query(description="Only runs of this graph")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    if status is not None and status not in _STATUSES:
        raise ProblemError(
            422,
            "invalid-request",
            f"status must be one of {', '.join(_STATUSES)}",
            [FieldError("status", f"unknown status {status!r}")],
        )
    if graph is not None and "\x00" in graph:
        raise ProblemError(
            422, "invalid-request", "graph holds a NUL character", [FieldError("graph", "NUL")]
        )
    store = server(request).manager.store
    found = await store.list_runs(status=status, graph=graph, limit=offset + limit + 1)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    query = {k: v for k, v in (("status", status), ("graph", graph)) if v is not None}
    nxt = f"/v1/runs?{urlencode({**query, 'limit': limit, 'offset': offset + limit})}"
    return json_response(
        {
            "runs": [
                {
                    "run_id": r.run_id,
                    "graph": r.graph,
                    "status": r.status,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                    "error": r.error,
                    "steps": r.steps,
                }
                for r in page
            ],
            "next": nxt if more else None,
        }
    )


@router.get("/v1/runs/{run_id}", summary="A run: status, state and every step")
async def get_run(run_id: str, request: Request) -> Response:
    srv = server(request)
    stored = await srv.manager.load(run_id)
    entry = srv.catalog.get(stored.graph)
    inputs_of = {name: node.input_names for name, node in entry.spec.nodes.items()} if entry else {}
    return json_response(stored_run_dict(stored, inputs_of))


@router.get(
    "/v1/runs/{run_id}/events",
    summary="Server-Sent Events of a run, from the start or after Last-Event-ID",
    response_class=EventSourceResponse,
)
async def run_events(
    run_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(alias="last_event_id", ge=0)] = None,
) -> EventSourceResponse:
    srv = server(request)
    start = first_event(last_event_id, after)
    log = srv.hub.get(run_id)
    if log is not None:
        return event_stream(log.follow(start))
    stored = await srv.manager.load(run_id)
    return event_stream(_replay(stored_events(stored), start))


async def _replay(
    events: list[dict[str, Any]], after: int
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    for number, event in enumerate(events[after:], start=after + 1):
        yield number, event
