"""The batch upload check: lines split across chunks, numbering, and its problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmap.server.problems import ProblemError
from agentmap.server.uploads import JsonlReceiver

BODY = b'\xef\xbb\xbf{"name": "a", "id": 1}\r\n\n{"name": "\xc3\xa9t\xc3\xa9", "id": 2}\n  \n{"name": "c", "id": 3}'


@pytest.mark.parametrize("size", [1, 2, 7, 64, len(BODY)])
def test_any_chunking_keeps_the_bytes_and_counts_the_rows(tmp_path: Path, size: int) -> None:
    receiver = JsonlReceiver(tmp_path / "in.jsonl", ["name", "id"])
    for start in range(0, len(BODY), size):
        receiver.feed(BODY[start : start + size])
    assert receiver.finish() == 3
    assert (tmp_path / "in.jsonl").read_bytes() == BODY


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_bad_lines_are_named_by_their_line_whatever_the_chunks(tmp_path: Path, size: int) -> None:
    body = b'{"name": "a"}\n\n[1]\n{"name": \n{"nom": "d"}\n"\xff"\n'
    receiver = JsonlReceiver(tmp_path / "in.jsonl", ["name"], graph="G")
    for start in range(0, len(body), size):
        receiver.feed(body[start : start + size])
    with pytest.raises(ProblemError) as caught:
        receiver.finish()
    problem = caught.value
    assert (problem.status, problem.slug) == (422, "invalid-request")
    assert [(e.field, e.message.split(":")[0]) for e in problem.errors] == [
        ("line 3", "expected a JSON object, got an array"),
        ("line 4", "not valid JSON"),
        ("line 5.name", "missing; the row needs it"),
        ("line 6", "not UTF-8 text"),
    ]
    assert problem.detail.startswith("every line must be a JSON object; line 3: ")
    assert "(and 3 more)" in problem.detail


def test_only_missing_fields_make_a_missing_inputs_problem(tmp_path: Path) -> None:
    receiver = JsonlReceiver(tmp_path / "in.jsonl", ["topic"], graph="Blog")
    receiver.feed(b'{"topic": "x"}\n{"title": "y"}\n')
    with pytest.raises(ProblemError) as caught:
        receiver.finish()
    assert caught.value.slug == "missing-inputs"
    assert caught.value.detail == (
        "rows of graph 'Blog' must hold its inputs; line 2.topic: missing; the row needs it"
    )


def test_the_check_stops_at_twenty_problems_while_the_upload_goes_on(tmp_path: Path) -> None:
    receiver = JsonlReceiver(tmp_path / "in.jsonl")
    receiver.feed(b"1\n" * 19)
    with pytest.raises(ProblemError) as caught:
        receiver.feed(b"2\n3\n")
    assert len(caught.value.errors) == 20
    assert "(and 19+ more)" in caught.value.detail


@pytest.mark.parametrize(("body", "words"), [(b"", "holds no rows"), (b"\n \r\n", "only blank")])
def test_an_upload_without_rows_is_refused(tmp_path: Path, body: bytes, words: str) -> None:
    receiver = JsonlReceiver(tmp_path / "in.jsonl")
    receiver.feed(body)
    with pytest.raises(ProblemError, match=words) as caught:
        receiver.finish()
    assert caught.value.errors[0].field == "body"
