"""The ``error_handler`` built-in: the report, the failure count and the retry/give-up choice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.error_handler import ErrorHandlerAgent
from agentmap.runtime.context import NodeContext, node_context
from agentmap.workflow.spec import NodeSpec


def entry(node: str, message: str, type_: str = "AgentReturnedError", attempt: int = 1) -> Any:
    return {"node": node, "type": type_, "message": message, "attempt": attempt}


@contextmanager
def running(*success: str, edge: tuple[str, ...] = ()) -> Iterator[None]:
    """Set the current node the way the runner does around ``process``."""
    spec = NodeSpec(name="Handle", graph="G", success_next=success, edge=edge)
    with node_context(NodeContext("run-1", "G", spec, {})):
        yield


def handle(inputs: dict[str, Any], **context: Any) -> Any:
    return ErrorHandlerAgent("Handle", "", context).process(inputs)


def test_registered_and_inline() -> None:
    assert BUILTIN_AGENTS["error_handler"] is ErrorHandlerAgent
    assert ErrorHandlerAgent.run_inline is True


# ---------------------------------------------------------------- the report


def test_report_from_error_and_errors() -> None:
    errors = [
        entry("Fetch", "HTTP 500", "HTTPError"),
        entry("Parse", "bad json"),
        entry("Fetch", "quota exceeded", "QuotaError", attempt=3),
    ]
    out = handle({"error": "quota exceeded", "errors": errors})
    assert out == {
        "message": "quota exceeded",
        "node": "Fetch",
        "type": "QuotaError",
        "failures": 2,
        "errors": errors,
        "summary": "node 'Fetch' failed 2 times; last error QuotaError: quota exceeded",
    }
    assert "__next__" not in out
    assert "error" not in out  # a report must not fail the handler node itself


def test_report_from_errors_only_takes_the_last_message() -> None:
    out = handle({"errors": [entry("A", "first"), entry("B", "second")]})
    assert out["message"] == "second"
    assert out["node"] == "B"
    assert out["failures"] == 1
    assert out["summary"] == "node 'B' failed once; last error AgentReturnedError: second"


def test_report_from_error_only_counts_one() -> None:
    out = handle({"error": "boom"})
    assert out == {
        "message": "boom",
        "node": None,
        "type": None,
        "failures": 1,
        "errors": [],
        "summary": "error: boom",
    }


def test_report_when_nothing_failed() -> None:
    out = handle({"error": None, "errors": None})
    assert out["failures"] == 0
    assert out["message"] is None
    assert out["summary"] == "no error recorded"


def test_report_copies_the_entries() -> None:
    errors = [entry("A", "m")]
    out = handle({"errors": errors})
    out["errors"][0]["node"] = "changed"
    assert errors[0]["node"] == "A"


def test_missing_error_inputs_fail_with_instructions() -> None:
    out = handle({"status": "x"})
    assert out == {
        "error": "error_handler node 'Handle' needs an input named 'error' or 'errors' "
        "(it has: status); use Input_Fields error|errors, or rename another field with "
        "field:error"
    }


@pytest.mark.parametrize("bad", ["oops", [1, 2], {"node": "A"}])
def test_malformed_errors_input_fails(bad: Any) -> None:
    out = handle({"errors": bad})
    assert out["error"].startswith(
        "error_handler node 'Handle': input 'errors' must be the list of error entries"
    )
    assert out["error"].endswith(f"got {type(bad).__name__}")


# ---------------------------------------------------------------- routing


def test_outside_a_run_there_is_no_routing() -> None:
    out = handle({"errors": [entry("Fetch", "x")] * 5}, retry_target="Fetch")
    assert "__next__" not in out


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, "RetryAPI"), (2, "RetryAPI"), (3, "End"), (4, "End")],
)
def test_retries_the_first_target_then_gives_up_to_the_last(failures: int, expected: str) -> None:
    with running("RetryAPI", "End"):
        out = handle({"errors": [entry("Fetch", "x")] * failures})
    assert out["__next__"] == expected
    verb = "retrying via" if expected == "RetryAPI" else "giving up, going to"
    assert out["summary"].endswith(f"; {verb} {expected}")


def test_failures_of_other_nodes_do_not_count() -> None:
    errors = [entry("Other", "x")] * 5 + [entry("Fetch", "y")]
    with running("RetryAPI", "End"):
        assert handle({"errors": errors})["__next__"] == "RetryAPI"


def test_configured_targets_and_max_attempts() -> None:
    ctx = {"retry_target": "Refresh", "give_up_target": "Apologise", "max_attempts": 2}
    with running("Apologise", "Refresh", "Log"):
        assert handle({"errors": [entry("F", "x")]}, **ctx)["__next__"] == "Refresh"
        assert handle({"errors": [entry("F", "x")] * 2}, **ctx)["__next__"] == "Apologise"


def test_max_attempts_one_gives_up_at_once() -> None:
    with running("RetryAPI", "End"):
        assert handle({"error": "x"}, max_attempts=1)["__next__"] == "End"


def test_error_without_errors_counts_one_and_retries() -> None:
    with running("RetryAPI", "End"):
        assert handle({"error": "x"})["__next__"] == "RetryAPI"


def test_edge_targets_are_used_when_there_is_no_success_next() -> None:
    with running(edge=("RetryAPI", "End")):
        assert handle({"error": "x"}, max_attempts=1)["__next__"] == "End"


def test_a_single_target_needs_no_choice() -> None:
    with running("End"):
        out = handle({"errors": [entry("F", "x")] * 9})
    assert "__next__" not in out
    assert out["failures"] == 9


@pytest.mark.parametrize("key", ["retry_target", "give_up_target"])
def test_a_configured_target_that_is_not_listed_fails(key: str) -> None:
    with running("RetryAPI", "End"):
        out = handle({"error": "x"}, **{key: "Elsewhere"})
    assert out == {
        "error": f"error_handler node 'Handle': Context {key} 'Elsewhere' is not one of its "
        "success targets (RetryAPI, End); list it in Success_Next or Edge, or pick one of those"
    }


def test_a_configured_target_with_no_routes_fails() -> None:
    with running():
        out = handle({"error": "x"}, retry_target="Fetch")
    assert "is not one of its success targets (none)" in out["error"]


# ---------------------------------------------------------------- Context errors


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"retry_target": 3}, "Context key 'retry_target' must be a node name, got 3"),
        ({"retry_target": "  "}, "Context key 'retry_target' must be a node name, got '  '"),
        ({"give_up_target": ["End"]}, "Context key 'give_up_target' must be a node name"),
        ({"max_attempts": 0}, "Context key 'max_attempts' must be a whole number >= 1, got 0"),
        ({"max_attempts": "3"}, "Context key 'max_attempts' must be a whole number >= 1, got '3'"),
        (
            {"max_attempts": True},
            "Context key 'max_attempts' must be a whole number >= 1, got True",
        ),
        ({"max_attempts": 2.0}, "Context key 'max_attempts' must be a whole number >= 1, got 2.0"),
    ],
)
def test_bad_context(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^error_handler node 'Handle': ") as info:
        ErrorHandlerAgent("Handle", "", context)
    assert message in str(info.value)
