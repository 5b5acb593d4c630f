"""The shipped state-adapter conformance suite, run against the durable backends.

The memory adapter (the reference) runs it in test_state_adapter_conformance.py;
here the sqlite backend runs it in each durability mode, since each mode takes
a different path to the file (one statement per step, batched transactions, one
transaction at the end). Backend-specific behaviour (WAL, schema versions,
read-only files, corrupt rows) is in test_sqlite_state.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentmap.services.state.sqlite import SqliteStateAdapter
from agentmap.testing.state_conformance import ManualClock, StateAdapterConformance


class _SqliteConformance(StateAdapterConformance):
    async def break_connection(self, adapter: Any) -> None:
        """Close the adapter's sqlite connection behind its back."""
        assert adapter._conn is not None
        adapter._conn.close()


class TestSqliteStateAdapter(_SqliteConformance):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def adapter(self, clock: ManualClock, tmp_path: Path) -> SqliteStateAdapter:
        return SqliteStateAdapter(tmp_path / "state" / "runs.sqlite3", clock=clock)


class TestSqliteStateAdapterAsync(_SqliteConformance):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def adapter(self, clock: ManualClock, tmp_path: Path) -> SqliteStateAdapter:
        return SqliteStateAdapter(tmp_path / "runs.sqlite3", durability="async", clock=clock)


class TestSqliteStateAdapterExit(_SqliteConformance):
    """With the wall clock, as the application has it."""

    @pytest.fixture
    def adapter(self, tmp_path: Path) -> SqliteStateAdapter:
        return SqliteStateAdapter(tmp_path / "runs.sqlite3", durability="exit")
