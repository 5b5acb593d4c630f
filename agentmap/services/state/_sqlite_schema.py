"""The sqlite state backend's schema, its migrations and its statements.

Kept apart from the adapter (``sqlite.py``) as the postgres backend keeps
``_pg_schema.py``: the adapter decides when to write, this module what is
written. The columns and their order are ``_sql``'s, shared with postgres;
what differs is sqlite's own: steps keyed by the run's integer ``id`` (see
``_V1``), JSON as TEXT, booleans as 0/1.

A new schema version is one more function appended to ``MIGRATIONS``, run in
the transaction that records the version, so a failed migration changes
nothing and a second process opening the file meanwhile waits for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from agentmap.errors import StateBackendError
from agentmap.services.state._sql import RUN_COLUMNS, STEP_COLUMNS
from agentmap.services.state._writes import Op

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "apply_all", "migrate"]

# Steps are keyed by the run's integer ``id``, not its id text: run ids are
# random (uuid), and a key in random order puts every step into a different
# page of a large file (65 µs per step with 3,000 runs stored, against 21 in
# key order, measured). WITHOUT ROWID: a run's steps lie together in key order,
# one b-tree written per step and one range read on resume.
_V1 = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        graph TEXT NOT NULL,
        workflow TEXT,
        fingerprint TEXT,
        status TEXT NOT NULL,
        error TEXT,
        waiting TEXT,
        initial_state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        parent_run_id TEXT,
        forked_from_step INTEGER
    )""",
    "CREATE INDEX runs_by_created ON runs (created_at)",
    "CREATE INDEX runs_by_status ON runs (status, created_at)",
    "CREATE INDEX runs_by_graph ON runs (graph, created_at)",
    "CREATE INDEX runs_by_updated ON runs (updated_at)",
    """CREATE TABLE steps (
        run_key INTEGER NOT NULL,
        step INTEGER NOT NULL,
        node TEXT NOT NULL,
        branch TEXT NOT NULL,
        visit INTEGER NOT NULL,
        delta TEXT NOT NULL,
        route TEXT NOT NULL,
        ok INTEGER NOT NULL,
        final INTEGER NOT NULL,
        started_at REAL,
        duration REAL,
        attempts INTEGER,
        usage TEXT,
        PRIMARY KEY (run_key, step)
    ) WITHOUT ROWID""",
)


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


#: ``MIGRATIONS[n]`` brings a file from schema version ``n`` to ``n + 1`` (0: empty file),
#: inside the transaction that then records the new version.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_0_to_1]
SCHEMA_VERSION = len(MIGRATIONS)

KEY = "(SELECT id FROM runs WHERE run_id = ?)"
STEP_FIELDS = ", ".join(STEP_COLUMNS[1:])  # after run_id, which steps hold as run_key
RUN_SELECT = f"SELECT {', '.join(RUN_COLUMNS)}, id FROM runs WHERE run_id = ?"
# The run id is the caller's; rows come out in STEP_COLUMNS order for ``decode_step``.
STEP_SELECT = f"SELECT ?, {STEP_FIELDS} FROM steps WHERE run_key = ? ORDER BY step"
# One statement per step. The key lookup is NULL for an unknown run, which the
# NOT NULL constraint refuses; OR REPLACE: writing a step again stores it once.
INSERT_STEP = (
    f"INSERT OR REPLACE INTO steps (run_key, {STEP_FIELDS}) "
    f"VALUES ({KEY}, {', '.join('?' * (len(STEP_COLUMNS) - 1))})"
)
INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
)
FINISH = "UPDATE runs SET status = ?, error = ?, waiting = ?, updated_at = ? WHERE run_id = ?"
REOPEN = (
    "UPDATE runs SET status = 'running', error = NULL, waiting = NULL, updated_at = ?, "
    "fingerprint = coalesce(?, fingerprint) WHERE run_id = ?"
)
SUMMARY_SELECT = (
    "SELECT r.run_id, r.graph, r.status, r.created_at, r.updated_at, r.error, r.workflow, "
    "r.parent_run_id, (SELECT count(*) FROM steps s WHERE s.run_key = r.id), "
    "(SELECT s.node FROM steps s WHERE s.run_key = r.id ORDER BY s.step DESC LIMIT 1) "
    "FROM runs r"
)
FORK_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
    "SELECT ?, graph, workflow, fingerprint, 'running', NULL, NULL, initial_state, ?, ?, "
    "run_id, ? FROM runs WHERE run_id = ?"
)
FORK_STEPS = (
    f"INSERT INTO steps (run_key, {STEP_FIELDS}) "
    f"SELECT ?, {STEP_FIELDS} FROM steps WHERE run_key = {KEY} AND step <= ?"
)
PRUNE = (
    "DELETE FROM steps WHERE run_key IN (SELECT id FROM runs WHERE updated_at < ?)",
    "DELETE FROM runs WHERE updated_at < ?",
)


def migrate(conn: sqlite3.Connection, store: str) -> None:
    """Bring the file to ``SCHEMA_VERSION``; refuse a file written by a newer AgentMap.

    ``store`` names the file in errors. A migration runs inside the transaction
    that records the new version: a failed one changes nothing.
    """
    if _version(conn, store) == SCHEMA_VERSION:
        return  # the common case: no write lock taken
    conn.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
    try:
        version = _version(conn, store)
        if version > SCHEMA_VERSION:
            raise StateBackendError(
                f"the sqlite state store ({store}) has schema version {version}, "
                f"newer than this AgentMap knows ({SCHEMA_VERSION}): upgrade agentmap, "
                "or point state.path at another file"
            )
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](conn)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection, store: str) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return 0 if row is None else int(row[0])
    except ValueError:
        raise StateBackendError(
            f"the sqlite state store ({store}) has an unreadable schema version "
            f"{row[0]!r}: it was changed outside AgentMap"
        ) from None


def apply_all(conn: sqlite3.Connection, ops: list[Op]) -> list[Op]:
    """Apply ``ops`` in one transaction; returns those whose run does not exist."""
    if len(ops) == 1:  # sync durability: one statement is its own transaction
        op = ops[0]
        if op[0] != "start":
            return [] if apply_op(conn, op) else ops
        try:
            conn.execute(INSERT_RUN, op[1])  # a new run id, the common case
            return []
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
        # Restarting a stored run: its old steps go in the same transaction.
    conn.execute("BEGIN IMMEDIATE")
    missing = [op for op in ops if not apply_op(conn, op)]
    conn.execute("COMMIT")
    return missing


def apply_op(conn: sqlite3.Connection, op: Op) -> bool:
    """Run one op; False: its run does not exist (deleted by another process meanwhile)."""
    kind, params = op[0], op[1]
    if kind == "step":
        try:
            conn.execute(INSERT_STEP, params)
        except sqlite3.IntegrityError as exc:
            # Its run is not stored (deleted by another process since): the batch's
            # other ops are still written, this one is reported.
            if "steps.run_key" not in str(exc):
                raise
            return False
        return True
    if kind == "start":
        delete_run(conn, params[0])
        conn.execute(INSERT_RUN, params)
        return True
    if kind == "finish":
        return bool(conn.execute(FINISH, params).rowcount)
    if kind == "reopen":
        return bool(conn.execute(REOPEN, params).rowcount)
    raise ValueError(f"unknown state write {kind!r}")


def delete_run(conn: sqlite3.Connection, run_id: str) -> None:
    conn.execute(f"DELETE FROM steps WHERE run_key = {KEY}", (run_id,))
    conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
