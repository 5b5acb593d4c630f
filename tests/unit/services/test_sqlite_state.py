"""What only the sqlite state backend does: the file, its schema, its errors, durability modes.

The shared behaviour (round trips, ordering, fork, prune...) is the conformance
suite's, in test_state_backends.py. Here a second, plain ``sqlite3`` connection
looks at the file the way another process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmap.errors import StateBackendError
from agentmap.runtime.checkpoint import RunStart, StepRecord, StoredRun
from agentmap.services.protocols import EncodingStateAdapter, StateAdapterProtocol
from agentmap.services.state import _sqlite_schema as schema
from agentmap.services.state import sqlite as sqlite_module
from agentmap.services.state._sqlite_schema import SCHEMA_VERSION
from agentmap.services.state.sqlite import SqliteStateAdapter


def _step(number: int, node: str | None = None, **delta: Any) -> StepRecord:
    return StepRecord(step=number, node=node or f"N{number}", delta=delta or {"n": number})


def _peek(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Rows as another process sees them (its own connection, closed after)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


async def _store_run(adapter: SqliteStateAdapter, run_id: str, steps: int = 2) -> None:
    await adapter.start_run(RunStart(run_id, "G", {"run": run_id}))
    for n in range(1, steps + 1):
        await adapter.save_step(run_id, _step(n, n=n))
    await adapter.finish_run(run_id, "completed")


def _one_line(error: BaseException, path: Path) -> str:
    text = str(error)
    assert "\n" not in text
    assert "state.path" in text
    assert str(path) in text
    return text


# ---------------------------------------------------------------------- the file


def test_the_folder_and_file_are_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.sqlite3"
    adapter = SqliteStateAdapter(path)
    assert isinstance(adapter, StateAdapterProtocol)
    assert isinstance(adapter, EncodingStateAdapter)
    assert not path.parent.exists()  # building it touches nothing

    async def scenario() -> Any:
        await adapter.open()
        first = adapter._conn
        await adapter.open()  # idempotent: the same connection
        assert adapter._conn is first
        await _store_run(adapter, "r1")
        return adapter._conn.execute("PRAGMA synchronous").fetchone()  # type: ignore[union-attr]

    assert asyncio.run(scenario()) == (1,)  # NORMAL
    assert _peek(path, "PRAGMA journal_mode") == [("wal",)]
    assert _peek(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert _peek(path, "SELECT run_id, status FROM runs") == [("r1", "completed")]
    assert _peek(path, "SELECT count(*) FROM steps") == [(2,)]


def test_a_file_written_by_a_newer_agentmap_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    asyncio.run(_store_run(SqliteStateAdapter(path), "r1"))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(StateBackendError) as caught:
        asyncio.run(SqliteStateAdapter(path).open())
    text = _one_line(caught.value, path)
    assert "schema version 99" in text
    assert f"({SCHEMA_VERSION})" in text
    assert "upgrade agentmap" in text
    assert _peek(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("99",)]
    assert _peek(path, "SELECT run_id FROM runs") == [("r1",)]


def test_an_older_file_is_migrated_keeping_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version 1 file opened by code that knows version 2: the migration runs once."""
    path = tmp_path / "state.sqlite3"
    asyncio.run(_store_run(SqliteStateAdapter(path), "old", steps=3))
    calls: list[int] = []

    def add_labels(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE runs ADD COLUMN label TEXT")
        conn.execute("UPDATE runs SET label = 'migrated'")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_labels])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)

    async def reopen() -> StoredRun | None:
        adapter = SqliteStateAdapter(path)
        try:
            return await adapter.load_run("old")
        finally:
            await adapter.close()

    run = asyncio.run(reopen())
    asyncio.run(reopen())  # at version 2 now: no second migration
    assert calls == [1]
    assert run is not None
    assert (run.status, run.path, run.state) == (
        "completed",
        ["N1", "N2", "N3"],
        {"run": "old", "n": 3},
    )
    assert _peek(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert _peek(path, "SELECT label FROM runs") == [("migrated",)]


def test_a_failed_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    asyncio.run(_store_run(SqliteStateAdapter(path), "old"))

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN label TEXT")
        conn.execute("SELECT no_such_column FROM runs")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    with pytest.raises(StateBackendError) as caught:
        asyncio.run(SqliteStateAdapter(path).open())
    assert "no_such_column" in _one_line(caught.value, path)
    assert _peek(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    assert "label" not in [row[1] for row in _peek(path, "PRAGMA table_info(runs)")]


def test_an_existing_empty_database_gets_the_schema(tmp_path: Path) -> None:
    """Version 0: a file that is a database but has no meta table (e.g. made by hand)."""
    path = tmp_path / "state.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    asyncio.run(_store_run(SqliteStateAdapter(path), "r1"))
    assert _peek(path, "SELECT run_id FROM runs") == [("r1",)]
    assert _peek(path, "SELECT count(*) FROM notes") == [(0,)]


# ---------------------------------------------------------------------- errors


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process: by its mode, or (root ignores modes) immutable."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_file_is_one_line_naming_the_setting_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    asyncio.run(_store_run(SqliteStateAdapter(path), "r1"))
    with _read_only(path):
        adapter = SqliteStateAdapter(path)

        async def scenario() -> StoredRun | None:
            with pytest.raises(StateBackendError) as caught:
                await adapter.start_run(RunStart("r2", "G", {}))
            assert "read-only" in _one_line(caught.value, path)
            assert isinstance(caught.value.__cause__, sqlite3.Error)
            with pytest.raises(StateBackendError, match="read-only"):
                await adapter.finish_run("r1", "failed", "not stored")
            return await adapter.load_run("r1")  # reading still works

        run = asyncio.run(scenario())
        assert run is not None
        assert (run.status, run.error) == ("completed", None)
    assert _peek(path, "SELECT run_id, status FROM runs") == [("r1", "completed")]


def test_a_full_disk_is_one_line_and_the_transaction_is_rolled_back(tmp_path: Path) -> None:
    """``max_page_count`` makes SQLite report SQLITE_FULL exactly as a full disk does."""
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability="exit")

    async def scenario() -> tuple[StoredRun | None, StoredRun | None]:
        await _store_run(adapter, "kept")
        assert adapter._conn is not None
        pages = adapter._conn.execute("PRAGMA page_count").fetchone()[0]
        adapter._conn.execute(f"PRAGMA max_page_count = {pages}")
        await adapter.start_run(RunStart("big", "G", {}))
        await adapter.save_step("big", _step(1, "A", text="x" * 1000))
        await adapter.save_step("big", _step(2, "B", text="y" * 100_000))
        with pytest.raises(StateBackendError) as caught:
            await adapter.finish_run("big", "completed")
        assert "disk is full" in _one_line(caught.value, path)
        return await adapter.load_run("big"), await adapter.load_run("kept")

    big, kept = asyncio.run(scenario())
    assert big is None  # all or nothing: not the start, not step 1
    assert kept is not None
    assert (kept.status, kept.path) == ("completed", ["N1", "N2"])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "folder, not a file"),
        (lambda p: p.write_text("not a database, just text\n" * 200), "not an SQLite database"),
        (lambda p: p.parent.joinpath("file").write_text("x"), "cannot create the folder"),
    ],
    ids=["folder", "text file", "parent is a file"],
)
def test_a_path_that_is_not_a_state_file_fails_at_open(
    tmp_path: Path, make: Any, expected: str
) -> None:
    path = tmp_path / "state.sqlite3"
    make(path)
    if expected == "cannot create the folder":
        path = tmp_path / "file" / "state.sqlite3"
    with pytest.raises(StateBackendError) as caught:
        asyncio.run(SqliteStateAdapter(path).open())
    assert expected in _one_line(caught.value, path)


def test_a_corrupt_row_names_run_and_step_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path)
    asyncio.run(_store_run(adapter, "bad", steps=3))
    asyncio.run(_store_run(adapter, "good", steps=3))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE steps SET delta = '{\"n\": 2' WHERE step = 2 "
            "AND run_key = (SELECT id FROM runs WHERE run_id = 'bad')"
        )
        conn.execute("UPDATE runs SET waiting = '[1]' WHERE run_id = 'good'")
    stored = "SELECT * FROM steps WHERE run_key IN (SELECT id FROM runs WHERE run_id != 'after')"
    before = _peek(path, stored)

    async def scenario() -> tuple[Any, ...]:
        with pytest.raises(StateBackendError) as bad_step:
            await adapter.load_run("bad")
        with pytest.raises(StateBackendError) as bad_run:
            await adapter.load_run("good")
        listed = await adapter.list_runs()
        await _store_run(adapter, "after")
        return bad_step.value, bad_run.value, listed, await adapter.load_run("after")

    bad_step, bad_run, listed, after = asyncio.run(scenario())
    text = _one_line(bad_step, path)
    assert "run 'bad' step 2 is corrupt" in text
    assert "delta is not valid JSON" in text
    assert "run 'good' is corrupt: its waiting" in _one_line(bad_run, path)
    assert {(s.run_id, s.steps, s.last_node) for s in listed} == {
        ("bad", 3, "N3"),
        ("good", 3, "N3"),
    }
    assert after is not None
    assert after.path == ["N1", "N2"]
    assert _peek(path, stored) == before


