"""Runs and checkpoints in PostgreSQL: shared by every process that points at one database.

The one module that imports psycopg and psycopg_pool, lazily, when the
adapter is built (``pip install 'agentmap[postgres]'``). The tables live in
their own schema (``state.schema_name``), created with a version number on
first use; ``_pg_schema`` has the SQL and the migrations.

Event loops: a psycopg async pool belongs to the loop that opened it, and
``Application.run`` starts a new loop (``asyncio.run``) per call while the
container hands every run the same adapter. So each running loop gets its
own pool and write buffer (``_pg_binding``), closed when that loop shuts
down, after what it still had queued is written.

Cost: in ``sync`` durability a checkpoint is one statement, one round trip
(an ``INSERT ... ON CONFLICT`` in autocommit: atomic, and idempotent by
(run_id, step), so a write retried after a lost connection is never stored
twice); with more runs than connections, waiting steps share a commit.
Batches (``async``/``exit``) are one transaction sent as a pipeline, their
steps one ``INSERT ... SELECT FROM unnest``. The commit waits for the server's
WAL flush (``synchronous_commit``, the server's setting): most of a sync
step's cost. ``?options=-c%20synchronous_commit%3Doff`` in ``state.url``
trades it for losing the last moments of checkpoints if the *server* crashes
(a crash of AgentMap loses nothing either way).

A connection the server dropped (restart, ``pg_terminate_backend``) is
noticed by the write that uses it: the pool is checked and the write retried
once; if that fails too the run fails with ``StateBackendError``, never
silently. The URL's password never appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from agentmap.errors import ConfigurationError, MissingExtraError, StateBackendError
from agentmap.runtime.checkpoint import RunStart, RunSummary, StepRecord, StoredRun, Waiting
from agentmap.services.llm.loops import PerLoop
from agentmap.services.state import _json
from agentmap.services.state._pg_binding import LoopBinding
from agentmap.services.state._pg_schema import (
    SCHEMA_VERSION,
    NewerSchemaError,
    Statements,
    migrate,
    one_line,
    passwords,
    redact,
)
from agentmap.services.state._sql import (
    decode_run,
    decode_step,
    decode_summary,
    run_row,
    step_row,
    unknown_run,
)
from agentmap.services.state._writes import Durability, Op

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool
    from pydantic import SecretStr

    from agentmap.settings import StateSettings

    _Pool = AsyncConnectionPool[AsyncConnection[Any]]

__all__ = ["PostgresStateAdapter"]
T = TypeVar("T")
#: Seconds to wait for a connection (a ``connect_timeout`` in the URL wins for connecting).
_CONNECT_TIMEOUT = 5.0
_SETTING = "state.url"
_READ_ONLY = "25006"
#: The run ids this process knows exist, kept to check ``save_step`` without a query.
_MAX_KNOWN = 10_000


class PostgresStateAdapter:
    """``StateAdapterProtocol`` and ``EncodingStateAdapter`` on PostgreSQL (psycopg 3)."""

    def __init__(
        self,
        url: str | SecretStr,
        *,
        schema: str = "agentmap",
        durability: Durability = "sync",
        min_size: int = 1,
        max_size: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import psycopg
            import psycopg_pool
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise MissingExtraError("psycopg", "postgres", "state.backend=postgres") from None
        if durability not in ("sync", "async", "exit"):
            raise ValueError(f"durability must be sync, async or exit, not {durability!r}")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigurationError(
                f"state.pool_min_size ({min_size}) must be between 0 and "
                f"state.pool_max_size ({max_size}), which must be at least 1"
            )
        self._psycopg = psycopg
        self._pools = psycopg_pool
        self._conninfo = url if isinstance(url, str) else url.get_secret_value()
        self.display_url = redact(self._conninfo)
        self._secrets = passwords(self._conninfo)
        try:
            params = conninfo_to_dict(self._conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"{_SETTING} {self.display_url!r} is not a PostgreSQL URL: "
                + self._scrub(one_line(exc))
            ) from None
        self._secrets = passwords(self._conninfo, params)
        self.address = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
        self._connect_kwargs: dict[str, Any] = {"autocommit": True}
        if "application_name" not in params:  # who is who in pg_stat_activity
            self._connect_kwargs["application_name"] = f"agentmap state {schema}"[:63]
        if "connect_timeout" not in params:
            self._connect_kwargs["connect_timeout"] = int(_CONNECT_TIMEOUT)
        self.schema = schema
        self._sql = Statements.for_schema(schema)
        self.durability: Durability = durability
        self.min_size, self.max_size = min_size, max_size
        self._clock = clock
        self._loops: PerLoop[LoopBinding[_Pool]] = PerLoop(
            lambda: LoopBinding(
                durability,
                max_size,
                make_pool=self._new_pool,
                open_pool=self._open_pool,
                apply=self._apply,
            )
        )
        self._schema_ready = False
        self._store = f"the PostgreSQL state store at {self.address}, schema {schema!r}"
        # Runs started (or found) here and not finished: their steps need no existence check.
        self._known: set[str] = set()

    @classmethod
    def from_settings(cls, state: StateSettings) -> PostgresStateAdapter:
        if state.url is None:
            raise ConfigurationError(
                "state.backend is postgres but state.url is not set: set AGENTMAP_STATE__URL "
                "(or state.url in the settings file), e.g. postgresql://user:password@host:5432/db"
            )
        return cls(
            state.url,
            schema=state.schema_name,
            durability=state.durability,
            min_size=state.pool_min_size,
            max_size=state.pool_max_size,
        )

    def __repr__(self) -> str:
        return f"PostgresStateAdapter({self.display_url!r}, schema={self.schema!r})"

    # ------------------------------------------------------------------ protocol

    def encode_delta(self, node: str, delta: Mapping[str, Any]) -> str:
        return _json.encode_delta(node, delta)

    async def open(self) -> None:
        """Connect this loop's pool and create or migrate the schema: fails fast and clearly."""
        await self._binding()

    async def close(self) -> None:
        """Write what this loop queued and close its pool (other loops' close with them)."""
        await self._loops.aclose()

    async def start_run(self, run: RunStart) -> None:
        row = run_row(run, self._clock())
        if len(self._known) >= _MAX_KNOWN:
            self._known.clear()
        self._known.add(run.run_id)
        await (await self._binding()).buffer.add(("start", (run.run_id, *row)))

    async def save_step(self, run_id: str, step: StepRecord) -> None:
        if run_id not in self._known:
            await self._require(run_id)
        await (await self._binding()).buffer.add(("step", step_row(run_id, step)))

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
        message = None if error is None else _json.encode(error)
        op = ("finish", (status, message, text, self._clock(), run_id))
        await (await self._binding()).buffer.barrier(op)
        self._known.discard(run_id)

    async def reopen_run(self, run_id: str, fingerprint: Mapping[str, Any] | None = None) -> None:
        if run_id not in self._known:
            await self._require(run_id)
        text = None if fingerprint is None else _json.encode(fingerprint)
        await (await self._binding()).buffer.barrier(("reopen", (text, self._clock(), run_id)))
        self._known.add(run_id)

    async def load_run(self, run_id: str) -> StoredRun | None:
        sql = self._sql

        async def load(conn: AsyncConnection[Any]) -> tuple[Any, list[Any]]:
            async with conn.pipeline():  # both queries in one round trip
                run = await conn.execute(sql.load_run, (run_id,))
                steps = await conn.execute(sql.load_steps, (run_id,))
            return await run.fetchone(), await steps.fetchall()

        row, rows = await self._read(load, f"loading run {run_id!r}")
        if row is None:
            return None
        store = self._store
        return decode_run(_error_text(row), [decode_step(r, store) for r in rows], store)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        graph: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs, newest first; the step count and last node come from an aggregate."""
        params = {
            "status": status,
            "graph": graph,
            "limit": None if limit is None else max(0, int(limit)),
        }

        async def fetch(conn: AsyncConnection[Any]) -> list[Any]:
            return await (await conn.execute(self._sql.list_runs, params)).fetchall()

        return [decode_summary(_error_text(row)) for row in await self._read(fetch, "listing runs")]

    async def fork_run(self, run_id: str, new_run_id: str, step: int) -> None:
        if run_id == new_run_id:
            raise ValueError(f"cannot fork run {run_id!r} onto itself: give a new run id")
        sql = self._sql
        params = {"old": run_id, "new": new_run_id, "step": step, "now": self._clock()}

        async def fork(conn: AsyncConnection[Any]) -> bool:
            found = False
            async with conn.transaction():
                await conn.execute(sql.fork_delete, params)
                if (await conn.execute(sql.fork_run, params)).rowcount == 0:
                    raise self._psycopg.Rollback()  # the source is not stored: change nothing
                await conn.execute(sql.fork_steps, params)
                found = True
            return found

        if not await self._read(fork, f"forking run {run_id!r}"):
            raise unknown_run(run_id)
        self._known.add(new_run_id)

    async def prune(self, older_than: float) -> int:
        async def delete(conn: AsyncConnection[Any]) -> int:
            return (await conn.execute(self._sql.prune, (older_than,))).rowcount

        deleted = await self._read(delete, "pruning runs")
        self._known.clear()
        return deleted

    # ------------------------------------------------------------------ plumbing

    async def _binding(self) -> LoopBinding[_Pool]:
        binding = await self._loops.get()
        if not binding.opened:
            await binding.open()
        return binding

    async def _read(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], doing: str) -> T:
        """``work`` on a pool connection once what this loop queued is written."""
        binding = await self._binding()
        await binding.settled()
        return await self._on_connection(binding.pool, work, doing)

    async def _require(self, run_id: str) -> None:
        """KeyError unless ``run_id`` is stored (for a run this process did not start)."""

        async def exists(conn: AsyncConnection[Any]) -> Any:
            return await (await conn.execute(self._sql.exists, (run_id,))).fetchone()

        binding = await self._binding()
        if await self._on_connection(binding.pool, exists, f"looking up run {run_id!r}") is None:
            raise unknown_run(run_id)
        self._known.add(run_id)

    def _new_pool(
        self, configure: Callable[[AsyncConnection[Any]], Awaitable[None]]
    ) -> AsyncConnectionPool[AsyncConnection[Any]]:
        return self._pools.AsyncConnectionPool(
            self._conninfo,
            kwargs=self._connect_kwargs,
            configure=configure,
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
            timeout=_CONNECT_TIMEOUT,
            name=f"agentmap-state-{self.schema}",
        )

    async def _open_pool(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        if not self._schema_ready:
            # A direct connection first: its error says why (refused, auth, no database),
            # where the pool would only time out.
            await self._migrate()
        try:
            await pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
        except self._pools.PoolTimeout:
            await pool.close()
            await self._migrate()  # the server went away since: raises with the reason
            raise self._unreachable("the pool's connections timed out") from None

    async def _migrate(self) -> None:
        """Create or migrate the schema on a connection of its own (see ``_pg_schema``)."""
        psycopg = self._psycopg
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._connect_kwargs)
        except psycopg.Error as exc:
            raise self._unreachable(one_line(exc)) from None
        async with conn:
            try:
                await migrate(conn, self._sql)
            except NewerSchemaError as exc:
                raise StateBackendError(
                    f"{self._store} is at version {exc.version}, newer than this AgentMap's "
                    f"{SCHEMA_VERSION}: upgrade AgentMap, or set state.schema_name to another "
                    f"schema ({_SETTING} {self.display_url})"
                ) from None
            except psycopg.Error as exc:
                raise self._failure(exc, "creating the schema") from None
        self._schema_ready = True

    async def _apply(self, pool: AsyncConnectionPool[AsyncConnection[Any]], ops: list[Op]) -> None:
        """Write ``ops`` in one transaction: one statement alone, a pipeline for several."""
        statements = self._sql.batch(ops)
        if not statements:
            return

        async def write(conn: AsyncConnection[Any]) -> list[int]:
            if len(statements) == 1:
                query, params, _ = statements[0]
                return [(await conn.execute(query, params)).rowcount]
            async with conn.pipeline(), conn.transaction():
                cursors = [await conn.execute(query, params) for query, params, _ in statements]
            return [cursor.rowcount for cursor in cursors]

        try:
            counts = await self._on_connection(pool, write, "storing a checkpoint")
        except KeyError:  # a step of a run deleted behind our back (another process pruned)
            if len(ops) == 1:
                raise unknown_run(ops[0][1][0]) from None
            raise
        for (_, _, run_id), count in zip(statements, counts, strict=True):
            if run_id is not None and count == 0:  # finish or reopen of a run not stored
                self._known.discard(run_id)
                raise unknown_run(run_id)

    async def _on_connection(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        work: Callable[[AsyncConnection[Any]], Awaitable[T]],
        doing: str,
    ) -> T:
        """``work`` on a pool connection, retried once on a connection the server dropped."""
        psycopg = self._psycopg
        for attempt in (1, 2):
            conn: AsyncConnection[Any] | None = None
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except self._pools.PoolTimeout:
                raise self._unreachable(f"no connection within {_CONNECT_TIMEOUT:g} s") from None
            except psycopg.errors.ForeignKeyViolation as exc:
                detail = exc.diag.message_detail or ""  # Key (run_id)=(...) is not present ...
                self._known.clear()
                raise KeyError(
                    f"a step of an unknown run: call start_run first. {detail}"
                ) from None
            except psycopg.OperationalError as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    await pool.check()  # drops every connection the server closed
                    continue
                raise self._failure(exc, doing) from None
            except psycopg.Error as exc:
                raise self._failure(exc, doing) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, reason: str) -> StateBackendError:
        reason = self._scrub(reason).rstrip(" .")
        return StateBackendError(
            f"cannot connect to the PostgreSQL state store at {self.address}: {reason}"
            f"{'' if reason.endswith('?') else '.'} Check {_SETTING} ({self.display_url}; "
            "AGENTMAP_STATE__URL) and that the server is running"
        )

    def _failure(self, exc: Exception, doing: str) -> StateBackendError:
        """One line naming the store and the setting; the password scrubbed out."""
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate == _READ_ONLY:
            what = "is read-only"
        elif sqlstate.startswith("53"):
            what = "is full or out of resources"
        elif isinstance(exc, self._psycopg.OperationalError) and not sqlstate:
            what = "lost its connection"
        else:
            what = "failed"
        return StateBackendError(
            f"{self._store} {what} while {doing}: {self._scrub(one_line(exc))} "
            f"({_SETTING} {self.display_url}; AGENTMAP_STATE__URL)"
        )

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _error_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with its ``error`` (a JSON string, 6th in runs and summaries) decoded."""
    if row[5] is None:
        return row
    return (*row[:5], _json.decode(row[5]), *row[6:])
