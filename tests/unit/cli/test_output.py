"""Printing results that JSON cannot hold as they are."""

from __future__ import annotations

import json
from typing import Any

from agentmap.cli.output import to_json


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    for _ in range(depth):
        value = {"x": value}
    return value


def test_too_deep_values_are_replaced_by_a_note_and_the_rest_is_kept() -> None:
    printed = json.loads(to_json({"state": {"deep": nested(5000), "ok": [1, 2]}, "status": "x"}))
    assert printed["status"] == "x"
    assert printed["state"]["ok"] == [1, 2]
    assert printed["state"]["deep"] == {"x": "<dict too deeply nested or circular to print>"}


def test_circular_values_are_replaced_by_a_note() -> None:
    loop: list[Any] = []
    loop.append(loop)
    printed = json.loads(to_json({"state": {"loop": loop, "n": 1}}))
    assert printed == {"state": {"loop": "<list too deeply nested or circular to print>", "n": 1}}