def test_a_step_of_a_run_deleted_by_another_process_is_a_key_error(tmp_path: Path) -> None:
    """The step's insert finds no run (the adapter thought it was there): KeyError."""
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path)

    async def scenario() -> None:
        await adapter.start_run(RunStart("r1", "G", {}))
        await adapter.save_step("r1", _step(1))
        other = SqliteStateAdapter(path)
        assert await other.prune(float("inf")) == 1
        await other.close()
        with pytest.raises(KeyError, match=r"'r1'.*start_run"):
            await adapter.save_step("r1", _step(2))
        with pytest.raises(KeyError, match=r"'r1'.*start_run"):
            await adapter.finish_run("r1", "completed")

    asyncio.run(scenario())
    assert _peek(path, "SELECT count(*) FROM steps") == [(0,)]


def test_a_run_started_by_another_process_takes_steps_here(tmp_path: Path) -> None:
    """A resume in a new process: the run is found in the file, not in this adapter."""
    path = tmp_path / "state.sqlite3"
    first = SqliteStateAdapter(path)

    async def begin() -> None:
        await first.start_run(RunStart("r1", "G", {"n": 0}))
        await first.save_step("r1", _step(1))
        await first.finish_run("r1", "failed", "boom")

    asyncio.run(begin())
    second = SqliteStateAdapter(path)

    async def resume() -> StoredRun | None:
        await second.reopen_run("r1")
        await second.save_step("r1", _step(2))
        await second.finish_run("r1", "completed")
        return await first.load_run("r1")

    run = asyncio.run(resume())
    assert run is not None
    assert (run.status, run.path, run.state) == ("completed", ["N1", "N2"], {"n": 2})


# ---------------------------------------------------------------------- durability


def test_async_writes_land_when_the_run_yields_and_all_by_finish(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability="async")
    count = "SELECT count(*) FROM steps"

    async def scenario() -> list[Any]:
        seen = []
        await adapter.start_run(RunStart("r1", "G", {}))
        for n in (1, 2, 3):
            await adapter.save_step("r1", _step(n))
        seen.append(_peek(path, count) if path.exists() else [(0,)])  # not yet
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append(_peek(path, count))  # the loop ran the flush: all three, one transaction
        await adapter.save_step("r1", _step(4))
        await adapter.finish_run("r1", "completed")
        seen.append(_peek(path, "SELECT count(*), max(step) FROM steps"))
        seen.append(_peek(path, "SELECT status FROM runs"))
        return seen

    assert asyncio.run(scenario()) == [[(0,)], [(3,)], [(4, 4)], [("completed",)]]


def test_exit_writes_nothing_until_the_run_ends(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability="exit")

    async def scenario() -> list[Any]:
        await adapter.open()
        seen = []
        await adapter.start_run(RunStart("r1", "G", {}))
        for n in (1, 2, 3):
            await adapter.save_step("r1", _step(n))
            await asyncio.sleep(0)
        seen.append(_peek(path, "SELECT count(*) FROM runs"))
        seen.append(_peek(path, "SELECT count(*) FROM steps"))
        await adapter.finish_run("r1", "suspended")
        seen.append(_peek(path, "SELECT status FROM runs"))
        seen.append(_peek(path, "SELECT count(*) FROM steps"))
        return seen

    assert asyncio.run(scenario()) == [[(0,)], [(0,)], [("suspended",)], [(3,)]]


def test_sync_writes_each_step_before_save_step_returns(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path)

    async def scenario() -> list[Any]:
        await adapter.start_run(RunStart("r1", "G", {}))
        seen = [_peek(path, "SELECT status FROM runs")]
        for n in (1, 2):
            await adapter.save_step("r1", _step(n))
            seen.append(_peek(path, "SELECT max(step) FROM steps"))
        return seen

    assert asyncio.run(scenario()) == [[("running",)], [(1,)], [(2,)]]


