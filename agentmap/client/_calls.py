"""What each API call sends, and how an error answer is read: shared by both clients.

The sync and async clients differ only in how they send; everything about the
API itself (paths, bodies, query parameters, problem documents) lives here, in
plain functions with no httpx in them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from agentmap.client.errors import AgentMapAPIError

#: Not a waiting call: the client's own read timeout applies.
NO_WAIT: Any = object()
NDJSON = "application/x-ndjson"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Call:
    """One request: method, path under the base URL, query and JSON body.

    ``wait`` says how long the server may hold the answer back: ``NO_WAIT``
    for an ordinary call, ``None`` for a run awaited to its end (no read
    timeout), or the run's ``timeout`` in seconds (read timeout = that plus
    the client's timeout).
    """

    method: str
    path: str
    params: dict[str, str | int | float] = field(default_factory=dict)
    json: Any = None
    wait: Any = NO_WAIT


def segment(value: str) -> str:
    """A path segment, escaped whole (a sub-run id like ``R/Node/1`` keeps its slashes as %2F)."""
    return quote(value, safe="")


def run(
    graph: str,
    state: Mapping[str, Any] | None,
    wait: bool,
    timeout: float | None,
    run_id: str | None,
) -> Call:
    body: dict[str, Any] = {"graph": graph, "state": dict(state or {}), "wait": wait}
    if timeout is not None:
        body["timeout"] = timeout
    if run_id is not None:
        body["run_id"] = run_id
    return Call("POST", "/v1/runs", json=body, wait=timeout if wait else NO_WAIT)


def resume(
    run_id: str,
    values: Mapping[str, Any] | None,
    wait: bool,
    timeout: float | None,
    force: bool,
) -> Call:
    body: dict[str, Any] = {"values": dict(values or {}), "wait": wait, "force": force}
    if timeout is not None:
        body["timeout"] = timeout
    path = f"/v1/runs/{segment(run_id)}/resume"
    return Call("POST", path, json=body, wait=timeout if wait else NO_WAIT)


def list_runs(status: str | None, graph: str | None, limit: int, offset: int) -> Call:
    params: dict[str, str | int | float] = {"limit": limit, "offset": offset}
    if status is not None:
        params["status"] = status
    if graph is not None:
        params["graph"] = graph
    return Call("GET", "/v1/runs", params=params)


def sse_headers(last_event_id: str | int | None) -> dict[str, str]:
    """An event stream's request headers; ``Last-Event-ID`` resumes after that event."""
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return headers


def batch_params(
    graph: str, id_field: str | None, concurrency: int | None
) -> dict[str, str | int | float]:
    params: dict[str, str | int | float] = {"graph": graph}
    if id_field is not None:
        params["id_field"] = id_field
    if concurrency is not None:
        params["concurrency"] = concurrency
    return params


#: Batch input: rows as mappings, or the path of a JSONL file (a ``str`` is always a path).
Rows = Iterable[Mapping[str, Any]] | str | os.PathLike[str]


def jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as one JSONL body; a row that is not a JSON object is a ``TypeError`` naming it.

    The body is built in memory (the server caps a batch at ``max_batch_bytes``,
    64 MiB by default); pass a file path to stream a file as it is.
    """
    lines = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, Mapping):
            raise TypeError(f"batch row {number} is a {type(row).__name__}, not a mapping")
        try:
            lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"batch row {number} is not JSON-serialisable: {exc}") from None
    return ("\n".join(lines) + "\n").encode() if lines else b""


def api_error(
    status: int,
    reason: str,
    content_type: str,
    body: bytes,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
) -> AgentMapAPIError:
    """The error for a 4xx/5xx answer: its problem document, or one made from a foreign body."""
    problem: dict[str, Any] | None = None
    if "json" in content_type:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            problem = decoded
            if "title" not in problem and isinstance(problem.get("detail"), str):
                problem["title"] = reason  # FastAPI's plain {"detail": ...}
    if problem is None:
        text = body.decode("utf-8", "replace").strip()
        problem = {"title": reason or f"HTTP {status}", "status": status}
        if text:
            problem["detail"] = text[:500]
    return AgentMapAPIError(status, problem, method=method, url=url, headers=headers)


def json_body(body: bytes, *, method: str, url: str) -> dict[str, Any]:
    """A success answer's JSON object; anything else is an API error naming the call."""
    try:
        decoded = json.loads(body) if body else {}
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        problem = {"title": "Unexpected response", "detail": "the body is not a JSON object"}
        raise AgentMapAPIError(200, problem, method=method, url=url)
    return decoded


def ndjson_line(line: str, *, url: str) -> dict[str, Any] | None:
    """One result line of a batch (blank lines skipped)."""
    if not line.strip():
        return None
    try:
        decoded = json.loads(line)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        problem = {"title": "Unexpected response", "detail": f"not a JSON object: {line[:200]}"}
        raise AgentMapAPIError(200, problem, method="GET", url=url)
    return decoded
