"""``LocalStorageService``: CSV, JSON and text files under configured roots.

The storage agents (``csv_reader``, ``json_writer``, ...) call it from worker
threads, possibly many at once in parallel branches. Two guarantees follow:

- every write replaces the file atomically (``_files.atomic_write``), so an
  interrupted run never leaves half a file;
- a read-modify-write (``append``, ``update``) holds a lock per resolved file,
  so ten branches appending to one CSV keep all ten rows. The lock is a
  ``threading.Lock``: sync agents run in threads, and one process owns the
  files (several processes writing one file is not supported).

Paths are confined to ``roots`` (``_paths.PathPolicy``). Only the standard
library is used (csv, json): no pandas.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentmap.errors import StorageError
from agentmap.services.storage import _csv, _json
from agentmap.services.storage._files import atomic_write, decode, read_bytes
from agentmap.services.storage._paths import PathPolicy
from agentmap.services.storage._query import apply_query, as_query, select_id

if TYPE_CHECKING:
    from agentmap.settings import StorageSettings

__all__ = ["KINDS", "MODES", "LocalStorageService"]

Kind = Literal["csv", "json", "file"]
KINDS: tuple[Kind, ...] = ("csv", "json", "file")
MODES = ("append", "write", "update")
_SUFFIX = {"csv": ".csv", "json": ".json", "file": ""}
_FORMATS = {
    "csv": ("records", "dict"),
    "json": ("raw", "records", "dict"),
    "file": ("text", "lines"),
}


class LocalStorageService:
    """Reads and writes files named by collection (a path relative to ``base_dir``)."""

    def __init__(
        self, base_dir: Path | None = None, roots: Sequence[Path] = (), *, encoding: str = "utf-8"
    ) -> None:
        self.paths = PathPolicy(base_dir, roots)
        self.encoding = encoding
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> LocalStorageService:
        return cls(settings.base_dir, settings.roots)

    @property
    def base_dir(self) -> Path:
        return self.paths.base_dir

    @property
    def roots(self) -> tuple[Path, ...]:
        return self.paths.roots

    # ------------------------------------------------------------------ paths and locks

    def kind_of(self, collection: str, kind: str | None = None) -> Kind:
        if kind is None:
            suffix = Path(str(collection)).suffix.lower()
            return "csv" if suffix == ".csv" else "json" if suffix == ".json" else "file"
        if kind not in KINDS:
            raise StorageError(f"unknown storage kind {kind!r}; one of {', '.join(KINDS)}")
        return kind

    def resolve(self, collection: str, kind: str | None = None) -> Path:
        """The confined file for ``collection`` (``.csv``/``.json`` added when it has no suffix)."""
        return self.paths.resolve(collection, _SUFFIX[self.kind_of(collection, kind)])

    def lock(self, path: Path) -> threading.Lock:
        """The lock of one resolved file (created on first use)."""
        with self._locks_guard:
            found = self._locks.get(path)
            if found is None:
                found = self._locks[path] = threading.Lock()
            return found

    # ------------------------------------------------------------------ reading

    def read(
        self,
        collection: str,
        document_id: Any = None,
        *,
        kind: str | None = None,
        query: Any = None,
        format: str | None = None,
        id_field: str = "id",
        encoding: str | None = None,
        **_options: Any,
    ) -> Any:
        """A file's content: CSV rows, a JSON document, or text (see docs/storage.md)."""
        kind_ = self.kind_of(collection, kind)
        shown = str(collection).strip()
        path = self.resolve(collection, kind_)
        fmt = format or _FORMATS[kind_][0]
        if fmt not in _FORMATS[kind_]:
            allowed = ", ".join(repr(f) for f in _FORMATS[kind_])
            raise StorageError(f"{kind_} format must be one of {allowed}, got {fmt!r}", path=shown)
        text = decode(read_bytes(path, shown), encoding or self.encoding, shown)
        filters = as_query(query, shown)
        if kind_ == "file":
            if filters is not None:
                raise StorageError(
                    f"query is not supported for a text file ({shown!r})", path=shown
                )
            return text.splitlines() if fmt == "lines" else text
        records: Any
        if kind_ == "csv":
            _, records = _csv.parse_csv(text, shown)
        else:
            records = _json.parse_json(text, shown)
        if document_id is not None:
            return _one(records, document_id, id_field)
        if filters is not None:
            records = _filter(records, filters, shown)
        return _shape(records, fmt, id_field)

    # ------------------------------------------------------------------ writing

    def write(
        self,
        collection: str,
        data: Any,
        document_id: Any = None,
        *,
        kind: str | None = None,
        mode: str = "append",
        id_field: str = "id",
        encoding: str | None = None,
        **_options: Any,
    ) -> dict[str, Any]:
        """Write ``data`` by ``mode`` (append, write, update); returns what was done."""
        kind_ = self.kind_of(collection, kind)
        shown = str(collection).strip()
        mode = str(mode).lower()
        if mode not in MODES or (kind_ == "file" and mode == "update"):
            allowed = MODES[:2] if kind_ == "file" else MODES
            raise StorageError(
                f"{kind_} write mode must be one of {', '.join(allowed)}, got {mode!r}", path=shown
            )
        path = self.resolve(collection, kind_)
        enc = encoding or self.encoding
        with self.lock(path):
            existed = path.exists()
            if kind_ == "csv":
                text, count = self._csv_text(path, shown, data, document_id, mode, id_field, enc)
            elif kind_ == "json":
                text, count = self._json_text(path, shown, data, document_id, mode, id_field, enc)
            else:
                old = (
                    decode(read_bytes(path, shown), enc, shown)
                    if mode == "append" and existed
                    else ""
                )
                text, count = old + _csv.cell(data), 1
            try:
                payload = text.encode(enc)
            except UnicodeEncodeError as exc:
                raise StorageError(
                    f"cannot write {shown!r} as {enc}: {exc.object[exc.start : exc.end]!r} has no "
                    "encoding there; set the node's Context encoding (e.g. utf-8)",
                    path=shown,
                ) from None
            atomic_write(path, payload, shown)
        return {
            "success": True,
            "mode": mode,
            "collection": shown,
            "file_path": str(path),
            "count": count,
            "created_new": not existed,
        }

    def _existing(self, path: Path, shown: str, enc: str) -> str | None:
        return decode(read_bytes(path, shown), enc, shown) if path.exists() else None

    def _csv_text(
        self,
        path: Path,
        shown: str,
        data: Any,
        document_id: Any,
        mode: str,
        id_field: str,
        enc: str,
    ) -> tuple[str, int]:
        rows = _rows(data, shown)
        if document_id is not None and len(rows) == 1 and id_field not in rows[0]:
            rows[0][id_field] = document_id
        header: list[str] = []
        old: list[dict[str, Any]] = []
        if mode != "write":
            text = self._existing(path, shown, enc)
            if text is not None:
                header, parsed = _csv.parse_csv(text, shown)
                old = list(parsed)
        if mode == "update":
            for row in rows:
                key = row.get(id_field, document_id)
                if key is None:
                    raise StorageError(
                        f"update of {shown!r}: a row has no {id_field!r} (set id_field or document_id)",
                        path=shown,
                    )
                at = select_id(old, key, id_field)
                if at is None:
                    old.append({id_field: key, **row})
                else:
                    old[at] = {**old[at], **row}
            return _csv.dump_csv(old, header), len(rows)
        return _csv.dump_csv(old + rows, header), len(rows)

    def _json_text(
        self,
        path: Path,
        shown: str,
        data: Any,
        document_id: Any,
        mode: str,
        id_field: str,
        enc: str,
    ) -> tuple[str, int]:
        count = len(data) if isinstance(data, list) else 1
        if mode == "write" and document_id is None:
            return _json.dump_json(data, shown), count
        text = self._existing(path, shown, enc)
        doc = _json.parse_json(text, shown) if text is not None else None
        key = str(document_id) if document_id is not None else None
        if doc is None:
            doc = {} if key is not None else []
        if isinstance(doc, dict):
            if key is None:
                if mode == "update" and isinstance(data, Mapping):
                    doc.update(data)
                    return _json.dump_json(doc, shown), count
                raise StorageError(
                    f"{shown!r} holds a JSON object: give a document_id to {mode} a key", path=shown
                )
            current = doc.get(key)
            if mode == "update" and isinstance(current, dict) and isinstance(data, Mapping):
                doc[key] = {**current, **data}
            else:
                doc[key] = data
        elif isinstance(doc, list):
            if mode == "update":
                ident = document_id if document_id is not None else _get(data, id_field)
                at = select_id(doc, ident, id_field) if ident is not None else None
                if at is not None and isinstance(data, Mapping):
                    doc[at] = {**doc[at], **data}
                    return _json.dump_json(doc, shown), count
            if mode == "write":
                raise StorageError(
                    f"{shown!r} holds a JSON list: write it without a document_id", path=shown
                )
            doc.extend(data if isinstance(data, list) else [data])
        else:
            raise StorageError(
                f"{shown!r} holds a single JSON value: use mode 'write' to replace it", path=shown
            )
        return _json.dump_json(doc, shown), count


# --------------------------------------------------------------------------- helpers


def _get(data: Any, field: str) -> Any:
    return data.get(field) if isinstance(data, Mapping) else None


def _rows(data: Any, shown: str) -> list[dict[str, Any]]:
    if isinstance(data, Mapping):
        return [dict(data)]
    if isinstance(data, list | tuple) and all(isinstance(r, Mapping) for r in data):
        return [dict(r) for r in data]
    raise StorageError(
        f"CSV data for {shown!r} must be a dict (one row) or a list of dicts, got "
        f"{type(data).__name__}",
        path=shown,
    )


def _records(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and doc and all(isinstance(v, Mapping) for v in doc.values()):
        return list(doc.values())
    return [] if doc is None else [doc]


def _one(doc: Any, document_id: Any, id_field: str) -> Any:
    if isinstance(doc, dict):
        if str(document_id) in doc:
            return doc[str(document_id)]
        doc = _records(doc)
    if isinstance(doc, list):
        at = select_id(doc, document_id, id_field)
        return None if at is None else doc[at]
    return None


def _filter(doc: Any, query: Mapping[str, Any], shown: str) -> Any:
    if isinstance(doc, dict) and doc and all(isinstance(v, Mapping) for v in doc.values()):
        kept = {id(v) for v in apply_query(list(doc.values()), query, shown)}
        return {k: v for k, v in doc.items() if id(v) in kept}
    return apply_query(_records(doc), query, shown)


def _shape(doc: Any, fmt: str, id_field: str) -> Any:
    if fmt == "raw":
        return doc
    if fmt == "records":
        return _records(doc)
    if isinstance(doc, dict):
        return doc
    out: dict[Any, Any] = {}
    for index, record in enumerate(_records(doc)):
        key = record.get(id_field) if isinstance(record, Mapping) else None
        out[key if key not in (None, "") else index] = record
    return out
