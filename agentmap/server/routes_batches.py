"""``/v1/batches``: a JSONL upload run through the batch engine, its progress and its results.

The body is read as a stream, never whole: each chunk goes to the batch's
``inputs.jsonl`` and through the line check (agentmap/server/uploads.py),
so the upload limit (``server.max_batch_bytes``, enforced by the guard
middleware) bounds the disk used, not the memory. A multipart upload is
spooled by Starlette (1 MiB in memory, then a temporary file) and copied the
same way.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse
from starlette.requests import ClientDisconnect

from agentmap.server.app import ServerState, json_response
from agentmap.server.batches import INPUTS, BatchManager
from agentmap.server.problems import FieldError, ProblemError
from agentmap.server.sse import event_stream, first_event
from agentmap.server.uploads import JsonlReceiver

__all__ = ["router"]

NDJSON = "application/x-ndjson"
#: Content types taken as JSON lines (the first is what the results are sent as).
_JSONL_TYPES = {
    NDJSON,
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
    "application/json-lines",
    "text/jsonl",
}
_CHUNK = 1 << 16


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan: batches stop before the state store closes."""
    state: ServerState = app.state.server
    batches = BatchManager(state)
    app.state.batches = batches
    try:
        yield
    finally:
        await batches.shutdown(state.settings.shutdown_grace)


router = APIRouter(tags=["batches"], lifespan=_lifespan)


def _batches(request: Request) -> BatchManager:
    batches: BatchManager | None = getattr(request.app.state, "batches", None)
    if batches is None:  # an app driven without its lifespan (an in-process test client)
        batches = request.app.state.batches = BatchManager(request.app.state.server)
    return batches


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One JSON object per line: each line is one run's initial state.",
        "content": {
            NDJSON: {"schema": {"type": "string"}},
            "application/jsonl": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/v1/batches",
    summary="Run a graph once per line of a JSONL upload (answers at once; follow the batch)",
    status_code=202,
    openapi_extra=_BODY_DOC,
)
async def create_batch(
    request: Request,
    graph: Annotated[str, Query(description="The graph to run for every row")],
    id_field: Annotated[
        str | None, Query(description="A field of every row copied as its result's id")
    ] = None,
    concurrency: Annotated[
        int | None, Query(ge=1, description="Rows in flight at once (default batch.concurrency)")
    ] = None,
) -> Response:
    srv: ServerState = request.app.state.server
    batches = _batches(request)
    entry = srv.manager.graph(graph)
    cap = srv.settings.max_concurrent_runs
    if concurrency is not None and concurrency > cap:
        raise ProblemError(
            422,
            "invalid-request",
            f"concurrency may be at most {cap} (server.max_concurrent_runs)",
            [FieldError("concurrency", f"{concurrency} > {cap}")],
        )
    if not (srv.manager.accepting and batches.accepting):
        raise ProblemError(
            503,
            "shutting-down",
            "the server is shutting down and starts no new batch; retry on another instance",
            headers={"Retry-After": "5"},
        )
    kind = _content_type(request)
    needed = [*entry.required, *([id_field] if id_field else [])]
    batch_id, folder = batches.folder()
    try:
        receiver = JsonlReceiver(folder / INPUTS, list(dict.fromkeys(needed)), graph=entry.name)
        try:
            if kind == "multipart/form-data":
                await _receive_form(request, receiver)
            else:
                async for chunk in request.stream():
                    receiver.feed(chunk)
            total = receiver.finish()
        finally:
            receiver.close()
    except ClientDisconnect:
        shutil.rmtree(folder, ignore_errors=True)
        # Nobody is left to read an answer; a problem keeps a traceback out of the log.
        raise ProblemError(400, "invalid-request", "the client went away mid-upload") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    key: str | None = request.scope.get("state", {}).get("api_key")
    workers = min(concurrency or srv.application.settings.batch.concurrency, cap)
    batch = batches.start(
        batch_id, entry, total, id_field=id_field, concurrency=workers, key=key or "anonymous"
    )
    body = {"batch_id": batch.batch_id, "graph": batch.graph, "status": batch.status}
    return json_response({**body, "total": total}, 202, {"Location": f"/v1/batches/{batch_id}"})


def _content_type(request: Request) -> str:
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind in _JSONL_TYPES or kind == "multipart/form-data":
        return kind
    raise ProblemError(
        415,
        "unsupported-media-type",
        f"send the rows as JSON lines (Content-Type {NDJSON} or application/jsonl) or as "
        f"the `file` part of a multipart/form-data upload, not {kind or 'no Content-Type'}",
        [FieldError("Content-Type", f"unsupported: {kind or '(none)'}")],
    )


async def _receive_form(request: Request, receiver: JsonlReceiver) -> None:
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            parts = ", ".join(repr(name) for name in form) or "none"
            raise ProblemError(
                422,
                "invalid-request",
                f"a multipart batch upload needs its JSONL in a part named `file` (parts: {parts})",
                [FieldError("file", "missing file part")],
            )
        while chunk := await upload.read(_CHUNK):
            receiver.feed(chunk)


@router.get("/v1/batches/{batch_id}", summary="A batch: status, row counts, and its summary")
async def get_batch(batch_id: str, request: Request) -> Response:
    return json_response(_batches(request).get(batch_id).view())


@router.get(
    "/v1/batches/{batch_id}/events",
    summary="Server-Sent Events of a batch's progress, from the start or after Last-Event-ID",
    response_class=EventSourceResponse,
)
async def batch_events(
    batch_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(alias="last_event_id", ge=0)] = None,
) -> EventSourceResponse:
    batch = _batches(request).get(batch_id)
    start = first_event(last_event_id, after)
    return event_stream(batch.log.follow(start))


@router.get(
    "/v1/batches/{batch_id}/results",
    summary="The batch's result lines (JSONL); while it runs, the rows finished so far",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}},
)
async def batch_results(batch_id: str, request: Request) -> Response:
    batch = _batches(request).get(batch_id)
    status = batch.status  # read before the file: a finished batch's file is whole
    path = batch.results
    size = _complete_lines(path)
    headers = {
        "Content-Length": str(size),
        "X-Batch-Status": status,
        "Content-Disposition": f'inline; filename="{batch_id}.jsonl"',
    }
    return StreamingResponse(_read(path, size), media_type=NDJSON, headers=headers)


def _complete_lines(path: Path) -> int:
    """The bytes of ``path`` up to its last newline: a line being written is left out."""
    try:
        with path.open("rb") as file:
            end = file.seek(0, 2)
            at = end
            while at > 0:
                step = min(_CHUNK, at)
                file.seek(at - step)
                found = file.read(step).rfind(b"\n")
                if found >= 0:
                    return at - step + found + 1
                at -= step
            return 0
    except FileNotFoundError:
        return 0


async def _read(path: Path, size: int) -> AsyncIterator[bytes]:
    if size == 0:
        return
    with path.open("rb") as file:
        left = size
        while left > 0:
            chunk = file.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