def test_a_failed_background_write_is_raised_by_the_next_operation(tmp_path: Path) -> None:
    """async: the write fails after save_step returned; the run must not end as a success."""
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability="async")

    async def scenario() -> tuple[StateBackendError, StoredRun | None]:
        await adapter.start_run(RunStart("r1", "G", {}))
        await adapter.save_step("r1", _step(1))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # step 1 is stored
        assert adapter._conn is not None
        pages = adapter._conn.execute("PRAGMA page_count").fetchone()[0]
        adapter._conn.execute(f"PRAGMA max_page_count = {pages}")
        await adapter.save_step("r1", _step(2, "Big", text="x" * 100_000))  # queued: fine
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the background write failed
        with pytest.raises(StateBackendError) as caught:
            await adapter.save_step("r1", _step(3))
        adapter._conn.execute("PRAGMA max_page_count = 1073741823")
        return caught.value, await adapter.load_run("r1")

    error, run = asyncio.run(scenario())
    assert "disk is full" in _one_line(error, path)
    assert run is not None
    assert (run.status, run.path) == ("running", ["N1"])


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync, async or exit"):
        SqliteStateAdapter(tmp_path / "s.db", durability="never")  # type: ignore[arg-type]


def test_a_thousand_step_run_loads_every_step_in_order(tmp_path: Path) -> None:
    """Resume reads a long run in one range scan; the deltas replay to the last state."""
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability="exit")

    async def scenario() -> StoredRun | None:
        await adapter.start_run(RunStart("long", "G", {"n": 0}))
        for n in range(1000, 0, -1):
            await adapter.save_step("long", _step(n, n=n))
        await adapter.finish_run("long", "failed", "stopped")
        return await adapter.load_run("long")

    run = asyncio.run(scenario())
    assert run is not None
    assert [s.step for s in run.steps] == list(range(1, 1001))
    assert run.state == {"n": 1000}


@pytest.mark.parametrize(
    ("stored", "loaded"),
    [
        (' {"n": 1} ', {"n": 1}),  # JSON as another tool may write it
        ('{"n": 1}x', None),
        ('{"n": 1}{}', None),
        ("[1]", None),
        ("", None),
        (b'{"n": "\xff"}', None),
    ],
    ids=["spaces", "trailing text", "two values", "a list", "empty", "not utf-8"],
)
def test_a_delta_edited_by_hand_loads_only_if_it_is_one_json_object(
    tmp_path: Path, stored: str | bytes, loaded: dict[str, Any] | None
) -> None:
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path)
    asyncio.run(_store_run(adapter, "r1", steps=1))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE steps SET delta = CAST(? AS TEXT)", (stored,))
    if loaded is None:
        with pytest.raises(StateBackendError, match="run 'r1' step 1 is corrupt: its delta"):
            asyncio.run(adapter.load_run("r1"))
        return
    run = asyncio.run(adapter.load_run("r1"))
    assert run is not None
    assert run.steps[0].delta == loaded


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_threads_with_their_own_event_loops_share_one_adapter(
    tmp_path: Path, durability: str
) -> None:
    """Batch workers on threads: each loop queues its own writes; none is lost or mixed."""
    path = tmp_path / "state.sqlite3"
    adapter = SqliteStateAdapter(path, durability=durability)  # type: ignore[arg-type]
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        async def runs() -> None:
            for index in range(10):
                run_id = f"w{number}-{index}"
                await adapter.start_run(RunStart(run_id, "G", {"run": run_id}))
                for n in range(1, 11):
                    await adapter.save_step(run_id, _step(n, n=n, run=run_id))
                    await asyncio.sleep(0)
                await adapter.finish_run(run_id, "completed")

        try:
            asyncio.run(runs())
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    async def stored() -> list[StoredRun | None]:
        return [await adapter.load_run(s.run_id) for s in await adapter.list_runs()]

    loaded = asyncio.run(stored())
    assert len(loaded) == 40
    for run in loaded:
        assert run is not None
        assert run.status == "completed"
        assert [s.step for s in run.steps] == list(range(1, 11))
        assert {s.delta["run"] for s in run.steps} == {run.run_id}


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_queued_run_the_adapter_forgot_still_takes_steps(
    tmp_path: Path, durability: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set of runs known to exist is bounded; a run dropped from it while its start
    is still queued (exit) is found by writing the queue before looking."""
    monkeypatch.setattr(sqlite_module, "_MAX_KNOWN", 1)
    adapter = SqliteStateAdapter(tmp_path / "s.db", durability=durability)  # type: ignore[arg-type]

    async def scenario() -> tuple[StoredRun | None, StoredRun | None]:
        await adapter.start_run(RunStart("first", "G", {}))
        await adapter.start_run(RunStart("second", "G", {}))  # forgets "first"
        await adapter.save_step("first", _step(1))
        await adapter.save_step("second", _step(1))
        await adapter.finish_run("first", "completed")
        await adapter.finish_run("second", "completed")
        return await adapter.load_run("first"), await adapter.load_run("second")

    for run in asyncio.run(scenario()):
        assert run is not None
        assert (run.status, run.path) == ("completed", ["N1"])
