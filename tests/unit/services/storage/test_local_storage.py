"""LocalStorageService specifics: settings, atomic replacement, file modes, roots."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agentmap.errors import AgentMapError, StorageError
from agentmap.services.storage import _files
from agentmap.services.storage.local import LocalStorageService
from agentmap.settings import StorageSettings


def test_from_settings_uses_base_dir_and_roots(tmp_path: Path) -> None:
    other = tmp_path / "shared"
    service = LocalStorageService.from_settings(
        StorageSettings(base_dir=tmp_path / "work", roots=[tmp_path / "work", other])
    )
    assert service.base_dir == (tmp_path / "work").resolve()
    assert service.roots == ((tmp_path / "work").resolve(), other.resolve())
    service.write(str(other / "a.json"), {"a": 1}, mode="write")  # a second root is allowed
    assert service.read(str(other / "a.json")) == {"a": 1}


def test_no_base_dir_means_a_private_temporary_folder() -> None:
    service = LocalStorageService.from_settings(StorageSettings(base_dir=None))
    assert service.base_dir.is_dir()
    assert service.base_dir.name.startswith("agentmap-storage-")
    service.write("x.csv", {"id": "1"}, mode="write")
    assert (service.base_dir / "x.csv").is_file()


def test_storage_error_is_a_user_error() -> None:
    assert issubclass(StorageError, AgentMapError)
    assert StorageError("m", path="p").path == "p"


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_an_interrupted_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Any
) -> None:
    service = LocalStorageService(tmp_path)
    service.write("items.csv", [{"id": "1", "name": "apple"}], mode="write")
    before = (tmp_path / "items.csv").read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of what it is given, then fails, as a killed process or full disk would."""

        def __init__(self, fd: int, mode: str) -> None:
            self.file = real_fdopen(fd, mode)

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            raise failure

    monkeypatch.setattr(_files.os, "fdopen", HalfWriter)
    expected = KeyboardInterrupt if failure is KeyboardInterrupt else StorageError
    with pytest.raises(expected):
        service.write(
            "items.csv", [{"id": str(i), "name": "x" * 50} for i in range(100)], mode="append"
        )
    assert (tmp_path / "items.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv"]


def test_a_failed_rename_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = LocalStorageService(tmp_path)
    service.write("doc.json", {"v": 1}, mode="write")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_files.os, "replace", refuse)
    with pytest.raises(StorageError, match=r"cannot write 'doc\.json' .*Permission denied"):
        service.write("doc.json", {"v": 2}, mode="write")
    assert service.read("doc.json") == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    service = LocalStorageService(tmp_path)
    target = tmp_path / "notes.txt"
    target.write_text("a")
    target.chmod(0o640)
    service.write("notes.txt", "b", kind="file", mode="append")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "ab"
    service.write("new.txt", "c", kind="file", mode="write")
    # As open() would make it, not mkstemp's 0600.
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o666 & ~_files._umask()


def test_a_symlink_inside_the_roots_is_followed(tmp_path: Path) -> None:
    service = LocalStorageService(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "current").symlink_to(tmp_path / "data", target_is_directory=True)
    service.write("current/a.csv", {"id": "1"}, mode="write")
    assert (tmp_path / "data" / "a.csv").read_text() == "id\n1\n"


def test_text_that_the_encoding_cannot_hold_is_named(tmp_path: Path) -> None:
    service = LocalStorageService(tmp_path)
    with pytest.raises(StorageError, match=r"cannot write 'a\.txt' as ascii: 'é'"):
        service.write("a.txt", "café", kind="file", mode="write", encoding="ascii")
    assert not (tmp_path / "a.txt").exists()


def test_bad_modes_formats_and_data_are_named(tmp_path: Path) -> None:
    service = LocalStorageService(tmp_path)
    with pytest.raises(StorageError, match="csv write mode must be one of append, write, update"):
        service.write("a.csv", {"id": 1}, mode="upsert")
    with pytest.raises(StorageError, match=r"must be a dict .* or a list of dicts, got int"):
        service.write("a.csv", 3, mode="write")
    service.write("a.json", {"k": 1}, mode="write")
    with pytest.raises(StorageError, match="holds a JSON object: give a document_id"):
        service.write("a.json", [1], mode="append")
    with pytest.raises(StorageError, match="format must be one of 'raw', 'records', 'dict'"):
        service.read("a.json", format="dataframe")
    with pytest.raises(StorageError, match=r"query for 'a\.json' must be a dict"):
        service.read("a.json", query=[1])
