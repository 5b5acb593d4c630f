"""``AgentMapClient``: the HTTP API of ``agentmap serve`` as blocking method calls."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from agentmap.client import _calls
from agentmap.client._calls import Call, Rows, segment
from agentmap.client._httpx import (
    DEFAULT_BASE_URL,
    client_options,
    httpx,
    raise_for,
    request_timeout,
    stream_timeout,
    translate,
)
from agentmap.client.sse import Event, SSEDecoder


class AgentMapClient:
    """A client for one AgentMap server (``agentmap serve``).

    Every method returns the server's JSON as a ``dict``; an error answer
    raises ``AgentMapAPIError`` (``.status``, ``.title``, ``.detail``,
    ``.errors``), an unreachable server ``AgentMapConnectionError``.
    ``timeout`` bounds each connect/read/write in seconds (None: no limit);
    a run awaited to its end is not cut by it. ``transport`` is handed to
    ``httpx.Client`` (a mock transport in tests, say). Use it as a context
    manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float | None = 30.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        options = client_options(base_url, api_key, timeout)
        options["headers"].update(headers or {})
        self._timeout = timeout
        self._http = httpx.Client(transport=transport, **options)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    # ------------------------------------------------------------------ health and graphs

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the process is up."""
        return self._call(Call("GET", "/healthz"))

    def ready(self) -> dict[str, Any]:
        """``GET /readyz``: the state backend and cache answer (503 raises ``AgentMapAPIError``)."""
        return self._call(Call("GET", "/readyz"))

    def graphs(self) -> list[dict[str, Any]]:
        """The graphs the server loaded: name, file, entry, node count, description."""
        graphs: list[dict[str, Any]] = self._call(Call("GET", "/v1/graphs"))["graphs"]
        return graphs

    def graph(self, name: str) -> dict[str, Any]:
        """One graph: nodes, edges, inputs, required inputs, outputs and its Mermaid text."""
        return self._call(Call("GET", f"/v1/graphs/{segment(name)}"))

    # ------------------------------------------------------------------ runs

    def run(
        self,
        graph: str,
        state: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Start a run of ``graph``.

        With ``wait`` the answer is the finished run (``status`` completed,
        failed or suspended) unless ``timeout`` seconds pass first; then, or
        without ``wait``, it is ``{"run_id", "status": "running", "graph"}``.
        """
        return self._call(_calls.run(graph, state, wait, timeout, run_id))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run's status, state and steps (inputs, outputs and error of each)."""
        return self._call(Call("GET", f"/v1/runs/{segment(run_id)}"))

    def list_runs(
        self,
        status: str | None = None,
        graph: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of stored runs, newest first: ``{"runs": [...], "next": url | None}``."""
        return self._call(_calls.list_runs(status, graph, limit, offset))

    def resume(
        self,
        run_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Continue a suspended run with ``values``, or a failed/interrupted one; like ``run``."""
        return self._call(_calls.resume(run_id, values, wait, timeout, force))

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a running run (409 ``not-running`` when it already ended)."""
        return self._call(Call("POST", f"/v1/runs/{segment(run_id)}/cancel"))

    def events(self, run_id: str, last_event_id: str | int | None = None) -> Iterator[Event]:
        """A run's events as they happen (all of them for a finished run), until it ends.

        ``last_event_id`` resumes after that event. The request is sent when
        iteration starts; leaving the loop early closes the stream.
        """
        path = f"/v1/runs/{segment(run_id)}/events"
        return self._sse(path, _calls.sse_headers(last_event_id))

    # ------------------------------------------------------------------ batches

    def submit_batch(
        self,
        graph: str,
        rows: Rows,
        id_field: str | None = None,
        concurrency: int | None = None,
    ) -> dict[str, Any]:
        """Start a batch: ``rows`` as dicts, or the path of a JSONL file (streamed as is).

        Returns ``{"batch_id", "graph", "status": "running"}``.
        """
        params = _calls.batch_params(graph, id_field, concurrency)
        headers = {"Content-Type": _calls.NDJSON}
        if not isinstance(rows, str | os.PathLike):
            body = _calls.jsonl(rows)
            return self._send("POST", "/v1/batches", params, content=body, headers=headers)
        with open(rows, "rb") as file:
            headers["Content-Length"] = str(os.fstat(file.fileno()).st_size)
            return self._send("POST", "/v1/batches", params, content=file, headers=headers)

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        """A batch's progress: status, total, done, succeeded, failed."""
        return self._call(Call("GET", f"/v1/batches/{segment(batch_id)}"))

    def batch_events(self, batch_id: str) -> Iterator[Event]:
        """A batch's ``progress`` events, then ``finished``."""
        path = f"/v1/batches/{segment(batch_id)}/events"
        return self._sse(path, _calls.sse_headers(None))

    def wait_batch(self, batch_id: str) -> dict[str, Any]:
        """Follow a batch's events to its end, then return its final progress."""
        for _ in self.batch_events(batch_id):
            pass
        return self.get_batch(batch_id)

    def batch_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """The batch's result lines, one dict per row, read as they stream in."""
        path = f"/v1/batches/{segment(batch_id)}/results"
        url = self.base_url + path
        headers = {"Accept": _calls.NDJSON}
        with (
            translate("GET", url),
            self._http.stream(
                "GET", path, headers=headers, timeout=stream_timeout(self._timeout)
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            for line in response.iter_lines():
                row = _calls.ndjson_line(line, url=url)
                if row is not None:
                    yield row

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AgentMapClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, call: Call) -> dict[str, Any]:
        return self._send(call.method, call.path, call.params, json=call.json, wait=call.wait)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str | int | float],
        *,
        json: Any = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
        wait: Any = _calls.NO_WAIT,
    ) -> dict[str, Any]:
        url = self.base_url + path
        with translate(method, url):
            response = self._http.request(
                method,
                path,
                params=params or None,
                json=json,
                content=content,
                headers=headers,
                timeout=request_timeout(wait, self._timeout),
            )
        raise_for(response)
        return _calls.json_body(response.content, method=method, url=url)

    def _sse(self, path: str, headers: dict[str, str]) -> Iterator[Event]:
        url = self.base_url + path
        timeout = stream_timeout(self._timeout)
        with (
            translate("GET", url),
            self._http.stream("GET", path, headers=headers, timeout=timeout) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            decoder = SSEDecoder()
            for line in response.iter_lines():
                event = decoder.feed(line)
                if event is not None:
                    yield event
