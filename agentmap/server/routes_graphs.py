"""The graphs a server offers, and the process's health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agentmap.server.app import ServerState, json_response
from agentmap.server.metrics import CONTENT_TYPE_LATEST
from agentmap.server.problems import ProblemError

__all__ = ["router"]

router = APIRouter()


def server(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


@router.get("/v1/graphs", tags=["graphs"], summary="The graphs this server runs")
async def list_graphs(request: Request) -> Response:
    catalog = server(request).catalog
    return json_response({"graphs": [entry.summary() for entry in catalog.values()]})


@router.get(
    "/v1/graphs/{name}",
    tags=["graphs"],
    summary="A graph: nodes, edges, inputs, outputs and its Mermaid diagram",
)
async def get_graph(name: str, request: Request) -> Response:
    return json_response(server(request).manager.graph(name).detail())


@router.get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", tags=["health"], summary="The state store and the cache are reachable")
async def readyz(request: Request) -> Response:
    srv = server(request)
    checks: dict[str, str] = {}
    try:
        await srv.manager.store.list_runs(limit=1)
        checks["state"] = "ok"
    except Exception as exc:
        checks["state"] = f"failed: {type(exc).__name__}"
    try:
        await srv.application.cache.get("agentmap:readyz")
        checks["cache"] = "ok"
    except Exception as exc:
        checks["cache"] = f"failed: {type(exc).__name__}"
    if not srv.manager.accepting:
        checks["server"] = "shutting down"
    if any(v != "ok" for v in checks.values()):
        failed = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
        raise ProblemError(
            503,
            "not-ready",
            f"not ready: {failed}",
            extra={"checks": checks},
            headers={"Retry-After": "5"},
        )
    return json_response({"status": "ready", "checks": checks})


@router.get("/metrics", tags=["health"], summary="Prometheus metrics of this process")
async def metrics(request: Request) -> Response:
    return Response(server(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
