"""The storage agents through the real container and runner: inputs, Context, errors, parallel writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.storage import STORAGE_AGENTS
from agentmap.services.protocols import StorageCapableAgent
from agentmap.services.storage.local import LocalStorageService
from agentmap.workflow.spec import GraphSpec
from containers import Application, create_application
from tests.unit.runtime.helpers import graph, node


@pytest.fixture
def app(tmp_path: Path) -> Any:
    with create_application("test", storage={"base_dir": tmp_path}) as application:
        yield application


def run(app: Application, g: GraphSpec, state: dict[str, Any] | None = None) -> Any:
    return app.runner(g).run(state or {})


def test_every_storage_type_is_built_in_and_declares_the_capability() -> None:
    assert set(STORAGE_AGENTS) == {
        "csv_reader",
        "csv_writer",
        "json_reader",
        "json_writer",
        "file_reader",
        "file_writer",
    }
    for name, cls in STORAGE_AGENTS.items():
        assert BUILTIN_AGENTS[name] is cls
        assert issubclass(cls, StorageCapableAgent)
        assert cls.run_inline is False  # file I/O runs in a worker thread


def test_the_factory_injects_the_storage_service_of_the_settings(
    app: Application, tmp_path: Path
) -> None:
    storage = app.container.services.storage()
    assert isinstance(storage, LocalStorageService)
    assert storage.base_dir == tmp_path.resolve()


def test_csv_to_json_with_collections_from_prompt_and_input(
    app: Application, tmp_path: Path
) -> None:
    (tmp_path / "items.csv").write_text("id,name,colour\n1,apple,red\n2,pear,green\n3,cherry,red\n")
    g = graph(
        node(
            "Read",
            "csv_reader",
            outputs="items",
            prompt="items.csv",
            context={"query": {"colour": "red"}},
            edge="Write",
        ),
        node(
            "Write",
            "json_writer",
            inputs="items:data|target:collection",
            outputs="written",
            context={"mode": "write"},
        ),
    )
    result = run(app, g, {"target": "out/red.json"})
    assert result.success, result.error
    assert json.loads((tmp_path / "out" / "red.json").read_text()) == [
        {"id": "1", "name": "apple", "colour": "red"},
        {"id": "3", "name": "cherry", "colour": "red"},
    ]
    assert result.state["written"]["count"] == 2
    assert result.state["written"]["file_path"] == str(tmp_path / "out" / "red.json")


def test_reader_inputs_document_id_format_and_query_override_context(
    app: Application, tmp_path: Path
) -> None:
    (tmp_path / "users.json").write_text(json.dumps([{"id": "a", "n": 1}, {"id": "b", "n": 2}]))
    one = graph(node("R", "json_reader", inputs="user:id", outputs="user_row", prompt="users.json"))
    assert run(app, one, {"user": "b"}).state["user_row"] == {"id": "b", "n": 2}
    many = graph(
        node("R", "json_reader", inputs="q:query|fmt:format", outputs="rows", prompt="users")
    )
    result = run(app, many, {"q": {"n": 1}, "fmt": "dict"})
    assert result.state["rows"] == {"a": {"id": "a", "n": 1}}


def test_csv_writer_takes_the_row_from_its_inputs_and_updates_by_id(
    app: Application, tmp_path: Path
) -> None:
    g = graph(node("W", "csv_writer", inputs="id|name|mode", outputs="done", prompt="people.csv"))
    run(app, g, {"id": 1, "name": "Ada"})
    run(app, g, {"id": 2, "name": "Alan"})
    run(app, g, {"id": 1, "name": "Ada L.", "mode": "update"})
    assert (tmp_path / "people.csv").read_text() == "id,name\n1,Ada L.\n2,Alan\n"


def test_file_agents_write_append_and_read_lines(app: Application, tmp_path: Path) -> None:
    w = graph(
        node(
            "W",
            "file_writer",
            inputs="line|day",
            outputs="done",
            prompt="log/{day}.txt",
            context={"mode": "append"},
        )
    )
    r = graph(
        node(
            "R",
            "file_reader",
            inputs="day",
            outputs="lines",
            prompt="log/{day}.txt",
            context={"format": "lines"},
        )
    )
    for line in ("one\n", "two\n"):
        assert run(app, w, {"line": line, "day": "mon"}).success
    assert run(app, w, {"line": "three\n", "day": "tue"}).success
    assert run(app, r, {"day": "mon"}).state["lines"] == ["one", "two"]
    assert (tmp_path / "log" / "tue.txt").read_text() == "three\n"  # {day} is the path, not data


def test_concurrent_appends_from_parallel_branches_keep_every_row(
    app: Application, tmp_path: Path
) -> None:
    writers = [f"W{i}" for i in range(1, 11)]
    g = graph(
        node("A", "echo", inputs="x", outputs="x", edge="|".join(writers)),
        *(
            node(
                w,
                "csv_writer",
                inputs="x",
                outputs=f"r{w}",
                prompt="out/all.csv",
                context={"mode": "append"},
            )
            for w in writers
        ),
    )
    for round_ in range(3):
        result = run(app, g, {"x": {"round": round_}})
        assert result.success, result.error
    rows = LocalStorageService(tmp_path).read("out/all.csv")
    assert len(rows) == 30
    assert sorted(r["round"] for r in rows) == sorted(str(i) for i in range(3) for _ in writers)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["all.csv"]  # no temp files left


@pytest.mark.parametrize(
    ("agent", "prompt", "files", "message"),
    [
        ("csv_reader", "missing.csv", {}, r"csv_reader node 'N': file not found: 'missing\.csv'"),
        ("csv_reader", "bad.csv", {"bad.csv": 'a,b\n1,2\n3,"x\n'}, r"node 'N': 'bad\.csv' line 3"),
        (
            "json_reader",
            "bad.json",
            {"bad.json": '{"a": [1,\n}'},
            r"node 'N': 'bad\.json' line 2, column 1",
        ),
        ("csv_reader", "../up.csv", {}, r"node 'N': path '\.\./up\.csv' contains '\.\.'"),
        (
            "json_writer",
            "/etc/agentmap.json",
            {},
            r"node 'N': path '/etc/agentmap\.json' resolves to",
        ),
        ("json_reader", "", {}, r"json_reader node 'N': no collection"),
    ],
)
def test_bad_input_fails_the_node_naming_it_and_the_path(
    app: Application, tmp_path: Path, agent: str, prompt: str, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    g = graph(
        node("N", agent, inputs="data", outputs="out", prompt=prompt, failure="Handle"),
        node("Handle", "echo", inputs="error", outputs="reason"),
    )
    result = run(app, g, {"data": {"a": 1}})
    assert result.path == ["N", "Handle"]
    assert result.state["errors"][0]["type"] == "StorageError"
    assert re.search(message, result.state["reason"]), result.state["reason"]


def test_wrong_encoding_names_the_byte_and_the_context_key(
    app: Application, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_bytes("ok\nna\xefve\n".encode("latin-1"))
    g = graph(
        node("N", "file_reader", outputs="text", prompt="notes.txt", failure="H"),
        node("H", "echo", inputs="error", outputs="reason"),
    )
    reason = run(app, g).state["reason"]
    assert "byte 0xef at offset 5 (line 2)" in reason
    assert "Context encoding" in reason
    latin = graph(
        node(
            "N", "file_reader", outputs="text", prompt="notes.txt", context={"encoding": "latin-1"}
        )
    )
    assert run(app, latin).state["text"] == "ok\nnaïve\n"


@pytest.mark.parametrize(
    ("agent", "context", "message"),
    [
        (
            "csv_writer",
            {"mode": "upsert"},
            r"csv_writer node 'N': Context key 'mode' must be one of 'append', 'write', 'update'",
        ),
        (
            "file_writer",
            {"mode": "update"},
            r"Context key 'mode' must be one of 'append', 'write', got 'update'",
        ),
        (
            "csv_reader",
            {"format": "dataframe"},
            r"Context key 'format' must be one of 'records', 'dict'",
        ),
        ("json_reader", {"query": "x"}, r"Context key 'query' must be a mapping"),
    ],
)
def test_bad_context_stops_the_workflow_before_any_node(
    app: Application, agent: str, context: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        app.runner(graph(node("N", agent, prompt="x", context=context)))
