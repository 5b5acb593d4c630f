"""Reading batch inputs: JSON lines and CSV, as a stream of rows with their line numbers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agentmap.batch.errors import BatchError
from agentmap.batch.inputs import InputRow, input_format, read_rows, scan_inputs


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def rows_of(path: Path, **options: object) -> list[InputRow]:
    return list(read_rows(path, **options))  # type: ignore[arg-type]


# --- formats and whole-file errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("a.csv", "csv"), ("a.CSV", "csv")],
)
def test_format_follows_the_extension_case_insensitively(name: str, fmt: str) -> None:
    assert input_format(Path(name)) == fmt


@pytest.mark.parametrize("name", ["rows.json", "rows.txt", "rows"])
def test_unknown_extension_is_a_batch_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, '{"a": 1}\n')
    with pytest.raises(BatchError, match="unknown input format") as info:
        rows_of(path)
    assert str(path) in str(info.value)
    with pytest.raises(BatchError, match="unknown input format"):
        scan_inputs(path)


def test_no_extension_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match=r"\(no extension\)"):
        input_format(tmp_path / "rows")


@pytest.mark.parametrize("name", ["missing.jsonl", "missing.csv"])
def test_missing_file_is_a_batch_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(BatchError, match="input file not found") as info:
        rows_of(path)
    assert str(path) in str(info.value)
    with pytest.raises(BatchError, match="input file not found"):
        scan_inputs(path)


def test_non_utf8_input_is_a_batch_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(BatchError, match="not UTF-8"):
        scan_inputs(path)
    with pytest.raises(BatchError, match=r"rows\.jsonl:\d+ is not UTF-8"):
        rows_of(path)


def test_non_utf8_error_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(BatchError, match=r"rows\.jsonl:2 is not UTF-8"):
        rows_of(path)


# --- JSON lines ------------------------------------------------------------------------------


def test_jsonl_rows_are_numbered_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"a": 1}\n\n   \n{"a": 2, "b": [1]}\n\n{"a": 3}')
    rows = rows_of(path)
    assert [(r.row, r.line) for r in rows] == [(1, 1), (2, 4), (3, 6)]
    assert [r.state for r in rows] == [{"a": 1}, {"a": 2, "b": [1]}, {"a": 3}]
    assert all(r.error is None and r.id is None for r in rows)


def test_jsonl_crlf_lines_are_read(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"a": 1}\r\n\r\n{"a": 2}\r\n')
    assert [(r.row, r.line, r.state) for r in rows_of(path)] == [
        (1, 1, {"a": 1}),
        (2, 3, {"a": 2}),
    ]


def test_jsonl_line_that_is_not_json_is_an_error_row(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"a": 1}\n\nnot json\n{"a": 3}\n')
    rows = rows_of(path)
    assert [r.row for r in rows] == [1, 2, 3]
    bad = rows[1]
    assert bad.state is None
    assert bad.line == 3
    assert bad.error is not None
    assert bad.error.startswith("line 3: not valid JSON")
    assert rows[2].state == {"a": 3}


@pytest.mark.parametrize(("value", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("7", "int")])
def test_jsonl_line_that_is_not_an_object_is_an_error_row(
    tmp_path: Path, value: str, kind: str
) -> None:
    path = write(tmp_path / "in.jsonl", f'{{"a": 1}}\n{value}\n')
    bad = rows_of(path)[1]
    assert (bad.row, bad.line, bad.state) == (2, 2, None)
    assert bad.error == f"line 2: expected a JSON object, got {kind}"


def test_jsonl_map_renames_columns_and_keeps_the_others(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"q": "hi", "lang": "en", "n": 1}\n')
    (row,) = rows_of(path, mapping={"question": "q", "language": "lang"})
    assert row.state == {"n": 1, "question": "hi", "language": "en"}


def test_jsonl_row_without_the_mapped_column_is_an_error_row(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"q": "hi"}\n{"other": 1}\n{"q": "yo"}\n')
    rows = rows_of(path, mapping={"question": "q"})
    assert rows[0].state == {"question": "hi"}
    assert rows[1].state is None
    assert rows[1].error == "line 2: the row has no column 'q'"
    assert rows[2].state == {"question": "yo"}


def test_jsonl_id_field_is_kept_and_stays_in_the_state(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"key": "A-1", "x": 1}\n{"x": 2}\n')
    rows = rows_of(path, id_field="key")
    assert rows[0].id == "A-1"
    assert rows[0].state == {"key": "A-1", "x": 1}
    assert rows[1].state is None
    assert rows[1].error == "line 2: the row has no column 'key'"


def test_jsonl_missing_columns_are_all_named_once(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"x": 1}\n')
    (row,) = rows_of(path, mapping={"a": "col", "b": "col"}, id_field="key")
    assert row.error == "line 1: the row has no column 'col', 'key'"


# --- CSV -------------------------------------------------------------------------------------


def test_csv_rows_are_numbered_from_the_line_after_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "name,age\nann,31\n\nbob,42\n")
    rows = rows_of(path)
    assert [(r.row, r.line, r.state) for r in rows] == [
        (1, 2, {"name": "ann", "age": "31"}),
        (2, 4, {"name": "bob", "age": "42"}),
    ]


def test_csv_header_cells_are_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", " name , age\nann,31\n")
    assert rows_of(path)[0].state == {"name": "ann", "age": "31"}


def test_csv_record_spanning_lines_gets_its_start_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.csv",
        'text,n\n"one\ntwo\nthree",1\nplain,2\n\n"a\nb",3\nlast,4\n',
    )
    rows = rows_of(path)
    assert [(r.row, r.line) for r in rows] == [(1, 2), (2, 5), (3, 7), (4, 9)]
    assert rows[0].state == {"text": "one\ntwo\nthree", "n": "1"}
    assert rows[2].state == {"text": "a\nb", "n": "3"}


def test_csv_wrong_cell_count_is_an_error_row_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "a,b\n1,2\n1\n1,2,3\n4,5\n")
    rows = rows_of(path)
    assert [r.row for r in rows] == [1, 2, 3, 4]
    assert rows[1].state is None
    assert rows[1].error == "line 3: 1 cells where the header has 2"
    assert (rows[2].line, rows[2].error) == (4, "line 4: 3 cells where the header has 2")
    assert rows[3].state == {"a": "4", "b": "5"}


def test_csv_cells_longer_than_the_csv_modules_default_limit_are_read(tmp_path: Path) -> None:
    huge = "x" * 140_000  # over csv's default field size limit (131072): LLM documents are long
    path = write(tmp_path / "in.csv", f'a,b\n1,2\n"{huge}",3\n4,5\n')
    rows = rows_of(path)
    assert [r.row for r in rows] == [1, 2, 3]
    assert rows[1].state == {"a": huge, "b": "3"}
    assert (rows[2].line, rows[2].state) == (4, {"a": "4", "b": "5"})
    assert scan_inputs(path).rows == 3


def test_csv_map_renames_a_column(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "q,lang\nhi,en\n")
    (row,) = rows_of(path, mapping={"question": "q"})
    assert row.state == {"lang": "en", "question": "hi"}


def test_csv_mapped_column_missing_from_the_header_is_a_batch_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "q,lang\nhi,en\n")
    with pytest.raises(BatchError) as info:
        rows_of(path, mapping={"question": "query"})
    message = str(info.value)
    assert str(path) in message
    assert "'query'" in message
    assert "q, lang" in message  # the columns it does have


def test_csv_id_field_missing_from_the_header_is_a_batch_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "q\nhi\n")
    with pytest.raises(BatchError, match="no column 'key'"):
        rows_of(path, id_field="key")


def test_csv_id_field(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "key,q\nk1,hi\nk2,yo\n")
    assert [(r.id, r.state) for r in rows_of(path, id_field="key")] == [
        ("k1", {"key": "k1", "q": "hi"}),
        ("k2", {"key": "k2", "q": "yo"}),
    ]


def test_empty_csv_has_no_rows(tmp_path: Path) -> None:
    assert rows_of(write(tmp_path / "in.csv", "")) == []
    assert rows_of(write(tmp_path / "head.csv", "a,b\n")) == []
    assert scan_inputs(tmp_path / "in.csv").rows == 0
    assert scan_inputs(tmp_path / "head.csv").rows == 0


def test_csv_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "\nname,age\nann,31\n")
    rows = rows_of(path)
    assert [(r.row, r.line, r.state) for r in rows] == [(1, 3, {"name": "ann", "age": "31"})]


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffq,lang\nhi,en\n".encode())
    (row,) = rows_of(path, id_field="q")
    assert row.state == {"q": "hi", "lang": "en"}


def test_jsonl_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes('\ufeff{"a": 1}\n'.encode())
    assert rows_of(path)[0].state == {"a": 1}


# --- scan ------------------------------------------------------------------------------------


def test_scan_counts_jsonl_rows_and_hashes_the_bytes(tmp_path: Path) -> None:
    data = b'{"a": 1}\n\nnot json\n{"a": 3}\n'
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    scan = scan_inputs(path)
    assert scan.rows == 3
    assert scan.sha256 == hashlib.sha256(data).hexdigest()


def test_scan_counts_csv_records_without_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'a,b\n1,2\n\n"x\ny",3\n4\n')
    assert scan_inputs(path).rows == 3
    assert scan_inputs(path).rows == len(rows_of(path))


def test_scan_hash_changes_with_any_byte(tmp_path: Path) -> None:
    first = scan_inputs(write(tmp_path / "a.jsonl", '{"a": 1}\n'))
    second = scan_inputs(write(tmp_path / "b.jsonl", '{"a": 2}\n'))
    assert first.rows == second.rows == 1
    assert first.sha256 != second.sha256


def test_scan_count_matches_the_rows_read_after_a_rejected_record(tmp_path: Path) -> None:
    huge = "x" * 140_000
    path = write(tmp_path / "in.csv", f'a,b\n1,2\n"{huge}",3\n4,5\n')
    assert scan_inputs(path).rows == len(rows_of(path)) == 3
