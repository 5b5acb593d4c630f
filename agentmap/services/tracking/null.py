"""The ``null`` execution tracker: drops every event (``tracking.backend: null``).

For runs nobody watches, and the baseline of the tracker benchmarks. It is the
runner's own stand-in (``agentmap.runtime.calls.NullTracker``), so the runner
recognises it and does not even build per-node events: a ``null`` run costs
what a run given no tracker costs.
"""

from __future__ import annotations

from agentmap.runtime.calls import NullTracker as _RunnerNullTracker

__all__ = ["NullTracker"]


class NullTracker(_RunnerNullTracker):
    def close(self) -> None:
        """Nothing to release; present so every tracker can be closed the same way."""
