"""The problem+json shape (RFC 9457) every error of the API has."""

from __future__ import annotations

import json

import pytest

from agentmap.server.problems import (
    _TITLES,
    PROBLEM_TYPE,
    FieldError,
    ProblemError,
    problem_body,
)

#: The slugs docs/serving.md and /work/notes/server-api.md promise, with their status.
SPEC_SLUGS = {
    "unknown-graph": 404,
    "run-not-found": 404,
    "batch-not-found": 404,
    "invalid-request": 422,
    "malformed-json": 400,
    "missing-inputs": 422,
    "body-too-large": 413,
    "unauthorized": 401,
    "rate-limited": 429,
    "too-many-runs": 429,
    "not-resumable": 409,
    "run-exists": 409,
    "not-running": 409,
    "shutting-down": 503,
    "not-ready": 503,
    "internal": 500,
    "not-found": 404,
    "method-not-allowed": 405,
    "unsupported-media-type": 415,
}


def test_minimal_problem_has_the_rfc_members() -> None:
    body = problem_body(404, "run-not-found", "no run r1 in this server's store")
    assert body == {
        "type": "urn:agentmap:problem:run-not-found",
        "title": "Run not found",
        "status": 404,
        "detail": "no run r1 in this server's store",
    }


@pytest.mark.parametrize(("slug", "status"), sorted(SPEC_SLUGS.items()))
def test_every_spec_slug_has_a_written_title(slug: str, status: int) -> None:
    body = problem_body(status, slug, "d")
    assert body["type"] == PROBLEM_TYPE + slug
    # A written title ("Malformed JSON"), not the fallback made from an unknown slug.
    assert slug in _TITLES
    assert body["title"] == _TITLES[slug]


def test_unknown_slug_still_gets_a_title() -> None:
    assert problem_body(418, "teapot-mode", "d")["title"] == "Teapot mode"


def test_instance_and_errors_only_when_given() -> None:
    body = problem_body(
        422,
        "invalid-request",
        "state: Input should be a valid dictionary",
        "/v1/runs",
        [FieldError("state", "Input should be a valid dictionary")],
    )
    assert body["instance"] == "/v1/runs"
    assert body["errors"] == [{"field": "state", "message": "Input should be a valid dictionary"}]
    assert "errors" not in problem_body(422, "invalid-request", "d", errors=[])
    assert "instance" not in problem_body(422, "invalid-request", "d")


def test_extra_members_are_added_but_never_replace_the_rfc_ones() -> None:
    """A run's status in an extra once replaced the HTTP status of a 409."""
    body = problem_body(
        409,
        "not-running",
        "run r1 is completed",
        "/v1/runs/r1/cancel",
        extra={"run_id": "r1", "status": "completed", "type": "x", "detail": "y", "title": "z"},
    )
    assert body["status"] == 409
    assert body["type"] == PROBLEM_TYPE + "not-running"
    assert body["detail"] == "run r1 is completed"
    assert body["title"] == "Run is not running"
    assert body["run_id"] == "r1"


def test_problem_error_is_an_exception_with_its_detail() -> None:
    problem = ProblemError(
        429,
        "too-many-runs",
        "2 runs in flight",
        headers={"Retry-After": "1"},
        extra={"retry_after": 1},
    )
    assert isinstance(problem, Exception)
    assert str(problem) == "2 runs in flight"
    body = problem.body("/v1/runs")
    assert body["status"] == 429
    assert body["instance"] == "/v1/runs"
    assert body["retry_after"] == 1
    assert "Retry-After" not in json.dumps(body)  # headers go in the response, not the body


def test_problem_body_is_plain_json() -> None:
    problem = ProblemError(422, "missing-inputs", "d", [FieldError("state.topic", "required")])
    assert json.loads(json.dumps(problem.body("/v1/runs"))) == problem.body("/v1/runs")
