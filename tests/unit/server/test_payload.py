"""What the server refuses in a request body before a run starts (agentmap.server.payload)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentmap.server.auth import BodyTooLargeError
from agentmap.server.payload import (
    MAX_DEPTH,
    is_json,
    json_problem,
    media_type_problem,
    unreadable_body,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"title": "x", "n": 1, "f": 1.5, "ok": True, "none": None},
        {"items": [{"a": [1, 2, {"b": "ünïcødé 🚀"}]}]},
        {"big": 10**200, "neg": -0.0},
        {"nul": "a\x00b"},
        {"deep": nested(MAX_DEPTH)},
    ],
)
def test_portable_json_passes(state: dict[str, Any]) -> None:
    assert json_problem(state, "state") is None


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('{"title": NaN}', "state.title", "not a JSON number"),
        ('{"a": {"b": [1, Infinity]}}', "state.a.b[1]", "inf is not a JSON number"),
        ('{"a": [-Infinity]}', "state.a[0]", "-inf"),
        ('{"title": "\\ud800"}', "state.title", "unpaired surrogate"),
        ('{"x": [{"y": "ok"}, {"z": "\\udfff!"}]}', "state.x[1].z", "surrogate"),
        ('{"\\ud800": 1}', "state", "key"),
        ('{"odd key": NaN}', "state['odd key']", "nan"),
    ],
)
def test_what_json_loads_lets_through_is_named(text: str, field: str, words: str) -> None:
    found = json_problem(json.loads(text), "state")
    assert found is not None
    assert found[0] == field
    assert words in found[1]


def test_too_deep_is_named_by_its_top_level_field() -> None:
    found = json_problem({"ok": 1, "title": nested(MAX_DEPTH + 1)}, "values")
    assert found == ("values.title", f"the value nests more than {MAX_DEPTH} levels deep")


def test_the_walk_itself_survives_any_depth() -> None:
    """The check must not fail with RecursionError on what it is there to refuse."""
    found = json_problem({"title": nested(100_000)}, "state")
    assert found is not None
    assert found[0] == "state.title"


def test_the_first_bad_member_in_order_is_reported() -> None:
    found = json_problem({"a": [1, float("nan")], "b": float("inf")}, "state")
    assert found is not None
    assert found[0] == "state.a[1]"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("text/json", False),
        ("", False),
        (None, False),
    ],
)
def test_is_json_follows_fastapi(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


def test_media_type_problem_names_the_header_and_what_was_sent() -> None:
    body = media_type_problem("text/plain").body("/v1/runs")
    assert body["status"] == 415
    assert body["type"].endswith(":unsupported-media-type")
    assert "'text/plain'" in body["detail"]
    assert "application/json" in body["detail"]
    assert body["errors"][0]["field"] == "Content-Type"
    assert "no Content-Type" in media_type_problem(None).detail


def test_unreadable_bodies() -> None:
    too_big = unreadable_body(BodyTooLargeError(100))
    assert too_big is not None
    assert too_big.status == 413
    assert too_big.slug == "body-too-large"
    utf8 = unreadable_body(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert utf8 is not None
    assert (utf8.status, utf8.slug) == (400, "malformed-json")
    assert "UTF-8" in utf8.detail
    deep = unreadable_body(RecursionError("maximum recursion depth exceeded"))
    assert deep is not None
    assert deep.slug == "malformed-json"
    assert "nests" in deep.detail
    try:
        json.loads("9" * 5000)
    except ValueError as exc:
        digits = unreadable_body(exc)
    assert digits is not None
    assert digits.slug == "malformed-json"
    assert "4300" in digits.detail
    assert "set_int_max_str_digits" not in digits.detail
    assert unreadable_body(None) is None
    assert unreadable_body(OSError("disconnect")) is None
