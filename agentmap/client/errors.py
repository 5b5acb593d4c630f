"""The errors ``agentmap.client`` raises.

They carry no httpx type, so a caller can catch them without importing httpx,
and a server's problem document (RFC 9457) is kept whole in ``problem``: the
server decides what it says, the client only makes its fields easy to reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AgentMapError(Exception):
    """Base class of every error this client raises."""


class AgentMapAPIError(AgentMapError):
    """The server answered with an error status (4xx/5xx).

    ``problem`` is the ``application/problem+json`` body as sent; a body that
    is not a problem document (a proxy's HTML page, say) becomes one with the
    status's reason as ``title`` and the start of the text as ``detail``.
    """

    def __init__(
        self,
        status: int,
        problem: Mapping[str, Any],
        *,
        method: str = "",
        url: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        self.title = str(problem.get("title") or f"HTTP {status}")
        detail = problem.get("detail")
        self.detail: str | None = None if detail is None else str(detail)
        self.type: str | None = problem.get("type")
        self.instance: str | None = problem.get("instance")
        raw_errors = problem.get("errors")
        self.errors: list[dict[str, Any]] = (
            [dict(e) for e in raw_errors if isinstance(e, Mapping)]
            if isinstance(raw_errors, list)
            else []
        )
        self.method = method
        self.url = url
        #: Response headers (``Retry-After`` on a 429, ``WWW-Authenticate`` on a 401).
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self._message())

    @property
    def slug(self) -> str | None:
        """The problem type's last part (``unknown-graph``), or None for a non-problem body."""
        if self.type and self.type.startswith("urn:agentmap:problem:"):
            return self.type.rsplit(":", 1)[1]
        return None

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, from a ``Retry-After`` header in seconds."""
        value = self.headers.get("retry-after")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def _message(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        text = f"{self.status} {self.title}{where}"
        if self.detail:
            text += f": {self.detail}"
        for error in self.errors:
            text += f"\n  {error.get('field', '?')}: {error.get('message', '')}"
        return text


class AgentMapConnectionError(AgentMapError):
    """The server could not be reached, or the connection broke mid-request."""


class AgentMapTimeoutError(AgentMapConnectionError):
    """A connect, read or write took longer than the client's ``timeout``."""
