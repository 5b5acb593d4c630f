"""The conformance suite every storage service (``StorageServiceProtocol``) must pass.

Shipped in the test kit so that another backend is held to the same contract
as ``LocalStorageService``: what the csv/json/file agents read and write, how
bad input reads (``StorageError`` naming the collection, the line, the byte
offset), which paths are refused, and that concurrent appends keep every row.
Subclass it and provide a ``storage`` fixture serving the folder ``storage_dir``
(relative collections resolve there, and it is the only root)::

    from agentmap.testing.storage_conformance import StorageConformance

    class TestLocalStorage(StorageConformance):
        @pytest.fixture
        def storage(self, storage_dir):
            return LocalStorageService(storage_dir)

The agents pass ``kind`` (``csv``, ``json``, ``file``), ``mode``, ``query``,
``format``, ``id_field`` and ``encoding`` as keyword arguments.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agentmap.errors import StorageError
from agentmap.services.protocols import StorageServiceProtocol

__all__ = ["StorageConformance"]

ITEMS = [
    {"id": "1", "name": "apple", "colour": "red"},
    {"id": "2", "name": "pear", "colour": "green"},
    {"id": "3", "name": "cherry", "colour": "red"},
]


class StorageConformance:
    """Reader/writer behaviour per format, bad input, confinement and concurrency."""

    @pytest.fixture
    def storage_dir(self, tmp_path: Path) -> Path:
        folder = tmp_path / "root"
        folder.mkdir()
        return folder

    @pytest.fixture
    def storage(self, storage_dir: Path) -> StorageServiceProtocol:
        raise NotImplementedError("provide a `storage` fixture serving storage_dir")

    # ------------------------------------------------------------------ CSV

    def test_csv_write_then_read_gives_the_rows_back_as_text(
        self, storage: StorageServiceProtocol
    ) -> None:
        storage.write(
            "items.csv", [{"id": 1, "name": "apple", "tags": ["a"], "x": None}], mode="write"
        )
        assert storage.read("items.csv") == [{"id": "1", "name": "apple", "tags": '["a"]', "x": ""}]

    def test_csv_append_creates_the_file_then_adds_rows_and_new_columns(
        self, storage: StorageServiceProtocol, storage_dir: Path
    ) -> None:
        storage.write("out/log.csv", {"id": "1", "name": "apple"}, mode="append")
        storage.write("out/log.csv", [{"id": "2", "name": "pear", "note": "ripe"}], mode="append")
        assert (storage_dir / "out" / "log.csv").read_text().splitlines()[0] == "id,name,note"
        assert storage.read("out/log.csv") == [
            {"id": "1", "name": "apple", "note": ""},
            {"id": "2", "name": "pear", "note": "ripe"},
        ]

    def test_csv_write_mode_replaces_the_file(self, storage: StorageServiceProtocol) -> None:
        storage.write("items.csv", ITEMS, mode="write")
        storage.write("items.csv", [{"id": "9", "name": "fig"}], mode="write")
        assert storage.read("items.csv") == [{"id": "9", "name": "fig"}]

    def test_csv_update_merges_by_id_and_appends_unknown_ids(
        self, storage: StorageServiceProtocol
    ) -> None:
        storage.write("items.csv", ITEMS, mode="write")
        storage.write("items.csv", {"colour": "yellow"}, "2", mode="update")
        storage.write("items.csv", {"id": "4", "name": "plum"}, mode="update")
        rows = storage.read("items.csv")
        assert rows[1] == {"id": "2", "name": "pear", "colour": "yellow"}
        assert rows[3] == {"id": "4", "name": "plum", "colour": ""}
        assert len(rows) == 4

    def test_csv_reads_one_row_by_id_a_query_and_formats(
        self, storage: StorageServiceProtocol
    ) -> None:
        storage.write("items.csv", ITEMS, mode="write")
        assert storage.read("items.csv", "3") == ITEMS[2]
        assert storage.read("items.csv", "7") is None
        assert storage.read("items.csv", query={"colour": "red"}) == [ITEMS[0], ITEMS[2]]
        assert storage.read("items.csv", query={"name": ["pear", "fig"]}) == [ITEMS[1]]
        assert storage.read("items.csv", query={"sort": "name", "order": "desc", "limit": 2}) == [
            ITEMS[1],
            ITEMS[2],
        ]
        assert storage.read("items.csv", format="dict") == {r["id"]: r for r in ITEMS}

    def test_csv_suffix_is_added_to_a_bare_name(self, storage: StorageServiceProtocol) -> None:
        storage.write("items", ITEMS, kind="csv", mode="write")
        assert storage.read("items.csv") == ITEMS

    # ------------------------------------------------------------------ JSON

    def test_json_write_then_read_keeps_types(self, storage: StorageServiceProtocol) -> None:
        doc = {"n": 1, "ok": True, "items": [1.5, None, "é"]}
        storage.write("doc.json", doc, mode="write")
        assert storage.read("doc.json") == doc

    def test_json_append_builds_a_list(self, storage: StorageServiceProtocol) -> None:
        storage.write("log.json", {"id": 1}, mode="append")
        storage.write("log.json", [{"id": 2}, {"id": 3}], mode="append")
        assert storage.read("log.json") == [{"id": 1}, {"id": 2}, {"id": 3}]

    def test_json_documents_by_id_in_an_object_and_in_a_list(
        self, storage: StorageServiceProtocol
    ) -> None:
        storage.write("users.json", {"name": "Ada"}, "u1", mode="write")
        storage.write("users.json", {"name": "Alan"}, "u2", mode="append")
        storage.write("users.json", {"age": 36}, "u1", mode="update")
        assert storage.read("users.json", "u1") == {"name": "Ada", "age": 36}
        storage.write("list.json", ITEMS, mode="write")
        storage.write("list.json", {"id": "2", "colour": "brown"}, mode="update")
        assert storage.read("list.json", "2") == {**ITEMS[1], "colour": "brown"}
        assert storage.read("list.json", query={"colour": "red"}) == [ITEMS[0], ITEMS[2]]
        assert storage.read("list.json", format="dict")["3"] == ITEMS[2]

    # ------------------------------------------------------------------ text files

    def test_file_write_append_and_lines(self, storage: StorageServiceProtocol) -> None:
        storage.write("notes.txt", "one\n", kind="file", mode="write")
        storage.write("notes.txt", "two\n", kind="file", mode="append")
        assert storage.read("notes.txt", kind="file") == "one\ntwo\n"
        assert storage.read("notes.txt", kind="file", format="lines") == ["one", "two"]
        with pytest.raises(StorageError, match="mode"):
            storage.write("notes.txt", "x", kind="file", mode="update")

    # ------------------------------------------------------------------ bad input

    def test_a_missing_file_is_named(self, storage: StorageServiceProtocol) -> None:
        with pytest.raises(StorageError, match=r"not found: 'nope\.csv'"):
            storage.read("nope.csv")

    def test_malformed_csv_names_the_line(
        self, storage: StorageServiceProtocol, storage_dir: Path
    ) -> None:
        (storage_dir / "bad.csv").write_text('id,name\n1,apple\n2,"pear\n3,fig,extra\n')
        with pytest.raises(StorageError, match=r"'bad\.csv' line \d+: .*"):
            storage.read("bad.csv")
        (storage_dir / "wide.csv").write_text("id,name\n1,apple\n2,pear,extra\n")
        with pytest.raises(StorageError, match=r"'wide\.csv' line 3: 3 cells but the header has 2"):
            storage.read("wide.csv")

    def test_malformed_json_names_line_and_column(
        self, storage: StorageServiceProtocol, storage_dir: Path
    ) -> None:
        (storage_dir / "bad.json").write_text('{\n  "a": 1,\n  "b": \n}\n')
        with pytest.raises(StorageError, match=r"'bad\.json' line 4, column 1: malformed JSON"):
            storage.read("bad.json")

    def test_wrong_encoding_names_the_byte_offset_and_line(
        self, storage: StorageServiceProtocol, storage_dir: Path
    ) -> None:
        (storage_dir / "latin.csv").write_bytes("id,name\n1,café\n".encode("latin-1"))
        with pytest.raises(StorageError, match=r"byte 0xe9 at offset 13 \(line 2\)"):
            storage.read("latin.csv")
        rows = storage.read("latin.csv", encoding="latin-1")
        assert rows == [{"id": "1", "name": "café"}]

    # ------------------------------------------------------------------ confinement

    @pytest.mark.parametrize("kind", ["csv", "json", "file"])
    def test_dotdot_is_refused(self, storage: StorageServiceProtocol, kind: str) -> None:
        with pytest.raises(StorageError, match=r"'\.\./x' contains '\.\.'"):
            storage.read("../x", kind=kind)
        with pytest.raises(StorageError, match=r"contains '\.\.'"):
            storage.write("sub/../../x", {"a": 1}, kind=kind, mode="write")

    def test_absolute_paths_outside_the_roots_are_refused(
        self, storage: StorageServiceProtocol, storage_dir: Path, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside.json"
        with pytest.raises(StorageError, match="outside the storage roots"):
            storage.write(str(outside), {"a": 1}, mode="write")
        assert not outside.exists()
        inside = storage_dir / "inside.json"
        storage.write(str(inside), {"a": 1}, mode="write")
        assert storage.read(str(inside)) == {"a": 1}

    def test_symlinks_leaving_the_roots_are_refused(
        self, storage: StorageServiceProtocol, storage_dir: Path, tmp_path: Path
    ) -> None:
        secret = tmp_path / "secret"
        secret.mkdir()
        (secret / "data.csv").write_text("id\n1\n")
        (storage_dir / "link").symlink_to(secret, target_is_directory=True)
        (storage_dir / "file.csv").symlink_to(secret / "data.csv")
        for name in ("link/data.csv", "file.csv"):
            with pytest.raises(StorageError, match=r"through a symlink.*outside the storage roots"):
                storage.read(name)
        with pytest.raises(StorageError, match="outside the storage roots"):
            storage.write("link/new.csv", {"id": "2"}, mode="append")
        assert sorted(os.listdir(secret)) == ["data.csv"]

    # ------------------------------------------------------------------ concurrency

    @pytest.mark.parametrize("collection", ["shared.csv", "shared.json"])
    def test_concurrent_appends_keep_every_row(
        self, storage: StorageServiceProtocol, collection: str
    ) -> None:
        start = threading.Barrier(16)
        failures: list[BaseException] = []

        def append(i: int) -> None:
            try:
                start.wait()
                for j in range(5):
                    storage.write(collection, {"id": f"{i}-{j}"}, mode="append")
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=append, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        rows: Any = storage.read(collection)
        assert sorted(r["id"] for r in rows) == sorted(
            f"{i}-{j}" for i in range(16) for j in range(5)
        )
