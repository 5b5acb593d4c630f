"""The FastAPI application of ``agentmap serve``: wiring, lifespan and error handlers.

``create_app`` takes a ready ``Application`` (the CLI builds it from the
container; a test may pass one with overridden services) and does every check
that can fail before it returns: the workflows folder is loaded and validated
here, so a bad CSV stops start-up with its file/line/node message.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentmap._version import __version__
from agentmap.errors import ConfigurationError, StateBackendError, StateValueError
from agentmap.server.auth import BodyTooLargeError, GuardMiddleware, KeyRing, RateLimiter
from agentmap.server.catalog import Catalog, ServerApplication
from agentmap.server.events import EventHub, ServerTracker
from agentmap.server.manager import RunManager
from agentmap.server.metrics import ServerMetrics
from agentmap.server.payload import is_json, media_type_problem, unreadable_body
from agentmap.server.problems import FieldError, ProblemError
from agentmap.settings import ServerSettings

__all__ = ["ServerState", "create_app"]

PROBLEM_JSON = "application/problem+json"
_STATIC = files("agentmap.server") / "static"


@dataclass(slots=True)
class ServerState:
    """What the routes reach through ``request.app.state.server``."""

    application: ServerApplication
    settings: ServerSettings
    catalog: Catalog
    manager: RunManager
    hub: EventHub
    metrics: ServerMetrics
    logger: Any


def create_app(application: ServerApplication, *, workflows: Path | None = None) -> FastAPI:
    settings = application.settings
    server = settings.server
    if not settings.execution.checkpoint:
        raise ConfigurationError(
            "agentmap serve keeps every run in the state store, so it needs "
            "execution.checkpoint on (AGENTMAP_EXECUTION__CHECKPOINT=true)"
        )
    logger = application.logger
    hub = EventHub()
    metrics = ServerMetrics()
    tracker = ServerTracker(application.tracker, hub, metrics.observe)
    services = ExitStack()
    services.enter_context(application.use(tracker=tracker))
    try:
        catalog = Catalog(application, workflows or server.workflows)
    except BaseException:
        services.close()
        raise
    store = application.state_store
    manager = RunManager(
        catalog,
        store,
        hub,
        logger,
        max_concurrent_runs=server.max_concurrent_runs,
        on_active=metrics.active.inc,
    )
    state = ServerState(application, server, catalog, manager, hub, metrics, logger)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hub.bind(loop)
        await store.open()
        restore = _chain_sigterm(
            lambda: loop.call_soon_threadsafe(manager.begin_shutdown, server.shutdown_grace)
        )
        logger.info(f"serving {len(catalog)} graph(s) from {catalog.folder}: {', '.join(catalog)}")
        try:
            yield
        finally:
            await manager.shutdown(server.shutdown_grace)
            restore()
            try:
                await store.close()
            finally:
                tracker.flush()
                services.close()

    app = FastAPI(
        title="AgentMap",
        version=__version__,
        description="Run AgentMap workflows over HTTP (docs/serving.md).",
        lifespan=lifespan,
    )
    app.state.server = state
    _add_handlers(app, state)
    from agentmap.server import routes_graphs, routes_runs

    app.include_router(routes_graphs.router)
    app.include_router(routes_runs.router)
    _include_optional(app, "agentmap.server.routes_batches")
    _add_viewer(app)
    app.add_middleware(
        GuardMiddleware,
        keys=KeyRing(server.api_keys),
        limiter=RateLimiter(server.rate_limit, server.rate_burst) if server.rate_limit else None,
        max_body=server.max_body_bytes,
        max_batch_body=server.max_batch_bytes,
    )
    if server.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"],
        )
    return app


def _include_optional(app: FastAPI, module: str) -> None:
    import importlib

    try:
        routes = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    app.include_router(routes.router)


def _add_viewer(app: FastAPI) -> None:
    static = Path(str(_STATIC))

    @app.get("/", include_in_schema=False)
    async def viewer() -> Response:
        index = static / "index.html"
        if not index.is_file():
            raise ProblemError(404, "not-found", "the run viewer is not installed")
        return FileResponse(index)

    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")


def problem_response(
    request: Request, problem: ProblemError | None = None, **fields: Any
) -> Response:
    if problem is None:
        problem = ProblemError(**fields)
    body = problem.body(request.url.path)
    return JSONResponse(body, problem.status, problem.headers or None, media_type=PROBLEM_JSON)


def _add_handlers(app: FastAPI, state: ServerState) -> None:
    logger = state.logger

    def counted(request: Request, problem: ProblemError) -> Response:
        state.metrics.requests.labels(str(problem.status)).inc()
        return problem_response(request, problem)

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        state.metrics.requests.labels(str(exc.status)).inc()
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            where: dict[str, Any] = next((e for e in errors if e.get("type") == "json_invalid"), {})
            ctx = where.get("ctx") or {}
            return counted(
                request,
                ProblemError(
                    400,
                    "malformed-json",
                    f"the request body is not valid JSON: {ctx.get('error', 'parse error')}",
                ),
            )
        content_type = request.headers.get("content-type")
        if not is_json(content_type) and any(
            tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in errors
        ):
            # FastAPI leaves a non-JSON body unparsed and then finds "not a dict".
            return counted(request, media_type_problem(content_type))
        fields = [_field_error(e) for e in errors]
        summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        return counted(request, ProblemError(422, "invalid-request", summary, fields))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        unreadable = unreadable_body(exc.__cause__) if exc.status_code == 400 else None
        if unreadable is not None:
            return counted(request, unreadable)
        slug = {
            400: "bad-request",
            404: "not-found",
            405: "method-not-allowed",
            415: "unsupported-media-type",
        }
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.status_code)
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow")
            detail = f"{request.method} is not allowed on {request.url.path}" + (
                f"; it takes {allowed}" if allowed else ""
            )
        return counted(
            request,
            ProblemError(
                exc.status_code, slug.get(exc.status_code, "http-error"), detail, headers=headers
            ),
        )

    @app.exception_handler(BodyTooLargeError)
    async def on_too_large(request: Request, exc: BodyTooLargeError) -> Response:
        return problem_response(request, status=413, slug="body-too-large", detail=str(exc))

    @app.exception_handler(StateValueError)
    async def on_state_value(request: Request, exc: StateValueError) -> Response:
        if exc.node is not None:  # a node's output: the runner fails the node, so a bug here
            return await on_error(request, exc)
        where = "values" if request.url.path.endswith("/resume") else "state"
        fields = [FieldError(f"{where}.{exc.field}", str(exc))] if exc.field else []
        return counted(request, ProblemError(422, "invalid-request", str(exc), fields))

    @app.exception_handler(StateBackendError)
    async def on_store(request: Request, exc: StateBackendError) -> Response:
        logger.error(f"{request.method} {request.url.path}: state store failed: {exc}")
        return problem_response(
            request,
            status=503,
            slug="not-ready",
            detail="the state store is not reachable; see the server log",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        ref = f"{time.time():.6f}"
        opt = getattr(logger, "opt", None)
        # str, not repr, and cut short: the repr of a UnicodeEncodeError holds the whole
        # text it failed on -- the answer with the run's state in it.
        what = str(exc)
        what = what if len(what) <= 300 else what[:300] + "..."
        message = (
            f"{request.method} {request.url.path} failed (ref {ref}): {type(exc).__name__}: {what}"
        )
        if callable(opt):
            opt(exception=exc).error(message)
        else:
            logger.error(message)
        state.metrics.requests.labels("500").inc()
        return problem_response(
            request,
            status=500,
            slug="internal",
            detail=f"the server failed on this request; its log has the details (ref {ref})",
            # Starlette re-raises after this answer and uvicorn then drops the connection:
            # say so, or a keep-alive client sends its next request into a reset.
            headers={"Connection": "close"},
        )


def _field_error(error: Any) -> FieldError:
    """One pydantic error as a field error; a ``json_value`` error names its own field."""
    ctx = error.get("ctx") or {}
    if error.get("type") == "json_value" and isinstance(ctx.get("field"), str):
        return FieldError(ctx["field"], str(ctx.get("why", error.get("msg", ""))))
    return FieldError(_field(error.get("loc", ())), str(error.get("msg", "")))


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _chain_sigterm(hook: Any) -> Any:
    """Call ``hook`` on SIGTERM/SIGINT, then uvicorn's own handler (which stops accepting).

    uvicorn installs its handlers before the lifespan starts; chaining lets the
    run manager stop taking runs and start the grace period the moment the
    signal arrives, not after uvicorn has closed every connection.
    """
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        hook()
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
    except ValueError:  # not the main thread (an app run by a test client): no signals
        return lambda: None

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON without FastAPI's encoder pass (the bodies are plain JSON types already)."""
    body = json.dumps(data, default=str, ensure_ascii=False).encode()
    return Response(body, status, headers, media_type="application/json")
