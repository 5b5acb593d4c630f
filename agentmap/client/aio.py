"""``AsyncAgentMapClient``: the same API as ``AgentMapClient``, awaitable.

Method for method it mirrors the sync client (``agentmap.client.sync``); the
event and result streams are async iterators.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO

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

#: Bytes read from a batch file at a time (in a worker thread, off the event loop).
CHUNK = 256 * 1024


class AsyncAgentMapClient:
    """An asyncio client for one AgentMap server; see ``AgentMapClient`` for the semantics.

    ``transport`` is handed to ``httpx.AsyncClient`` (``httpx.ASGITransport(app)``
    runs the server in-process in tests). Use it as an async context manager,
    or ``await client.aclose()``.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float | None = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        options = client_options(base_url, api_key, timeout)
        options["headers"].update(headers or {})
        self._timeout = timeout
        self._http = httpx.AsyncClient(transport=transport, **options)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    # ------------------------------------------------------------------ health and graphs

    async def health(self) -> dict[str, Any]:
        return await self._call(Call("GET", "/healthz"))

    async def ready(self) -> dict[str, Any]:
        return await self._call(Call("GET", "/readyz"))

    async def graphs(self) -> list[dict[str, Any]]:
        graphs: list[dict[str, Any]] = (await self._call(Call("GET", "/v1/graphs")))["graphs"]
        return graphs

    async def graph(self, name: str) -> dict[str, Any]:
        return await self._call(Call("GET", f"/v1/graphs/{segment(name)}"))

    # ------------------------------------------------------------------ runs

    async def run(
        self,
        graph: str,
        state: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - the server waits, not this call
        run_id: str | None = None,
    ) -> dict[str, Any]:
        return await self._call(_calls.run(graph, state, wait, timeout, run_id))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return await self._call(Call("GET", f"/v1/runs/{segment(run_id)}"))

    async def list_runs(
        self,
        status: str | None = None,
        graph: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        return await self._call(_calls.list_runs(status, graph, limit, offset))

    async def resume(
        self,
        run_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - the server waits, not this call
        force: bool = False,
    ) -> dict[str, Any]:
        return await self._call(_calls.resume(run_id, values, wait, timeout, force))

    async def cancel(self, run_id: str) -> dict[str, Any]:
        return await self._call(Call("POST", f"/v1/runs/{segment(run_id)}/cancel"))

    def events(self, run_id: str, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        """``async for event in client.events(run_id)``; see ``AgentMapClient.events``."""
        path = f"/v1/runs/{segment(run_id)}/events"
        return self._sse(path, _calls.sse_headers(last_event_id))

    # ------------------------------------------------------------------ batches

    async def submit_batch(
        self,
        graph: str,
        rows: Rows,
        id_field: str | None = None,
        concurrency: int | None = None,
    ) -> dict[str, Any]:
        params = _calls.batch_params(graph, id_field, concurrency)
        headers = {"Content-Type": _calls.NDJSON}
        if not isinstance(rows, str | os.PathLike):
            body = _calls.jsonl(rows)
            return await self._send("POST", "/v1/batches", params, content=body, headers=headers)
        file = await asyncio.to_thread(open, rows, "rb")
        try:
            headers["Content-Length"] = str(os.fstat(file.fileno()).st_size)
            return await self._send(
                "POST", "/v1/batches", params, content=_chunks(file), headers=headers
            )
        finally:
            file.close()

    async def get_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._call(Call("GET", f"/v1/batches/{segment(batch_id)}"))

    def batch_events(self, batch_id: str) -> AsyncIterator[Event]:
        path = f"/v1/batches/{segment(batch_id)}/events"
        return self._sse(path, _calls.sse_headers(None))

    async def wait_batch(self, batch_id: str) -> dict[str, Any]:
        async for _ in self.batch_events(batch_id):
            pass
        return await self.get_batch(batch_id)

    async def batch_results(self, batch_id: str) -> AsyncIterator[dict[str, Any]]:
        path = f"/v1/batches/{segment(batch_id)}/results"
        url = self.base_url + path
        headers = {"Accept": _calls.NDJSON}
        with translate("GET", url):
            async with self._http.stream(
                "GET", path, headers=headers, timeout=stream_timeout(self._timeout)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for(response)
                async for line in response.aiter_lines():
                    row = _calls.ndjson_line(line, url=url)
                    if row is not None:
                        yield row

    # ------------------------------------------------------------------ plumbing

    async def aclose(self) -> None:
        await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncAgentMapClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, call: Call) -> dict[str, Any]:
        return await self._send(call.method, call.path, call.params, json=call.json, wait=call.wait)

    async def _send(
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
            response = await self._http.request(
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

    async def _sse(self, path: str, headers: dict[str, str]) -> AsyncIterator[Event]:
        url = self.base_url + path
        timeout = stream_timeout(self._timeout)
        with translate("GET", url):
            async with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for(response)
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        yield event


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    """A file's bytes for an async upload, each read in a worker thread."""
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk
