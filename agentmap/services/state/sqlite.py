"""Runs and their checkpoints in one SQLite file: the development preset's durable state.

Calls run inline on the event loop (stdlib ``sqlite3``, no thread hop): a
checkpoint is one ``INSERT`` of a few hundred bytes, tens of microseconds,
less than handing it to a worker thread would cost. The connection is shared
by every run of the process and guarded by a lock, so batch workers on other
threads may use the same adapter.

Durability. The file is in WAL mode with ``synchronous=NORMAL``: a commit is
written to the write-ahead log but not fsynced, so a killed process (SIGKILL,
an OOM kill, a crash) loses nothing that was committed, while a power loss or
an OS crash may lose the last transactions (never corrupts the file: the
previous checkpoint stays valid). Each write is one transaction, all or
nothing. *When* writes happen is ``state.durability`` (``_writes.WriteBuffer``):
``sync`` stores a step before the next node starts, ``async`` while the run
goes on, ``exit`` when it ends; ending, suspending and reopening a run are
barriers in every mode.

The file and its folder are created on first use. The schema carries a
version (``meta.schema_version``); opening an older file migrates it, a newer
one is refused rather than misread (``_sqlite_schema``). The columns and the
row decoding are shared with the postgres backend (``_sql``).

Every ``sqlite3`` error becomes a one-line ``StateBackendError`` naming
``state.path``, the file and what went wrong (read-only, disk full, locked,
not a database); a row that does not decode names its run and step.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from agentmap.errors import StateBackendError
from agentmap.runtime.checkpoint import RunStart, RunSummary, StepRecord, StoredRun, Waiting
from agentmap.services.state import _json
from agentmap.services.state import _sqlite_schema as schema
from agentmap.services.state._sql import (
    STEP_COLUMNS,
    corrupt_error,
    decode_run,
    decode_step,
    decode_summary,
    run_row,
    step_row,
    unknown_run,
)
from agentmap.services.state._writes import Durability, Op, WriteBuffer

__all__ = ["SqliteStateAdapter"]

T = TypeVar("T")

#: Seconds a write waits for another process's transaction before failing.
BUSY_TIMEOUT = 5.0

#: The run ids this process knows exist, kept to check ``save_step`` without a query.
_MAX_KNOWN = 10_000


class SqliteStateAdapter:
    """``StateAdapterProtocol`` and ``EncodingStateAdapter`` over one SQLite file."""

    #: The runner checks and encodes a node's delta as the node writes it.
    encode_delta = staticmethod(_json.encode_delta)

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability = "sync",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self._clock = clock
        self._store = f"state.path = {str(self.path.absolute())!r}"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # A write buffer per event loop: async and exit queue writes in their loop, and
        # batch workers may run loops on several threads. sync queues nothing: one will do.
        checked = WriteBuffer(durability, self._write)  # refuses an unknown durability
        self._sync = checked if durability == "sync" else None
        self._buffers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBuffer] = (
            weakref.WeakKeyDictionary()
        )
        # Runs started (or found) here and not finished: their steps need no existence check.
        self._known: set[str] = set()

    def _queue(self) -> WriteBuffer:
        """The write buffer of the running event loop."""
        if self._sync is not None:
            return self._sync
        loop = asyncio.get_running_loop()
        buffer = self._buffers.get(loop)
        if buffer is None:
            buffer = self._buffers[loop] = WriteBuffer(self.durability, self._write)
        return buffer

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Create the folder, the file and the schema; later calls cost a lock and a test."""
        with self._lock:
            self._connect()

    async def close(self) -> None:
        """Write what is queued, then close the connection; a later call opens it again."""
        try:
            await self._queue().barrier()
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    # ------------------------------------------------------------------ writes

    async def start_run(self, run: RunStart) -> None:
        row = run_row(run, self._clock())
        if len(self._known) >= _MAX_KNOWN:
            self._known.clear()
        self._known.add(run.run_id)
        await self._queue().add(("start", row))

    async def save_step(self, run_id: str, step: StepRecord) -> None:
        if run_id not in self._known:
            await self._require(run_id)
        await self._queue().add(("step", step_row(run_id, step)))

    async def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        if run_id not in self._known:
            await self._require(run_id)
        text = None if waiting is None else _json.encode(waiting.to_dict())
        await self._queue().barrier(("finish", (status, error, text, self._clock(), run_id)))
        self._known.discard(run_id)

    async def reopen_run(self, run_id: str, fingerprint: Mapping[str, Any] | None = None) -> None:
        if run_id not in self._known:
            await self._require(run_id)
        text = None if fingerprint is None else _json.encode(fingerprint)
        await self._queue().barrier(("reopen", (self._clock(), text, run_id)))
        self._known.add(run_id)

    async def fork_run(self, run_id: str, new_run_id: str, step: int) -> None:
        if run_id == new_run_id:
            raise ValueError(f"cannot fork run {run_id!r} onto itself: give a new run id")
        await self._queue().barrier()
        now = self._clock()

        def fork(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            schema.delete_run(conn, new_run_id)
            copied = conn.execute(schema.FORK_RUN, (new_run_id, now, now, step, run_id))
            if not copied.rowcount:
                conn.execute("ROLLBACK")
                return False
            conn.execute(schema.FORK_STEPS, (copied.lastrowid, run_id, step))
            conn.execute("COMMIT")
            return True

        if not self._locked(fork, "fork a run in"):
            raise unknown_run(run_id)
        self._known.add(new_run_id)

    async def prune(self, older_than: float) -> int:
        await self._queue().barrier()

        def prune(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(schema.PRUNE[0], (older_than,))
            deleted = conn.execute(schema.PRUNE[1], (older_than,)).rowcount
            conn.execute("COMMIT")
            return int(deleted)

        deleted = self._locked(prune, "prune")
        self._known.clear()
        return deleted

    async def _write(self, ops: list[Op]) -> None:
        """Apply ``ops`` in one transaction (the ``WriteBuffer``'s write)."""
        missing = self._locked(lambda conn: schema.apply_all(conn, ops), "write to")
        if missing:
            op = missing[0]
            raise unknown_run(op[1][0] if op[0] == "step" else op[1][-1])

    # ------------------------------------------------------------------ reads

    async def load_run(self, run_id: str) -> StoredRun | None:
        await self._queue().barrier()

        def read(conn: sqlite3.Connection) -> tuple[Any, list[Any]]:
            try:
                row = conn.execute(schema.RUN_SELECT, (run_id,)).fetchone()
                if row is None:
                    return None, []
                return row, conn.execute(schema.STEP_SELECT, (run_id, row[-1])).fetchall()
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc):
                    raise
                raise self._undecodable(conn, run_id) from exc

        row, rows = self._locked(read, "read from")
        if row is None:
            return None
        store = self._store
        return decode_run(row, [decode_step(r, store) for r in rows], store)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        graph: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs, newest first; the step count and last node come from an aggregate."""
        await self._queue().barrier()
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        if graph is not None:
            where.append("r.graph = ?")
            params.append(graph)
        sql = schema.SUMMARY_SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created_at DESC, r.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        rows = self._locked(lambda conn: conn.execute(sql, params).fetchall(), "read from")
        return [decode_summary(row) for row in rows]

    async def _require(self, run_id: str) -> None:
        """KeyError unless ``run_id`` is stored (a run this process did not start, or
        forgot): what this loop queued is written first, so its own runs are found."""
        await self._queue().barrier()
        sql = "SELECT 1 FROM runs WHERE run_id = ?"
        if self._locked(lambda conn: conn.execute(sql, (run_id,)).fetchone(), "read from") is None:
            raise unknown_run(run_id)
        self._known.add(run_id)

    def _undecodable(self, conn: sqlite3.Connection, run_id: str) -> StateBackendError:
        """Text that is not UTF-8 in a row of ``run_id``: find the step, to name it."""
        conn.text_factory = bytes
        try:
            row = conn.execute(schema.RUN_SELECT, (run_id,)).fetchone()
            for found in conn.execute(schema.STEP_SELECT, (run_id, row[-1])):
                for column, value in zip(STEP_COLUMNS[1:], found[1:], strict=True):
                    if isinstance(value, bytes) and not _is_utf8(value):
                        return corrupt_error(self._store, run_id, found[1], column, "not UTF-8")
        finally:
            conn.text_factory = str
        return corrupt_error(self._store, run_id, None, "row", "not UTF-8")

    # ------------------------------------------------------------------ connection

    def _locked(self, work: Callable[[sqlite3.Connection], T], doing: str) -> T:
        """``work(connection)`` under the lock; a sqlite3 error becomes ``StateBackendError``.

        A connection found closed (behind our back) is opened again and ``work``
        retried once: nothing of it ran, and every write is idempotent.
        """
        with self._lock:
            for attempt in (1, 2):
                conn = self._connect()
                try:
                    return work(conn)
                except sqlite3.ProgrammingError as exc:
                    if attempt == 1 and "closed" in str(exc):
                        self._conn = None
                        continue
                    _rollback(conn)
                    raise self._error(exc, doing) from exc
                except sqlite3.Error as exc:
                    _rollback(conn)
                    raise self._error(exc, doing) from exc
                except BaseException:
                    _rollback(conn)
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> sqlite3.Connection:
        """The connection, opened and migrated on first use (call with the lock held)."""
        if self._conn is not None:
            return self._conn
        if self.path.is_dir():
            raise StateBackendError(
                f"cannot open the sqlite state store ({self._store}): it is a folder, not a file"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateBackendError(
                f"cannot create the folder of the sqlite state store ({self._store}): "
                f"{exc.strerror or exc}"
            ) from exc
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            schema.migrate(conn, self._store)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, "open") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _error(self, exc: sqlite3.Error, doing: str) -> StateBackendError:
        """A one-line error naming the setting, the file and what went wrong."""
        text = str(exc).replace("\n", " ")
        name = getattr(exc, "sqlite_errorname", "") or ""
        lowered = text.lower()
        if "READONLY" in name or "readonly" in lowered:
            why = "the file (or its folder) is read-only"
        elif "FULL" in name or "disk is full" in lowered:
            why = "the disk is full"
        elif "CANTOPEN" in name or "unable to open" in lowered:
            why = "the file cannot be opened (does its folder exist, and may we write there?)"
        elif "NOTADB" in name or "CORRUPT" in name or "not a database" in lowered:
            why = "the file is not an SQLite database, or it is damaged"
        elif "BUSY" in name or "LOCKED" in name or "locked" in lowered:
            why = f"another process held the database locked for over {BUSY_TIMEOUT:g} s"
        else:
            why = "the database reported an error"
        return StateBackendError(
            f"cannot {doing} the sqlite state store ({self._store}): {why} ({text})"
        )


def _rollback(conn: sqlite3.Connection) -> None:
    # The failure being raised matters more; SQLite may have rolled back itself, and a
    # closed connection has nothing to roll back.
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True
