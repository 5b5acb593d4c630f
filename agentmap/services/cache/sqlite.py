"""A cache in one SQLite file: survives restarts, shared by runs on one machine.

The connection opens on first use (building the service costs nothing and
creates no file until something is cached). Calls run inline on the event
loop: with WAL and ``synchronous=NORMAL`` a read or write is a few tens of
microseconds, less than a hop to a worker thread, and far less than the LLM
call being cached.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentmap.services.cache._codec import decode, encode

__all__ = ["SqliteCache"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)"
)


class SqliteCache:
    def __init__(
        self,
        path: Path,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Wall-clock time by default: expiry must mean the same after a restart.
        self.path = Path(path)
        self.default_ttl = default_ttl
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.execute("DELETE FROM cache WHERE expires_at <= ?", (self._clock(),))
            self._conn = conn
        return self._conn

    async def get(self, key: str) -> Any | None:
        with self._lock:
            conn = self._connection()
            row = conn.execute(
                "SELECT value, expires_at FROM cache WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            if row[1] is not None and self._clock() >= row[1]:
                conn.execute("DELETE FROM cache WHERE key = ?", (key,))
                return None
        return decode(row[0])

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``; ``<= 0``: expired)."""
        text = encode(key, value)
        ttl = self.default_ttl if ttl is None else ttl
        expires_at = None if ttl is None else self._clock() + ttl
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO cache (key, value, expires_at) VALUES (?, ?, ?)",
                (key, text, expires_at),
            )

    async def delete(self, key: str) -> None:
        with self._lock:
            self._connection().execute("DELETE FROM cache WHERE key = ?", (key,))

    async def clear(self) -> None:
        with self._lock:
            self._connection().execute("DELETE FROM cache")

    async def close(self) -> None:
        """Close the connection; a later call opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
