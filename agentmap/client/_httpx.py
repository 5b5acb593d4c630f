"""The one module that imports httpx (the ``client`` extra), and what both clients do with it.

A missing httpx is an ImportError that says which extra to install, raised
when ``agentmap.client`` is imported (only code that wants a client does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "agentmap.client needs httpx: pip install 'agentmap[client]' "
        "(or 'agentmap[server]', which includes it)"
    ) from exc

from agentmap import __version__
from agentmap.client import _calls
from agentmap.client.errors import AgentMapConnectionError, AgentMapTimeoutError

__all__ = [
    "client_options",
    "httpx",
    "raise_for",
    "request_timeout",
    "stream_timeout",
    "translate",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def client_options(base_url: str, api_key: str | None, timeout: float | None) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` / ``AsyncClient`` (the rest is the caller's)."""
    headers = {"User-Agent": f"agentmap-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return {
        "base_url": base_url.rstrip("/"),
        "headers": headers,
        "timeout": httpx.Timeout(timeout),
    }


def request_timeout(wait: Any, timeout: float | None) -> httpx.Timeout:
    """The timeout of one call: the client's, with the read stretched for a waiting run.

    A run awaited with no server-side limit may take as long as it takes (no
    read timeout); with one, the server answers 202 at ``wait`` seconds, so the
    read may last that long plus the client's own margin.
    """
    if wait is _calls.NO_WAIT:
        return httpx.Timeout(timeout)
    if wait is None or timeout is None:
        return httpx.Timeout(timeout, read=None)
    return httpx.Timeout(timeout, read=float(wait) + timeout)


def stream_timeout(timeout: float | None) -> httpx.Timeout:
    """An event stream may be quiet for long: no read timeout, the others as configured."""
    return httpx.Timeout(timeout, read=None)


@contextmanager
def translate(method: str, url: str) -> Iterator[None]:
    """httpx's transport errors as this package's, naming the call."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise AgentMapTimeoutError(
            f"{method} {url} timed out: {exc or type(exc).__name__}"
        ) from exc
    except httpx.TransportError as exc:
        raise AgentMapConnectionError(
            f"{method} {url} failed: {exc or type(exc).__name__}"
        ) from exc


def raise_for(response: httpx.Response) -> None:
    """Raise ``AgentMapAPIError`` for a 4xx/5xx answer whose body has been read."""
    if response.status_code < 400:
        return
    raise _calls.api_error(
        response.status_code,
        response.reason_phrase,
        response.headers.get("content-type", ""),
        response.content,
        method=response.request.method,
        url=str(response.request.url),
        headers=dict(response.headers),
    )
