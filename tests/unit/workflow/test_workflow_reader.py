"""Malformed files: every one is a WorkflowError naming the file (and line), never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from agentmap.errors import WorkflowError
from agentmap.workflow import load_workflow
from agentmap.workflow.reader import read_table


def error_of(path: Path) -> str:
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert len(caught.value.diagnostics) == 1
    return str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert error_of(path) == f"{path}: workflow file not found"


def test_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a CSV file"


@pytest.mark.parametrize("text", ["", "\n\n  \n", "\r\n"])
def test_empty_file(write_csv: Callable[..., Path], text: str) -> None:
    path = write_csv(text)
    assert error_of(path) == f"{path}: the file is empty; expected a header row such as Node,Edge"


@pytest.mark.parametrize("text", ["# nothing yet\n\n", " , ,\n,\n"])
def test_only_comments_or_blank_rows(write_csv: Callable[..., Path], text: str) -> None:
    path = write_csv(text)
    assert error_of(path) == (
        f"{path}: the file has only blank lines and comments; expected a header row"
    )


@pytest.mark.parametrize("text", ["Node,Edge\n", "Node,Edge", "\nNode,Edge\n\n# later\n,\n"])
def test_header_only(write_csv: Callable[..., Path], text: str) -> None:
    path = write_csv(text)
    line = text.splitlines().index("Node,Edge") + 1
    assert error_of(path) == f"{path}:{line}: the file has a header but no node rows"


def test_nul_bytes_name_the_line(write_csv: Callable[..., Path]) -> None:
    path = write_csv(b"Node,Edge\nA,B\nB\x00\x01\x02,\n")
    assert error_of(path) == f"{path}:3: binary data (a NUL byte): this is not a CSV text file"


def test_binary_garbage(write_csv: Callable[..., Path]) -> None:
    path = write_csv(bytes(range(256)) * 4)
    assert "binary data (a NUL byte)" in error_of(path)


def test_undecodable_bytes_name_the_line(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Prompt\nA,hi\nB,caf\xe9\n".encode("latin-1"))
    assert error_of(path) == (
        f"{path}:3: byte 0xe9 is not valid UTF-8; save the file as UTF-8 (CSV UTF-8)"
    )


def test_utf16_is_named(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge\nA,\n".encode("utf-16"))
    assert error_of(path) == f"{path}: the file is UTF-16 encoded; save it as UTF-8 (CSV UTF-8)"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_with_or_without_bom(write_csv: Callable[..., Path], bom: bytes) -> None:
    path = write_csv(bom + "Node,Prompt\nCafé,Grüß {name} ☕\n".encode())
    workflow = load_workflow(path)
    node = workflow.graphs["flow"].node("Café")
    assert node.prompt == "Grüß {name} ☕"


def test_unclosed_quote_names_the_line_where_it_opened(write_csv: Callable[..., Path]) -> None:
    path = write_csv('Node,Prompt,Edge\nA,hello,B\nB,"unfinished,C\nC,done,\nD,x,\n')
    assert error_of(path) == (
        f"{path}:3: unclosed quote: the quoted cell opened on line 3 never ends (it runs to the "
        'end of the file); close it with " and write a quote inside a cell as ""'
    )


def test_unclosed_quote_after_a_closed_multiline_cell(write_csv: Callable[..., Path]) -> None:
    path = write_csv('Node,Prompt,Description\nA,"one\ntwo","three\nfour\n')
    assert "the quoted cell opened on line 3 never ends" in error_of(path)


def test_text_after_a_closing_quote(write_csv: Callable[..., Path]) -> None:
    path = write_csv('Node,Prompt\nA,hi\nB,"say "hi" now"\n')
    assert error_of(path) == (
        f"{path}:3: bad quoting: text after the closing quote of a cell; write a quote inside a "
        'cell as ""'
    )


def test_a_quote_left_open_that_closes_later_points_at_the_record_start(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv('Node,Prompt\nA,"oops\nB,"fine"\n')
    assert error_of(path) == (
        f"{path}:3: bad quoting: text after the closing quote of a cell; write a quote inside a "
        'cell as "" (this record started on line 2: is a quote left open there?)'
    )


def test_more_cells_than_the_header(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Prompt,Edge\nA,Hello, world,B\nB,,\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    first, second = str(caught.value).splitlines()
    assert first == (
        f"{path}:2, graph 'flow', node 'A': the row has 4 cells but the header has 3 columns; "
        "quote cells that contain commas"
    )
    # The shifted cells are still checked, which shows what went wrong.
    assert second == (
        f"{path}:2, graph 'flow', node 'A', column 'Edge': target 'world' is not a node of "
        "this graph"
    )


def test_trailing_empty_cells_and_short_rows_are_fine(write_csv: Callable[..., Path]) -> None:
    path = write_csv("Node,Edge,Prompt\nA,B,,,,\nB\n")
    graph = load_workflow(path).graphs["flow"]
    assert graph.node("A").edge == ("B",)
    assert graph.node("B").prompt == ""


def test_line_numbers_survive_multiline_cells_blank_rows_and_comments(
    write_csv: Callable[..., Path],
) -> None:
    text = (
        "# header comment\n"  # 1
        "Node,Prompt,Edge\n"  # 2
        'A,"line one\n'  # 3
        "line two\n"  # 4
        'line three",B\n'  # 5
        "\n"  # 6
        "# B is next\n"  # 7
        ",,\n"  # 8 (blank: all cells empty)
        'B,"x\r\ny",C\n'  # 9-10
        "C,,\n"  # 11
    )
    table = read_table(write_csv(text))
    assert table.header.line == 2
    assert [(r.line, r.cells[0]) for r in table.rows] == [(3, "A"), (9, "B"), (11, "C")]
    graph = load_workflow(write_csv(text)).graphs["flow"]
    assert [n.line for n in graph.nodes.values()] == [3, 9, 11]
    assert graph.node("A").prompt == "line one\nline two\nline three"


def test_crlf_and_lone_cr_line_endings(write_csv: Callable[..., Path]) -> None:
    graph = load_workflow(write_csv("Node,Edge\r\nA,B\r\nB,C\rC,\r\n")).graphs["flow"]
    assert [(n.name, n.line) for n in graph.nodes.values()] == [("A", 2), ("B", 3), ("C", 4)]


def test_cells_are_stripped_and_quoted_cells_may_follow_a_space(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv('Node, Prompt, Edge\n  A , "Hello, {name}" ,  B\nB, ,\n')
    # A space after the closing quote is still text after it: rejected, not guessed at.
    assert "bad quoting" in error_of(path)
    path = write_csv('Node, Prompt, Edge\n  A , "Hello, {name}",  B\nB, ,\n')
    node = load_workflow(path).graphs["flow"].node("A")
    assert (node.prompt, node.edge) == ("Hello, {name}", ("B",))


def test_a_node_name_spanning_lines_hints_at_an_open_quote(
    write_csv: Callable[..., Path],
) -> None:
    path = write_csv('Node,Edge\n"A,B\nB",\n')
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2, graph 'flow', node 'A,B\\nB', column 'Node': the node name spans several "
        "lines; is a quote left open above?",
        f"{path}:2, graph 'flow', column 'GraphName': the graph has no nodes",
    ]


def test_unreadable_file(write_csv: Callable[..., Path], mocker: MockerFixture) -> None:
    path = write_csv("Node\nA\n")
    # A patch, not chmod 000: the tests may run as root, who can read any file.
    mocker.patch.object(Path, "read_bytes", side_effect=PermissionError(13, "Permission denied"))
    assert error_of(path) == f"{path}: cannot read the file: Permission denied"
