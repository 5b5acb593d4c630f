"""RFC 9457 problem details: the one error shape of the HTTP API.

Every error the server returns is ``application/problem+json`` with a stable
``type`` (``urn:agentmap:problem:<slug>``) a client can switch on, a
``detail`` sentence a person can act on, and, for a bad request body, an
``errors`` list naming each field. No stack trace and no secret is ever put in
one: an unexpected exception becomes an ``internal`` problem whose detail
points at the server log, where the traceback is.

This module imports no web framework, so the run manager and the catalog can
raise ``ProblemError`` without depending on FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROBLEM_TYPE", "FieldError", "ProblemError", "problem_body"]

PROBLEM_TYPE = "urn:agentmap:problem:"
_RESERVED = frozenset(("type", "title", "status", "detail", "instance", "errors"))
_TITLES = {
    "unknown-graph": "Unknown graph",
    "run-not-found": "Run not found",
    "batch-not-found": "Batch not found",
    "invalid-request": "Invalid request",
    "malformed-json": "Malformed JSON",
    "bad-request": "Bad request",
    "missing-inputs": "Missing inputs",
    "body-too-large": "Request body too large",
    "unauthorized": "Unauthorized",
    "rate-limited": "Too many requests",
    "too-many-runs": "Too many runs in flight",
    "not-resumable": "Run cannot be resumed",
    "run-exists": "Run already exists",
    "not-running": "Run is not running",
    "shutting-down": "Server is shutting down",
    "not-ready": "Not ready",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unsupported-media-type": "Unsupported media type",
    "internal": "Internal server error",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of a request: ``state.topic``, ``timeout``, ``values.approved``."""

    field: str
    message: str


@dataclass(slots=True)
class ProblemError(Exception):
    """An error the API answers with a problem body (raised anywhere in the server)."""

    status: int
    slug: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    #: Extra members of the problem object (``run_id``, ``retry_after``...).
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.slug, self.detail, instance, self.errors, self.extra)


def problem_body(
    status: int,
    slug: str,
    detail: str,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + slug,
        "title": _TITLES.get(slug, slug.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if extra:
        # The RFC 9457 members keep their meaning: "status" is the HTTP status a
        # client switches on, never a run's status an extra tried to add.
        body.update((k, v) for k, v in extra.items() if k not in _RESERVED)
    return body
