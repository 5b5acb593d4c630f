"""The postgres state backend against the real server on 127.0.0.1:5432 (database ``test``).

The shared behaviour is the shipped conformance suite, run in sync, async and
exit durability; below it what only this backend does: its schema and
migrations, a server it cannot reach, connections the server drops, a
read-only server, a corrupt row, a pool shared by 200 runs, one pool per
event loop. Every test works in its own schema (a random name), dropped
afterwards, so tests running at once against one server do not collide. A
second, plain psycopg connection looks at the tables the way another process
would. Without a server the tests skip (a failure under
AGENTMAP_REQUIRE_SERVICES=1, i.e. in CI).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentmap.errors import ConfigurationError, MissingExtraError, StateBackendError
from agentmap.runtime.checkpoint import RunStart, StepRecord, StoredRun
from agentmap.services.protocols import EncodingStateAdapter, StateAdapterProtocol
from agentmap.testing.state_conformance import ManualClock, StateAdapterConformance
from tests.conftest import require_service

HOST, PORT = "127.0.0.1", 5432
URL = f"postgresql://postgres@{HOST}:{PORT}/test"
READ_ONLY = "?options=-c%20default_transaction_read_only%3Don"
services = pytest.mark.services


def _psycopg() -> Any:
    require_service("PostgreSQL", HOST, PORT)
    return pytest.importorskip("psycopg", reason="psycopg is not installed (agentmap[postgres])")


def _adapter(schema: str, url: str = URL, **options: Any) -> Any:
    from agentmap.services.state.postgres import PostgresStateAdapter

    return PostgresStateAdapter(url, schema=schema, **options)


def _sql(sql: str, params: tuple[Any, ...] = (), url: str = URL) -> list[Any]:
    """Rows as another process sees them (its own connection, closed after)."""
    psycopg = _psycopg()
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.encode(), params)
        return cursor.fetchall() if cursor.description else []


def _terminate(schema: str) -> int:
    """End every server session of the adapters on ``schema``; how many there were."""
    rows = _sql(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (f"agentmap state {schema}",),
    )
    return len(rows)


def _sessions(schema: str) -> int:
    return int(
        _sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (f"agentmap state {schema}",),
        )[0][0]
    )


def _step(number: int, node: str | None = None, **delta: Any) -> StepRecord:
    return StepRecord(step=number, node=node or f"N{number}", delta=delta or {"n": number})


async def _store_run(adapter: Any, run_id: str, steps: int = 2) -> None:
    await adapter.start_run(RunStart(run_id, "G", {"run": run_id}))
    for n in range(1, steps + 1):
        await adapter.save_step(run_id, _step(n, n=n))
    await adapter.finish_run(run_id, "completed")


async def _opened(adapter: Any, work: Any) -> Any:
    await adapter.open()
    try:
        return await work
    finally:
        await adapter.close()


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    assert "state.url" in text, text
    return text


@pytest.fixture
def schema() -> Iterator[str]:
    _psycopg()
    name = f"agentmap_test_{uuid.uuid4().hex[:12]}"
    yield name
    _sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def role(schema: str) -> Iterator[str]:
    """A login role of its own (not a superuser: limits and privileges apply to it)."""
    name = f"agentmap_test_{uuid.uuid4().hex[:8]}"
    _sql(f'CREATE ROLE "{name}" LOGIN')
    yield name
    _sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    _sql(f'DROP OWNED BY "{name}"')
    _sql(f'DROP ROLE "{name}"')


# ---------------------------------------------------------------------- conformance


@services
class TestPostgresStateAdapter(StateAdapterConformance):
    durability = "sync"

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def adapter(self, clock: ManualClock, schema: str) -> Any:
        return _adapter(schema, durability=self.durability, clock=clock)

    async def break_connection(self, adapter: Any) -> None:
        assert await asyncio.to_thread(_terminate, adapter.schema) >= 1


@services
class TestPostgresStateAdapterAsync(TestPostgresStateAdapter):
    durability = "async"


@services
class TestPostgresStateAdapterExit(TestPostgresStateAdapter):
    durability = "exit"


# ---------------------------------------------------------------------- settings, extra


def test_a_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmap.services.state.postgres import PostgresStateAdapter

    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    with pytest.raises(MissingExtraError, match=r"agentmap\[postgres\]") as caught:
        PostgresStateAdapter(URL)
    assert "state.backend=postgres" in str(caught.value)


def test_from_settings_needs_a_url_and_passes_the_rest() -> None:
    pytest.importorskip("psycopg")
    from agentmap.services.state.postgres import PostgresStateAdapter
    from agentmap.settings import StateSettings

    with pytest.raises(ConfigurationError, match=r"state\.url") as caught:
        PostgresStateAdapter.from_settings(StateSettings(backend="postgres"))
    assert "AGENTMAP_STATE__URL" in str(caught.value)
    adapter = PostgresStateAdapter.from_settings(
        StateSettings(
            backend="postgres",
            url="postgresql://me:hunter2@db.example:6543/runs",
            schema_name="flows",
            durability="async",
            pool_min_size=0,
            pool_max_size=3,
        )
    )
    assert isinstance(adapter, StateAdapterProtocol)
    assert isinstance(adapter, EncodingStateAdapter)
    assert (adapter.schema, adapter.durability, adapter.min_size, adapter.max_size) == (
        "flows",
        "async",
        0,
        3,
    )
    assert adapter.address == "db.example:6543"
    assert "hunter2" not in repr(adapter)
    assert adapter.display_url == "postgresql://me:***@db.example:6543/runs"


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db", "p@ss"),
        ("postgresql://u@h/db?password=p%40ss&sslmode=off", "postgresql://u@h/db?password=***&sslmode=off", "p@ss"),
        ("host=h user=u password='p@ss word' dbname=db", "host=h user=u password=*** dbname=db", "p@ss word"),
        ("postgresql://h/db", "postgresql://h/db", None),
    ],
)  # fmt: skip
def test_the_shown_url_has_no_password(url: str, shown: str, password: str | None) -> None:
    pytest.importorskip("psycopg")
    adapter = _adapter("agentmap", url)
    assert adapter.display_url == shown
    if password is not None:  # nor has any message that quotes it
        assert adapter._scrub(f"auth failed for {password}!") == "auth failed for ***!"


def test_a_url_that_does_not_parse_is_a_configuration_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    for url in ("host=h password=sekret port", "postgresql://u:sekret@h/db?bogus=1"):
        with pytest.raises(ConfigurationError, match=r"state\.url") as caught:
            _adapter("agentmap", url)
        assert "sekret" not in str(caught.value)


def test_a_bad_schema_name_or_pool_size_is_refused() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(ValueError, match="schema_name"):
        _adapter('x"; DROP TABLE runs; --')
    with pytest.raises(ConfigurationError, match="pool_min_size"):
        _adapter("agentmap", min_size=5, max_size=2)


# ---------------------------------------------------------------------- schema


@services
def test_open_creates_the_schema_at_its_version(schema: str) -> None:
    from agentmap.services.state._pg_schema import SCHEMA_VERSION

    asyncio.run(_opened(_adapter(schema), asyncio.sleep(0)))
    tables = _sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        (schema,),
    )
    assert [t for (t,) in tables] == ["runs", "schema_version", "steps"]
    assert _sql(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]
    types = dict(
        _sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'steps'",
            (schema,),
        )
    )
    assert types["delta"] == "json"  # kept verbatim: not jsonb, which rewrites numbers
    # Opening again (another process) finds it ready: nothing migrated twice.
    asyncio.run(_opened(_adapter(schema), asyncio.sleep(0)))
    assert _sql(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]


@services
def test_processes_opening_a_new_schema_at_once_create_it_once(schema: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            asyncio.run(_opened(_adapter(schema, min_size=0), asyncio.sleep(0)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _sql(f'SELECT count(*) FROM "{schema}".schema_version') == [(1,)]


@services
def test_a_schema_from_a_newer_agentmap_is_refused(schema: str) -> None:
    asyncio.run(_opened(_adapter(schema), _store_run(_adapter(schema), "r1")))
    _sql(f'INSERT INTO "{schema}".schema_version (version) VALUES (99)')
    with pytest.raises(StateBackendError, match="version 99") as caught:
        asyncio.run(_adapter(schema).open())
    text = _one_line(caught.value)
    assert schema in text
    assert _sql(f'SELECT count(*) FROM "{schema}".steps') == [(2,)]  # untouched


@services
def test_an_older_schema_is_migrated_and_keeps_its_runs(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmap.services.state import _pg_schema, postgres

    async def store() -> None:
        adapter = _adapter(schema)
        await _opened(adapter, _store_run(adapter, "old"))

    asyncio.run(store())
    migration = (2, ("ALTER TABLE {s}.runs ADD COLUMN note text DEFAULT 'v2'",))
    monkeypatch.setattr(_pg_schema, "MIGRATIONS", (*_pg_schema.MIGRATIONS, migration))
    monkeypatch.setattr(_pg_schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", 2)

    async def reopen() -> StoredRun:
        adapter = _adapter(schema)
        run: StoredRun = await _opened(adapter, adapter.load_run("old"))
        return run

    run = asyncio.run(reopen())
    assert (run.status, run.path, run.state) == ("completed", ["N1", "N2"], {"run": "old", "n": 2})
    assert _sql(f'SELECT version FROM "{schema}".schema_version ORDER BY 1') == [(1,), (2,)]
    assert _sql(f'SELECT note FROM "{schema}".runs') == [("v2",)]


# ---------------------------------------------------------------------- errors


@services
def test_an_unreachable_server_fails_open_naming_the_setting_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _psycopg()
    caplog.set_level(logging.DEBUG)
    adapter = _adapter("agentmap", "postgresql://agentmap:s3cr%40t-pw@127.0.0.1:1/test")
    started = time.monotonic()
    with pytest.raises(StateBackendError) as caught:
        asyncio.run(adapter.open())
    assert time.monotonic() - started < 10
    text = _one_line(caught.value)
    assert "127.0.0.1:1" in text
    assert "postgresql://agentmap:***@127.0.0.1:1/test" in text
    assert "s3cr" not in text
    assert "s3cr" not in caplog.text
    assert caught.value.exit_code == 1


@services
def test_a_read_only_server_is_read_but_not_written(schema: str) -> None:
    async def store() -> None:
        adapter = _adapter(schema)
        await _opened(adapter, _store_run(adapter, "r1"))

    asyncio.run(store())

    async def read_only() -> tuple[StoredRun, BaseException]:
        adapter = _adapter(schema, URL + READ_ONLY)
        await adapter.open()  # the schema is there: nothing to create
        try:
            run = await adapter.load_run("r1")
            with pytest.raises(StateBackendError) as caught:
                await adapter.start_run(RunStart("r2", "G", {}))
            return run, caught.value
        finally:
            await adapter.close()

    run, error = asyncio.run(read_only())
    assert run.path == ["N1", "N2"]
    assert "read-only" in _one_line(error)
    assert _sql(f'SELECT run_id FROM "{schema}".runs') == [("r1",)]
    # A read-only server without the schema: open says so, at once.
    with pytest.raises(StateBackendError, match="read-only") as caught:
        asyncio.run(_adapter(schema + "_new", URL + READ_ONLY).open())
    _one_line(caught.value)


@services
def test_a_corrupt_row_names_the_run_and_step(schema: str) -> None:
    async def store() -> None:
        adapter = _adapter(schema)
        await _opened(adapter, _store_run(adapter, "r1", steps=3))
        await _opened(adapter, _store_run(adapter, "fine"))

    asyncio.run(store())
    _sql(f"""UPDATE "{schema}".steps SET delta = '[1, 2]' WHERE run_id = 'r1' AND step = 2""")

    async def load(run_id: str) -> Any:
        adapter = _adapter(schema)
        return await _opened(adapter, adapter.load_run(run_id))

    with pytest.raises(StateBackendError, match=r"run 'r1' step 2 is corrupt") as caught:
        asyncio.run(load("r1"))
    assert schema in str(caught.value)
    assert asyncio.run(load("fine")).path == ["N1", "N2"]  # other runs stay readable


@services
def test_a_step_of_a_run_pruned_by_another_process_is_a_key_error(schema: str) -> None:
    async def scenario() -> None:
        adapter = _adapter(schema)
        await adapter.open()
        try:
            await adapter.start_run(RunStart("r1", "G", {}))
            await asyncio.to_thread(_sql, f'DELETE FROM "{schema}".runs')
            with pytest.raises(KeyError, match="r1"):
                await adapter.save_step("r1", _step(1))
        finally:
            await adapter.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------------- connections


@services
@pytest.mark.parametrize("durability", ["sync", "async"])
def test_connections_the_server_dropped_are_replaced_and_nothing_is_lost(
    schema: str, durability: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every pooled connection dies at once (a server restart): the next write checks
    the pool, reconnects and stores; no step goes missing."""

    async def scenario() -> StoredRun:
        adapter = _adapter(schema, durability=durability, min_size=4, max_size=4)
        await adapter.open()
        try:
            await adapter.start_run(RunStart("r1", "G", {"n": 0}))
            for n in (1, 2):
                await adapter.save_step("r1", _step(n, n=n))
            await adapter.load_run("r1")
            assert await asyncio.to_thread(_terminate, schema) >= 4
            for n in (3, 4):
                await adapter.save_step("r1", _step(n, n=n))
            await adapter.finish_run("r1", "completed")
            assert await asyncio.to_thread(_terminate, schema) >= 4
            run: StoredRun = await adapter.load_run("r1")  # reads reconnect too
            return run
        finally:
            await adapter.close()

    run = asyncio.run(scenario())
    assert (run.status, run.path, run.state) == ("completed", ["N1", "N2", "N3", "N4"], {"n": 4})


@services
def test_a_server_that_stays_away_fails_the_write_clearly(schema: str, role: str) -> None:
    """The connections die and no new one is allowed: the write raises, one line, and the
    steps stored before are all there."""
    _sql(f'GRANT CREATE ON DATABASE test TO "{role}"')
    url = f"postgresql://{role}:pw-{role}@{HOST}:{PORT}/test"

    async def scenario() -> BaseException:
        adapter = _adapter(schema, url, min_size=2, max_size=2)
        await adapter.open()
        try:
            await adapter.start_run(RunStart("r1", "G", {}))
            await adapter.save_step("r1", _step(1))
            await asyncio.to_thread(_sql, f'ALTER ROLE "{role}" CONNECTION LIMIT 0')
            await asyncio.to_thread(_terminate, schema)
            with pytest.raises(StateBackendError) as caught:
                await adapter.save_step("r1", _step(2))
            return caught.value
        finally:
            await adapter.close()

    text = _one_line(asyncio.run(scenario()))
    assert f"{HOST}:{PORT}" in text
    assert f"pw-{role}" not in text
    assert _sql(f'SELECT step FROM "{schema}".steps') == [(1,)]


@services
def test_a_schema_made_by_an_administrator_needs_no_right_to_create(schema: str, role: str) -> None:
    """The role may not create schemas in the database; the schema is made for it."""
    _sql(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')

    async def scenario() -> StoredRun:
        adapter = _adapter(schema, f"postgresql://{role}@{HOST}:{PORT}/test")
        await _opened(adapter, _store_run(adapter, "r1"))
        run: StoredRun = await _opened(adapter, adapter.load_run("r1"))
        return run

    assert asyncio.run(scenario()).path == ["N1", "N2"]
    with pytest.raises(StateBackendError, match="permission denied") as caught:
        asyncio.run(_adapter(schema + "_x", f"postgresql://{role}@{HOST}:{PORT}/test").open())
    _one_line(caught.value)


@services
@pytest.mark.parametrize("durability", ["sync", "async"])
def test_200_concurrent_runs_of_20_steps_share_the_pool(schema: str, durability: str) -> None:
    runs, steps = 200, 20

    async def one(adapter: Any, index: int) -> None:
        run_id = f"run-{index}"
        await adapter.start_run(RunStart(run_id, "conc", {"run": run_id}))
        for n in range(1, steps + 1):
            await adapter.save_step(run_id, _step(n, run=run_id, n=n))
            await asyncio.sleep(0)
        await adapter.finish_run(run_id, "completed")

    async def scenario() -> tuple[float, list[StoredRun]]:
        adapter = _adapter(schema, durability=durability, max_size=10)
        await adapter.open()
        try:
            started = time.perf_counter()
            await asyncio.gather(*(one(adapter, index) for index in range(runs)))
            elapsed = time.perf_counter() - started
            return elapsed, [await adapter.load_run(f"run-{i}") for i in range(runs)]
        finally:
            await adapter.close()

    elapsed, loaded = asyncio.run(scenario())
    assert elapsed < 60, f"{runs} x {steps} steps took {elapsed:.1f} s"
    for index, run in enumerate(loaded):
        run_id = f"run-{index}"
        assert (run.run_id, run.status) == (run_id, "completed")
        assert [s.step for s in run.steps] == list(range(1, steps + 1))
        assert {s.delta["run"] for s in run.steps} == {run_id}
        assert run.state == {"run": run_id, "n": steps}
    assert _sql(f'SELECT count(*) FROM "{schema}".steps') == [(runs * steps,)]


@services
def test_steps_waiting_for_a_connection_share_a_commit(schema: str) -> None:
    """Sync mode, more runs than connections: steps that arrive while every connection
    writes go together in the next write, each still stored when save_step returns."""
    runs, steps = 40, 10
    writes: list[int] = []

    async def scenario() -> list[StoredRun]:
        adapter = _adapter(schema, max_size=2)
        apply = adapter._apply

        async def counted(pool: Any, ops: list[Any]) -> None:
            writes.append(len(ops))
            await apply(pool, ops)

        adapter._apply = counted

        async def one(run_id: str) -> None:
            await adapter.start_run(RunStart(run_id, "G", {}))
            for n in range(1, steps + 1):
                await adapter.save_step(run_id, _step(n, run=run_id, n=n))
                stored = await asyncio.to_thread(
                    _sql, f'SELECT 1 FROM "{schema}".steps WHERE run_id = %s AND step = %s',
                    (run_id, n),
                )  # fmt: skip
                assert stored, f"{run_id} step {n} not stored when save_step returned"
            await adapter.finish_run(run_id, "completed")

        await adapter.open()
        try:
            await asyncio.gather(*(one(f"r{i}") for i in range(runs)))
            return [await adapter.load_run(f"r{i}") for i in range(runs)]
        finally:
            await adapter.close()

    loaded = asyncio.run(scenario())
    assert [run.state for run in loaded] == [{"run": f"r{i}", "n": steps} for i in range(runs)]
    assert max(writes) > 1  # some writes carried several runs' steps
    assert sum(writes) == runs * (steps + 2)


@services
def test_a_run_deleted_behind_a_shared_commit_fails_alone(schema: str) -> None:
    """One run of a group commit is no longer stored: its step is a KeyError, the others
    are stored."""

    async def scenario() -> tuple[list[Any], list[StoredRun]]:
        adapter = _adapter(schema, max_size=1)
        await adapter.open()
        try:
            for i in range(10):
                await adapter.start_run(RunStart(f"r{i}", "G", {}))
            await asyncio.to_thread(_sql, f"DELETE FROM \"{schema}\".runs WHERE run_id = 'r3'")
            results = await asyncio.gather(
                *(adapter.save_step(f"r{i}", _step(1)) for i in range(10)),
                return_exceptions=True,
            )
            return results, [await adapter.load_run(f"r{i}") for i in range(10) if i != 3]
        finally:
            await adapter.close()

    results, loaded = asyncio.run(scenario())
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["KeyError"] + ["NoneType"] * 6
    assert "r3" in str(results[3])
    assert all(run.path == ["N1"] for run in loaded)


@services
def test_each_event_loop_has_its_pool_closed_with_the_loop(schema: str) -> None:
    adapter = _adapter(schema, min_size=2, max_size=2)

    async def use(run_id: str) -> int:
        await _store_run(adapter, run_id)  # no close(): the loop's end closes the pool
        return await asyncio.to_thread(_sessions, schema)

    assert asyncio.run(use("a")) == 2
    assert len(adapter._loops) == 0
    assert _sessions(schema) == 0
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(asyncio.run(use("b"))))
    thread.start()
    thread.join()
    assert seen == [2]
    assert _sessions(schema) == 0

    async def both() -> list[str]:
        return [(await adapter.load_run(r)).status for r in ("a", "b")]

    assert asyncio.run(both()) == ["completed", "completed"]


@services
@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_threads_with_their_own_event_loops_share_one_adapter(schema: str, durability: str) -> None:
    """Batch workers: each thread runs its own loop, so each gets its own pool and queue."""
    adapter = _adapter(schema, durability=durability, max_size=2)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        async def runs() -> None:
            await asyncio.gather(*(_store_run(adapter, f"t{index}-{n}", 5) for n in range(20)))

        try:
            asyncio.run(runs())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = _sql(f'SELECT status, count(*) FROM "{schema}".runs GROUP BY status')
    assert rows == [("completed", 80)]
    assert _sql(f'SELECT count(*) FROM "{schema}".steps') == [(400,)]


@services
def test_async_writes_queued_when_the_loop_ends_are_stored(schema: str) -> None:
    """A run that never reaches a barrier (the loop just ends) still has its steps."""
    adapter = _adapter(schema, durability="exit")

    async def write() -> None:
        await adapter.start_run(RunStart("r1", "G", {}))
        for n in range(1, 4):
            await adapter.save_step("r1", _step(n))

    asyncio.run(write())
    assert _sql(f'SELECT step FROM "{schema}".steps ORDER BY step') == [(1,), (2,), (3,)]
