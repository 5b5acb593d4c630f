"""Which node failures are retried by default, how ``retry_on`` changes it, and the back-off."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.errors import ConfigurationError, WorkflowError
from agentmap.runtime.backoff import RETRY_BASE_DELAY, RETRY_MAX_DELAY, backoff_delay
from agentmap.runtime.policies import RetryPolicy, node_policy, retryable_by_default
from agentmap.runtime.runner import RunOptions
from tests.unit.runtime.helpers import graph, make_runner, node


class NotRetryable(Exception):
    """Like the LLM errors for a bad request or a refused key: says so itself."""

    retryable = False


class RetryableValueError(ValueError):
    """A ValueError subclass that declares itself retryable: the attribute wins."""

    retryable = True


def attempts_made(exc: Exception | None, context: dict[str, Any] | None = None) -> int:
    """Attempts a node with 2 retries makes when its agent always fails with ``exc``.

    ``None``: the agent returns ``{"error": ...}`` instead of raising.
    """

    def fail(inputs: dict[str, Any]) -> Any:
        if exc is None:
            return {"error": "service said no"}
        raise exc

    g = graph(node("A", context={"retries": 2, **(context or {})}, failure="H"), node("H"))
    result = make_runner(g, {"A": fail}, sleeps=[]).run()
    return int(result.state["errors"][-1]["attempt"])


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionError("reset"),
        TimeoutError("slow"),
        RuntimeError("flaky"),
        OSError("disk busy"),
        RetryableValueError("declared retryable"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_that_may_succeed_on_retry_are_retried(exc: Exception) -> None:
    assert attempts_made(exc) == 3


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad value"),
        TypeError("wrong type"),
        KeyError("missing"),
        IndexError("out of range"),
        ZeroDivisionError("division by zero"),
        AttributeError("no attribute"),
        WorkflowError("bad workflow"),
        ConfigurationError("bad setting"),
        NotRetryable("401 invalid key"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_that_repeat_on_retry_are_not_retried(exc: Exception) -> None:
    assert attempts_made(exc) == 1


def test_a_returned_error_is_retried() -> None:
    assert attempts_made(None) == 3


def test_retry_on_replaces_the_default() -> None:
    assert attempts_made(ValueError("x"), {"retry_on": ["ValueError"]}) == 3
    assert attempts_made(ConnectionError("x"), {"retry_on": ["ValueError"]}) == 1
    # Base class names match: ConnectionError is an OSError.
    assert attempts_made(ConnectionError("x"), {"retry_on": "OSError"}) == 3
    assert attempts_made(None, {"retry_on": ["OSError"]}) == 1
    assert attempts_made(None, {"retry_on": ["AgentReturnedError"]}) == 3


@pytest.mark.parametrize("everything", ["*", "all", ["OSError", "*"]])
def test_retry_on_star_or_all_retries_every_failure(everything: Any) -> None:
    context = {"retry_on": everything}
    assert attempts_made(NotRetryable("x"), context) == 3
    assert attempts_made(WorkflowError("x"), context) == 3
    assert attempts_made(None, context) == 3


def test_retryable_attribute_must_be_a_bool_to_count() -> None:
    class Odd(Exception):
        retryable = "no"  # not a bool: ignored, the class rules apply

    assert retryable_by_default(Odd())
    assert not retryable_by_default(type("E", (KeyError,), {"retryable": None})())


def test_backoff_formula() -> None:
    # Equal jitter: half fixed, half random, of base * 2**retry capped at cap.
    assert backoff_delay(0, 1.0, 4.0, lambda: 0.0) == pytest.approx(0.5)
    assert backoff_delay(0, 1.0, 4.0, lambda: 1.0) == pytest.approx(1.0)
    assert backoff_delay(2, 1.0, 4.0, lambda: 0.5) == pytest.approx(3.0)
    assert backoff_delay(30, 1.0, 4.0, lambda: 1.0) == pytest.approx(4.0)
    assert RetryPolicy(base_delay=1.0, max_delay=4.0).delay(3, lambda: 1.0) == pytest.approx(4.0)


def test_retry_defaults_are_written_once() -> None:
    from agentmap.settings import ExecutionSettings

    execution = ExecutionSettings()
    policy = node_policy(node("A"))
    options = RunOptions()
    assert (execution.retry_base_delay, execution.retry_max_delay) == (
        RETRY_BASE_DELAY,
        RETRY_MAX_DELAY,
    )
    assert (policy.base_delay, policy.max_delay) == (RETRY_BASE_DELAY, RETRY_MAX_DELAY)
    assert (options.retry_base_delay, options.retry_max_delay) == (
        RETRY_BASE_DELAY,
        RETRY_MAX_DELAY,
    )
