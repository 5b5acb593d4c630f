"""The results file: job identity, resuming, torn lines, foreign files, encoding, appending."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentmap.batch.errors import BatchError, OutputMismatchError
from agentmap.batch.output import JobIdentity, ResultWriter, RowSet, encode_result, resume_output

WORKFLOW = "GraphName,Node,AgentType,Output_Field\nG,A,echo,out\n"


def identity(tmp_path: Path, **changes: Any) -> JobIdentity:
    workflow = tmp_path / "flow.csv"
    if not workflow.exists():
        workflow.write_text(WORKFLOW)
    options: dict[str, Any] = {
        "workflow_file": workflow,
        "graph": "G",
        "fields": None,
        "inputs_sha256": "0" * 64,
        "mapping": {},
        "id_field": None,
    }
    options.update(changes)
    return JobIdentity.of(**options)


def line(job: JobIdentity | str, row: int, **extra: Any) -> str:
    tag = job.tag if isinstance(job, JobIdentity) else job
    return json.dumps({"row": row, "line": row + 1, "job": tag, "status": "completed", **extra})


def write_lines(path: Path, *lines: str, end: str = "\n") -> None:
    path.write_text("".join(f"{text}\n" for text in lines[:-1]) + lines[-1] + end)


# --- JobIdentity -----------------------------------------------------------------------------


def test_identity_is_stable_and_tagged_workflow_dot_inputs(tmp_path: Path) -> None:
    first, second = identity(tmp_path), identity(tmp_path)
    assert first == second
    assert first.tag == f"{first.workflow}.{first.inputs}"
    assert len(first.workflow) == len(first.inputs) == 12


def test_identity_workflow_part_changes_with_the_csv_content(tmp_path: Path) -> None:
    before = identity(tmp_path)
    (tmp_path / "flow.csv").write_text(WORKFLOW.replace("out", "answer"))
    after = identity(tmp_path)
    assert after.workflow != before.workflow
    assert after.inputs == before.inputs


@pytest.mark.parametrize(
    "change",
    [
        {"graph": "H"},
        {"fields": ["out"]},
        {"fields": ["out", "other"]},
    ],
)
def test_identity_workflow_part_changes_with_graph_and_fields(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    base, changed = identity(tmp_path), identity(tmp_path, **change)
    assert changed.workflow != base.workflow
    assert changed.inputs == base.inputs


@pytest.mark.parametrize(
    "change",
    [
        {"inputs_sha256": "1" * 64},
        {"mapping": {"question": "q"}},
        {"id_field": "key"},
    ],
)
def test_identity_inputs_part_changes_with_inputs_mapping_and_id_field(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    base, changed = identity(tmp_path), identity(tmp_path, **change)
    assert changed.inputs != base.inputs
    assert changed.workflow == base.workflow


def test_identity_ignores_the_order_of_the_mapping(tmp_path: Path) -> None:
    one = identity(tmp_path, mapping={"a": "x", "b": "y"})
    two = identity(tmp_path, mapping={"b": "y", "a": "x"})
    assert one == two


def test_identity_of_an_unreadable_workflow_is_a_batch_error(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="cannot read workflow"):
        identity(tmp_path, workflow_file=tmp_path / "gone.csv")


# --- RowSet ----------------------------------------------------------------------------------


def test_rowset_marks_rows_once_and_counts_them() -> None:
    done = RowSet()
    assert 1 not in done
    assert done.add(1) is True
    assert done.add(1) is False
    assert done.add(100_000) is True
    assert done.add(0) is False  # rows count from 1: 0 and negatives are no rows
    assert done.add(-1) is False
    assert done.count == 2
    assert 1 in done
    assert 100_000 in done
    assert 0 not in done
    assert -1 not in done
    for absent in (2, 7, 8, 99_999, 100_001, 10**9):
        assert absent not in done


def test_rowset_neighbouring_bits_are_independent() -> None:
    done = RowSet()
    for row in range(1, 64, 3):
        done.add(row)
    assert [row for row in range(64) if row in done] == list(range(1, 64, 3))
    assert done.count == len(range(1, 64, 3))


def test_rowset_holds_only_ints() -> None:
    done = RowSet()
    done.add(1)
    assert "1" not in done
    assert None not in done


# --- resume_output ---------------------------------------------------------------------------


def test_resume_from_a_missing_file_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    done = resume_output(path, identity(tmp_path))
    assert done.count == 0
    assert not path.exists()


def test_resume_skips_the_rows_the_file_holds(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    write_lines(path, line(job, 3), "", line(job, 1), line(job, 3))  # duplicate and blank line
    seen: list[dict[str, Any]] = []
    done = resume_output(path, job, seen=seen.append)
    assert done.count == 2
    assert 1 in done
    assert 3 in done
    assert 2 not in done
    assert [result["row"] for result in seen] == [3, 1]  # each row reported once


def test_torn_last_line_is_cut_off_so_that_row_runs_again(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    whole = line(job, 1) + "\n" + line(job, 2) + "\n"
    path.write_text(whole + line(job, 3)[:25])  # the crash came mid-write
    done = resume_output(path, job)
    assert 3 not in done
    assert done.count == 2
    assert path.read_text() == whole


def test_last_line_without_newline_is_torn_even_if_it_parses(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    write_lines(path, line(job, 1), line(job, 2), end="")
    done = resume_output(path, job)
    assert 2 not in done
    assert path.read_text() == line(job, 1) + "\n"


def test_a_line_of_another_workflow_is_refused(tmp_path: Path) -> None:
    job = identity(tmp_path)
    other = identity(tmp_path, graph="Other")
    path = tmp_path / "out.jsonl"
    write_lines(path, line(job, 1), line(other, 2))
    with pytest.raises(OutputMismatchError) as info:
        resume_output(path, job)
    message = str(info.value)
    assert "another workflow (" in message
    assert "another input set" not in message
    assert "line 2" in message
    assert other.tag in message
    assert job.tag in message
    assert "(the CSV, the graph or fields changed)" in message
    assert "Use force=True to start over (the old file is kept as out.jsonl.bak)" in message
    assert message.endswith("or choose another output")
    flags = info.value.spelled({"force": "--force", "output": "--output", "fields": "--fields"})
    assert flags == message.replace("force=True", "--force").replace(
        "fields changed", "--fields changed"
    ).replace("another output", "another --output")
    assert path.read_text().count("\n") == 2  # left as it was


def test_a_line_of_another_input_set_is_refused(tmp_path: Path) -> None:
    job = identity(tmp_path)
    other = identity(tmp_path, id_field="key")
    path = tmp_path / "out.jsonl"
    write_lines(path, line(other, 1))
    with pytest.raises(OutputMismatchError, match="another input set") as info:
        resume_output(path, job)
    assert "another workflow" not in str(info.value)
    assert "(the inputs file, mapping or id_field changed)" in str(info.value)
    assert "Use force=True to start over" in str(info.value)
    flags = info.value.spelled({"mapping": "--map", "id_field": "--id-field"})
    assert "(the inputs file, --map or --id-field changed)" in flags


def test_a_line_of_another_workflow_and_input_set_says_both(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    write_lines(path, line("aaaaaaaaaaaa.bbbbbbbbbbbb", 1))
    with pytest.raises(OutputMismatchError, match="another workflow and another input set"):
        resume_output(path, job)


@pytest.mark.parametrize(
    "text",
    ["hello world", '{"row": 1}', '{"job": "x"}', "[1, 2]", '"a string"', "42"],
)
def test_a_line_that_is_not_a_result_is_refused(tmp_path: Path, text: str) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    write_lines(path, line(job, 1), text, line(job, 2))
    with pytest.raises(OutputMismatchError, match=r"out\.jsonl:2 is not a result line") as info:
        resume_output(path, job)
    assert "Use force=True to start over" in str(info.value)
    assert "Use --force to start over" in info.value.spelled({"force": "--force"})


def test_mismatch_error_is_a_batch_error() -> None:
    assert issubclass(OutputMismatchError, BatchError)


@pytest.mark.parametrize("foreign", ["not json at all", "job"])
def test_force_moves_a_foreign_file_aside(tmp_path: Path, foreign: str) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    text = foreign if foreign != "job" else line(identity(tmp_path, graph="Other"), 1)
    write_lines(path, line(job, 5), text)
    original = path.read_bytes()
    done = resume_output(path, job, force=True)
    assert done.count == 0
    assert not path.exists()
    assert (tmp_path / "out.jsonl.bak").read_bytes() == original


def test_force_keeps_a_file_of_the_same_job(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    write_lines(path, line(job, 1))
    done = resume_output(path, job, force=True)
    assert 1 in done
    assert path.exists()
    assert not (tmp_path / "out.jsonl.bak").exists()


# --- encode_result ---------------------------------------------------------------------------


def test_encode_result_is_one_utf8_json_line() -> None:
    data = encode_result({"row": 1, "output": {"text": "héllo\nworld", "n": 2}})
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert "héllo".encode() in data  # not \u-escaped
    assert json.loads(data) == {"row": 1, "output": {"text": "héllo\nworld", "n": 2}}


def test_encode_result_writes_unknown_objects_as_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    assert json.loads(encode_result({"output": {"t": Thing(), "s": {1}}}))["output"] == {
        "t": "<thing>",
        "s": "{1}",
    }


def test_encode_result_replaces_a_circular_value_with_a_note() -> None:
    loop: list[Any] = []
    loop.append(loop)
    result = {"row": 4, "status": "completed", "output": {"loop": loop, "ok": [1, 2]}}
    decoded = json.loads(encode_result(result))
    assert decoded["row"] == 4
    assert decoded["status"] == "completed"
    assert decoded["output"]["ok"] == [1, 2]
    assert decoded["output"]["loop"] == "<list JSON cannot hold: [[...]]>"


def test_encode_result_replaces_a_too_deep_value_with_a_note() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(5000):
        deep = {"x": deep}
    decoded = json.loads(encode_result({"row": 1, "output": {"deep": deep, "n": 1}}))
    assert decoded["output"] == {
        "deep": "<dict JSON cannot hold: too deeply nested or circular>",
        "n": 1,
    }


def test_encode_result_survives_an_output_with_non_string_keys() -> None:
    decoded = json.loads(encode_result({"row": 1, "output": {"pairs": {(1, 2): 3}, "n": 1}}))
    assert decoded["output"]["n"] == 1
    assert "pairs" in decoded["output"]


def test_encode_result_survives_a_lone_surrogate() -> None:
    decoded = json.loads(encode_result({"row": 1, "output": {"text": "a\ud800b"}}))
    assert decoded["output"]["text"] == "a\ud800b"


# --- ResultWriter ----------------------------------------------------------------------------


def test_writer_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"row": 1}\n')
    with ResultWriter(path) as writer:
        writer.write({"row": 2})
        writer.write({"row": 3})
    with ResultWriter(path) as writer:
        writer.write({"row": 4})
    assert [json.loads(text)["row"] for text in path.read_text().splitlines()] == [1, 2, 3, 4]


def test_writer_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.jsonl"
    with ResultWriter(path) as writer:
        writer.write({"row": 1})
    assert json.loads(path.read_text()) == {"row": 1}


def test_writer_after_close_is_a_batch_error(tmp_path: Path) -> None:
    writer = ResultWriter(tmp_path / "out.jsonl")
    writer.close()
    writer.close()  # twice is fine
    with pytest.raises(BatchError, match="closed"):
        writer.write({"row": 1})


def test_writer_on_an_unwritable_path_is_a_batch_error(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(BatchError, match="cannot write output"):
        ResultWriter(tmp_path / "dir.jsonl")


def test_written_lines_resume(tmp_path: Path) -> None:
    job = identity(tmp_path)
    path = tmp_path / "out.jsonl"
    with ResultWriter(path) as writer:
        for row in (2, 5):
            writer.write({"row": row, "job": job.tag, "output": {"x": "é"}})
    done = resume_output(path, job)
    assert (done.count, 2 in done, 5 in done, 1 in done) == (2, True, True, False)
