"""The runner on sequential graphs: data flow, routing, failure rules, retries, timeouts, limits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from agentmap.errors import WorkflowError
from agentmap.runtime.runner import GraphRunner
from tests.unit.runtime.helpers import Recorder, graph, make_runner, node


def boom(message: str = "boom", exc: type[Exception] = ValueError) -> Any:
    def fail(inputs: dict[str, Any]) -> Any:
        raise exc(message)

    return fail


def test_linear_chain_passes_values_and_records_path() -> None:
    g = graph(
        node("A", inputs="x", outputs="y", edge="B"),
        node("B", inputs="y", outputs="z", edge="C"),
        node("C", inputs="z", outputs="out"),
    )
    result = make_runner(g, {"B": lambda i: i["y"] * 10}).run({"x": 4})
    assert result.status == "completed"
    assert result.path == ["A", "B", "C"]
    assert result.state["out"] == 40
    assert result.state["last_action_success"] is True
    assert "error" not in result.state
    assert [t.node for t in result.timings] == ["A", "B", "C"]
    assert all(t.success and t.attempts == 1 for t in result.timings)


def test_initial_state_is_not_mutated() -> None:
    initial = {"x": 1}
    make_runner(graph(node("A", inputs="x", outputs="y"))).run(initial)
    assert initial == {"x": 1}


def test_missing_inputs_are_none_and_renames_apply() -> None:
    seen: list[dict[str, Any]] = []
    g = graph(node("A", inputs="query:q|absent", outputs="out"))
    make_runner(g, {"A": lambda i: seen.append(dict(i)) or "ok"}).run({"query": "hi"})
    assert seen == [{"q": "hi", "absent": None}]


def test_success_goes_to_success_next_failure_to_failure_next() -> None:
    g = graph(
        node("A", success="Good", failure="Bad"),
        node("Good", outputs="went"),
        node("Bad", outputs="went"),
    )
    ok = make_runner(g, {"A": lambda i: "fine", "Good": lambda i: "good"}).run()
    assert ok.path == ["A", "Good"]
    failed = make_runner(g, {"A": boom(), "Bad": lambda i: "bad"}).run()
    assert failed.path == ["A", "Bad"]
    assert failed.status == "completed"  # the failure was handled
    assert failed.state["went"] == "bad"


def test_edge_is_taken_after_failure_when_no_failure_next() -> None:
    g = graph(node("A", edge="B"), node("B", outputs="b"))
    result = make_runner(g, {"A": boom(), "B": lambda i: "reached"}).run()
    assert result.path == ["A", "B"]
    assert result.state["b"] == "reached"
    assert result.state["last_action_success"] is True  # B succeeded after A failed
    assert result.state["error"] == "boom"


def test_raised_error_is_recorded_in_state() -> None:
    g = graph(node("A", outputs="a", failure="H"), node("H", inputs="error", outputs="handled"))
    result = make_runner(g, {"A": boom("api down")}).run()
    assert result.state["handled"] == "api down"
    assert result.state["errors"] == [
        {"node": "A", "type": "ValueError", "message": "api down", "attempt": 1}
    ]
    assert "a" not in result.state


def test_returned_error_mapping_fails_the_node_and_writes_no_output() -> None:
    g = graph(node("A", outputs="a", failure="H"), node("H"))
    result = make_runner(g, {"A": lambda i: {"error": "bad input", "a": 1}}).run()
    assert result.path == ["A", "H"]
    assert "a" not in result.state
    assert result.state["errors"][0]["type"] == "AgentReturnedError"
    assert result.state["errors"][0]["message"] == "bad input"


def test_mapping_with_falsy_error_is_a_success() -> None:
    g = graph(node("A", outputs="a"))
    result = make_runner(g, {"A": lambda i: {"error": None, "v": 1}}).run()
    assert result.success
    assert result.state["a"] == {"error": None, "v": 1}


def test_unhandled_failure_fails_the_run() -> None:
    g = graph(node("A", edge="B"), node("B"), node("C"))
    g = graph(node("A", edge="B"), node("B"))
    result = make_runner(g, {"B": boom("no route")}).run()
    assert result.status == "failed"
    assert result.failed_node == "B"
    assert result.error is not None
    assert "'B' failed" in result.error
    assert "no route" in result.error
    assert result.state["last_action_success"] is False


def test_errors_accumulate_and_copy_initial_list() -> None:
    initial_errors = [{"node": "earlier", "type": "X", "message": "m", "attempt": 1}]
    g = graph(node("A", failure="B"), node("B", failure="C"), node("C"))
    result = make_runner(g, {"A": boom("one"), "B": boom("two")}).run({"errors": initial_errors})
    assert [e["message"] for e in result.state["errors"]] == ["m", "one", "two"]
    assert len(initial_errors) == 1


def test_retries_with_exponential_backoff() -> None:
    calls = {"n": 0}

    def flaky(inputs: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError(f"attempt {calls['n']}")
        return "ok"

    sleeps: list[float] = []
    rec = Recorder()
    g = graph(node("A", outputs="a", context={"retries": 3, "retry_delay": 0.1}))
    result = make_runner(g, {"A": flaky}, recorder=rec, sleeps=sleeps).run()
    assert result.success
    assert result.state["a"] == "ok"
    assert result.timings[0].attempts == 3
    # rand() == 1.0 -> full ceiling: base, then 2 x base
    assert sleeps == pytest.approx([0.1, 0.2])
    assert rec.kinds().count("node_failed") == 2
    assert rec.kinds().count("node_retried") == 2
    assert "errors" not in result.state


def test_backoff_is_capped_and_jittered() -> None:
    from agentmap.runtime.policies import RetryPolicy

    policy = RetryPolicy(retries=10, base_delay=1.0, max_delay=4.0)
    assert policy.delay(1, lambda: 0.0) == pytest.approx(0.5)
    assert policy.delay(2, lambda: 1.0) == pytest.approx(2.0)
    assert policy.delay(6, lambda: 1.0) == pytest.approx(4.0)


def test_retries_exhausted_reports_last_attempt() -> None:
    sleeps: list[float] = []
    g = graph(node("A", context={"retries": 2, "retry_delay": 0.01}, failure="H"), node("H"))
    result = make_runner(g, {"A": boom("still down", ConnectionError)}, sleeps=sleeps).run()
    assert len(sleeps) == 2
    assert result.state["errors"] == [
        {"node": "A", "type": "ConnectionError", "message": "still down", "attempt": 3}
    ]


def test_retry_on_restricts_which_errors_are_retried() -> None:
    sleeps: list[float] = []
    g = graph(node("A", context={"retries": 3, "retry_on": ["OSError"]}, failure="H"), node("H"))
    make_runner(g, {"A": boom()}, sleeps=sleeps).run()
    assert sleeps == []  # ValueError is not an OSError
    make_runner(
        g, {"A": lambda i: (_ for _ in ()).throw(ConnectionError("x"))}, sleeps=sleeps
    ).run()
    assert len(sleeps) == 3  # ConnectionError is an OSError (base class names match)


async def test_timeout_fails_the_attempt() -> None:
    class Slow:
        name = "A"

        async def process(self, inputs: dict[str, Any]) -> Any:
            await asyncio.sleep(5)

    g = graph(node("A", context={"timeout": 0.05}, failure="H"), node("H"))
    result = await make_runner(g, {"A": Slow()}).arun()
    assert result.path == ["A", "H"]
    assert result.state["errors"][0]["type"] == "TimeoutError"
    assert result.state["errors"][0]["message"] == "timed out after 0.05s"


def test_invalid_policy_values_are_workflow_errors() -> None:
    g = graph(node("A", context={"timeout": "30s"}))
    with pytest.raises(WorkflowError) as err:
        make_runner(g)
    message = str(err.value)
    assert "node 'A'" in message
    assert "'timeout'" in message
    assert "'30s'" in message
    with pytest.raises(WorkflowError, match="retries"):
        make_runner(graph(node("A", context={"retries": -1})))


def test_max_steps_stops_a_runaway_cycle() -> None:
    g = graph(node("A", edge="B"), node("B", edge="A"))
    result = make_runner(g, max_steps=7).run()
    assert result.status == "failed"
    assert len(result.path) == 7
    assert result.error is not None
    assert "stopped after 7 steps" in result.error
    assert "A -> B" in result.error


def test_sync_agents_run_in_a_worker_thread_inline_ones_on_the_loop() -> None:
    threads: dict[str, str] = {}

    class Blocking:
        name = "A"

        def process(self, inputs: dict[str, Any]) -> Any:
            threads["sync"] = threading.current_thread().name

    class Inline(Blocking):
        run_inline = True

        def process(self, inputs: dict[str, Any]) -> Any:
            threads["inline"] = threading.current_thread().name

    g = graph(node("A", edge="B"), node("B"))
    make_runner(g, {"A": Blocking(), "B": Inline()}).run()
    assert threads["inline"] == threading.current_thread().name
    assert threads["sync"] != threads["inline"]


def test_next_key_picks_one_listed_target() -> None:
    g = graph(
        node("A", outputs="a", success="Left|Right"),
        node("Left", outputs="side"),
        node("Right", outputs="side"),
    )
    result = make_runner(
        g, {"A": lambda i: {"__next__": "Right", "v": 1}, "Right": lambda i: "right"}
    ).run()
    assert result.path == ["A", "Right"]
    assert result.state["a"] == {"v": 1}  # the reserved key is removed


def test_next_key_naming_an_unlisted_node_is_a_failure() -> None:
    g = graph(node("A", success="B", failure="H"), node("B"), node("H"))
    result = make_runner(g, {"A": lambda i: {"__next__": "Z"}}).run()
    assert result.path == ["A", "H"]
    error = result.state["errors"][0]
    assert error["type"] == "RoutingError"
    assert "'Z'" in error["message"]
    assert "(B)" in error["message"]


def test_node_context_attempt_counts_retries() -> None:
    from agentmap.runtime.context import current_node

    seen: list[int] = []

    def flaky(inputs: dict[str, Any]) -> Any:
        seen.append(current_node().attempt)
        if len(seen) < 3:
            raise TimeoutError("again")
        return "ok"

    g = graph(node("A", context={"retries": 2}))
    assert make_runner(g, {"A": flaky}, sleeps=[]).run().success
    assert seen == [1, 2, 3]


def test_output_errors_are_tracked_as_failed_attempts(recorder: Recorder) -> None:
    g = graph(node("A", outputs="x|y", failure="H"), node("H"))
    make_runner(g, {"A": lambda i: {"x": 1}}, recorder=recorder).run()
    failed = [e for e in recorder.events if e.kind == "node_failed"]
    assert [(e.node, e.error_type) for e in failed] == [("A", "OutputError")]


def test_max_steps_names_no_failed_node() -> None:
    result = make_runner(graph(node("A", edge="A")), max_steps=3).run()
    assert result.status == "failed"
    assert result.failed_node is None


def test_several_outputs_need_a_mapping_with_every_key() -> None:
    g = graph(node("A", outputs="x|y", failure="H"), node("H"))
    ok = make_runner(g, {"A": lambda i: {"x": 1, "y": 2, "extra": 3}}).run()
    assert (ok.state["x"], ok.state["y"]) == (1, 2)
    assert "extra" not in ok.state
    missing = make_runner(g, {"A": lambda i: {"x": 1}}).run()
    assert missing.path == ["A", "H"]
    assert missing.state["errors"][0]["type"] == "OutputError"
    assert "'y'" in missing.state["errors"][0]["message"]
    wrong = make_runner(g, {"A": lambda i: "text"}).run()
    assert "must return a mapping" in wrong.state["errors"][0]["message"]


def test_renamed_output_takes_one_key_of_the_result() -> None:
    g = graph(node("A", outputs="summary=text"))
    result = make_runner(g, {"A": lambda i: {"text": "t", "other": 1}}).run()
    assert result.state["summary"] == "t"


def test_events_and_checkpoints(recorder: Recorder) -> None:
    g = graph(node("A", inputs="x", outputs="y", edge="B"), node("B", failure="C"), node("C"))
    result = make_runner(g, {"B": boom()}, recorder=recorder).run({"x": 1}, run_id="r1")
    assert recorder.kinds() == [
        "run_started",
        "node_started",
        "node_finished",
        "node_started",
        "node_failed",
        "node_finished",
        "node_started",
        "node_finished",
        "run_finished",
    ]
    assert {e.run_id for e in recorder.events} == {"r1"}
    assert recorder.events[-1].status == "completed"
    assert recorder.events[-1].steps == 3
    assert recorder.flushes == 1
    assert recorder.runs["r1"] == {
        "graph": "G",
        "initial": {"x": 1},
        "status": "completed",
        "error": None,
    }
    assert [(s[1], s[2]) for s in recorder.steps] == [(1, "A"), (2, "B"), (3, "C")]
    assert recorder.steps[0][3] == {"y": 1, "last_action_success": True}
    assert recorder.steps[1][3]["error"] == "boom"
    assert result.run_id == "r1"


def test_checkpointing_can_be_switched_off(recorder: Recorder) -> None:
    make_runner(graph(node("A")), recorder=recorder, checkpoint=False).run()
    assert recorder.steps == []
    assert recorder.runs == {}
    assert "run_finished" in recorder.kinds()


def test_run_facade_refuses_a_running_loop() -> None:
    runner: GraphRunner = make_runner(graph(node("A")))

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="await arun"):
            runner.run()

    asyncio.run(inside())


async def test_cancelled_run_is_recorded(recorder: Recorder) -> None:
    class Hang:
        name = "A"

        async def process(self, inputs: dict[str, Any]) -> Any:
            await asyncio.sleep(10)

    task = asyncio.create_task(
        make_runner(graph(node("A")), {"A": Hang()}, recorder=recorder).arun()
    )
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.events[-1].kind == "run_finished"
    assert recorder.events[-1].error == "run was cancelled"


def test_a_timeout_raised_by_the_agent_itself_is_an_ordinary_failure() -> None:
    # A provider client's own timeout, on a node with no Context timeout.
    def slow_provider(inputs: dict[str, Any]) -> Any:
        raise TimeoutError("the provider took too long")

    g = graph(node("A", failure="H"), node("H"))
    result = make_runner(g, {"A": slow_provider}).run()
    assert result.path == ["A", "H"]
    assert result.state["errors"][0] == {
        "node": "A",
        "type": "TimeoutError",
        "message": "the provider took too long",
        "attempt": 1,
    }
