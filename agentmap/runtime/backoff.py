"""Retry defaults and the back-off formula, written once.

Node retries (``RetryPolicy``), the runner's options (``RunOptions``), the
``execution`` settings section and the LLM backends' own HTTP retries all wait
the same way between attempts; this module is the one place that says how long.
Standard library only, so settings and services can import it without pulling
in the runner.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["RETRY_BASE_DELAY", "RETRY_MAX_DELAY", "backoff_delay"]

#: Seconds before the first retry of a node (``execution.retry_base_delay``).
RETRY_BASE_DELAY = 0.5
#: Ceiling of the doubling delay between node retries (``execution.retry_max_delay``).
RETRY_MAX_DELAY = 30.0


def backoff_delay(retry: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first retry).

    Exponential (``base`` doubling per retry), capped at ``cap``, with equal
    jitter: half of the delay is fixed and half is ``rand()`` (a float in
    [0, 1)) of it. The fixed half guarantees a minimum wait; the random half
    spreads apart the retries of many rows of a batch that failed together.
    """
    ceiling = min(cap, base * 2.0**retry)
    return ceiling / 2 + rand() * ceiling / 2
