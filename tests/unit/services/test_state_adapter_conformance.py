"""Every state adapter stores runs the same way: the shipped conformance suite, per backend.

A backend is one more subclass of ``StateAdapterConformance``
(agentmap.testing.state_conformance), the same suite a third-party backend
runs; the memory adapter, the reference implementation, runs it here twice:
as the test preset has it, and checking JSON (``check_json=True``), which
gives it ``encode_delta`` and so the suite's JSON tests. The sqlite and
postgres backends run it in test_state_backends.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.testing.state_conformance import ManualClock, StateAdapterConformance


class TestMemoryStateAdapter(StateAdapterConformance):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def adapter(self, clock: ManualClock) -> MemoryStateAdapter:
        return MemoryStateAdapter(clock=clock)


class TestMemoryStateAdapterCheckingJson(StateAdapterConformance):
    """With the wall clock: the suite's default for a backend that keeps time itself."""

    @pytest.fixture
    def adapter(self) -> MemoryStateAdapter:
        return MemoryStateAdapter(check_json=True)


def test_the_suites_are_exported_by_the_test_kit_on_first_use() -> None:
    """``agentmap.testing`` is loaded by every pytest run (its plugin): the suites are
    imported only when asked for."""
    code = (
        "import sys, agentmap.testing as kit\n"
        "assert 'agentmap.testing.state_conformance' not in sys.modules\n"
        "from agentmap.testing.state_conformance import StateAdapterConformance\n"
        "assert kit.StateAdapterConformance is StateAdapterConformance\n"
        "assert {'CacheConformance', 'TrackerConformance'} <= set(dir(kit))\n"
        "assert all(getattr(kit, name) for name in kit.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
