"""Fan-out and joins: when a join runs, what it sees, and how failures end parallel work."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.unit.runtime.helpers import Recorder, graph, make_runner, node


class AsyncAgent:
    """An agent with an ``async def process``, as LLM agents have."""

    def __init__(self, fn: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        self._fn = fn

    async def process(self, inputs: dict[str, Any]) -> Any:
        return await self._fn(inputs)


class Logger:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *a: Any, **k: Any) -> None:
        self.warnings.append(message)

    def debug(self, message: str, *a: Any, **k: Any) -> None:
        pass

    info = error = debug


def write(value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda inputs: value


def diamond(*, failure_b: bool = False) -> Any:
    """Split -> A|B|C -> Join -> End, with B -> Error -> End on failure (docs/running.md)."""
    return graph(
        node("Split", success="A|B|C", outputs="work"),
        node("A", success="Join", failure="Error", outputs="a"),
        node("B", success="Join", failure="Error", outputs="b"),
        node("C", success="Join", failure="Error", outputs="c"),
        node("Join", success="End", failure="Error", inputs="a|b|c", outputs="joined"),
        node("Error", success="End", inputs="error", outputs="handled"),
        node("End", inputs="joined|handled|a|b|c", outputs="final"),
    )


def test_fan_out_runs_every_target_and_the_join_once() -> None:
    g = diamond()
    agents = {"Split": write("w"), "A": write(1), "B": write(2), "C": write(3)}
    result = make_runner(g, agents).run()
    assert result.success, result.error
    assert sorted(result.path[1:4]) == ["A", "B", "C"]
    assert result.path.count("Join") == 1
    assert result.path.count("End") == 1
    assert result.path[-2:] == ["Join", "End"]
    assert result.state["joined"] == {"a": 1, "b": 2, "c": 3}
    assert result.state["final"]["handled"] is None


def test_branches_really_run_concurrently() -> None:
    started: list[str] = []
    everyone_in = asyncio.Event()

    def worker(name: str) -> AsyncAgent:
        async def run(inputs: dict[str, Any]) -> Any:
            started.append(name)
            if len(started) == 3:
                everyone_in.set()
            # Sequential execution would wait here forever; the timeout turns that into a failure.
            await asyncio.wait_for(everyone_in.wait(), 2)
            return name

        return AsyncAgent(run)

    g = diamond()
    result = make_runner(g, {n: worker(n) for n in "ABC"}).run()
    assert result.success, result.error
    assert sorted(started) == ["A", "B", "C"]


def test_sync_agents_of_branches_run_in_parallel_threads() -> None:
    barrier = threading.Barrier(3, timeout=2)

    class Blocking:
        def process(self, inputs: dict[str, Any]) -> Any:
            barrier.wait()  # raises BrokenBarrierError unless all three threads get here
            return threading.get_ident()

    g = diamond()
    result = make_runner(g, {n: Blocking() for n in "ABC"}).run()
    assert result.success, result.error
    assert len(set(result.state["joined"].values())) == 3


def test_uneven_branches_join_once_after_the_longest() -> None:
    g = graph(
        node("S", success="A|B"),
        node("A", success="A2", outputs="a"),
        node("A2", success="A3", inputs="a", outputs="a2"),
        node("A3", success="J", inputs="a2", outputs="a3"),
        node("B", success="J", outputs="b"),
        node("J", inputs="a3|b", outputs="j"),
    )
    result = make_runner(g, {"A": write(1), "B": write(2)}).run()
    assert result.success, result.error
    assert result.path.count("J") == 1
    assert result.path[-1] == "J"
    assert result.state["j"] == {"a3": 1, "b": 2}


def test_failing_branch_routed_elsewhere_join_runs_once_and_end_once() -> None:
    def fail(inputs: dict[str, Any]) -> Any:
        raise RuntimeError("B broke")

    g = diamond()
    agents = {"Split": write("w"), "A": write(1), "B": fail, "C": write(3)}
    result = make_runner(g, agents).run()
    assert result.success, result.error
    assert result.path.count("Join") == 1
    assert result.path.count("End") == 1
    assert result.path.count("Error") == 1
    assert result.path[-1] == "End"
    # Join ran with A and C only; End sees everything, B's failure included.
    assert result.state["joined"] == {"a": 1, "b": None, "c": 3}
    final = result.state["final"]
    assert final["joined"] == {"a": 1, "b": None, "c": 3}
    assert final["handled"] == "B broke"
    assert [e["node"] for e in result.state["errors"]] == ["B"]


def test_nested_fan_out_joins_inner_then_outer() -> None:
    g = graph(
        node("S", success="P|Q"),
        node("P", success="P1|P2", outputs="p"),
        node("P1", success="PJ", outputs="p1"),
        node("P2", success="PJ", outputs="p2"),
        node("PJ", success="J", inputs="p1|p2", outputs="pj"),
        node("Q", success="J", outputs="q"),
        node("J", inputs="p|pj|q", outputs="j"),
    )
    agents = {"P": write("p"), "P1": write(1), "P2": write(2), "Q": write("q")}
    result = make_runner(g, agents).run()
    assert result.success, result.error
    assert result.path.count("PJ") == 1
    assert result.path.count("J") == 1
    assert result.path.index("PJ") < result.path.index("J")
    assert result.state["j"] == {"p": "p", "pj": {"p1": 1, "p2": 2}, "q": "q"}


def test_join_merges_in_listed_order_and_warns_about_a_field_written_twice() -> None:
    g = graph(
        node("S", success="A|B"),
        node("A", success="J", outputs="shared"),
        node("B", success="J", outputs="shared"),
        node("J", inputs="shared", outputs="seen"),
    )
    slow_a = asyncio.Event()

    async def a(inputs: dict[str, Any]) -> Any:
        await slow_a.wait()  # A finishes last, yet B (listed later) wins
        return "from A"

    def b(inputs: dict[str, Any]) -> Any:
        slow_a.set()
        return "from B"

    logger = Logger()
    runner = make_runner(g, {"A": AsyncAgent(a), "B": b})
    runner._logger = logger
    result = runner.run()
    assert result.state["seen"] == "from B"
    assert logger.warnings == [
        "join at node 'J': parallel branches 'A' and 'B' both wrote field 'shared'; "
        "the value from 'B' (listed later) is kept"
    ]


def test_errors_of_branches_are_concatenated_once_each() -> None:
    def fail(message: str) -> Callable[[dict[str, Any]], Any]:
        def run(inputs: dict[str, Any]) -> Any:
            raise ValueError(message)

        return run

    g = graph(
        node("S", success="A|B", failure="H"),
        node("H", success="A|B"),  # S fails first: one error shared by both branches
        node("A", failure="J", success="J"),
        node("B", failure="J", success="J"),
        node("J", inputs="errors"),
    )
    result = make_runner(g, {"S": fail("s"), "A": fail("a"), "B": fail("b")}).run()
    assert result.success, result.error
    assert [e["message"] for e in result.state["errors"]] == ["s", "a", "b"]
    assert result.state["last_action_success"] is True  # J, which ran last


def test_unhandled_failure_in_a_branch_fails_the_run_and_cancels_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled: list[str] = []

    async def slow(inputs: dict[str, Any]) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return "never"

    def fail(inputs: dict[str, Any]) -> Any:
        raise ValueError("fatal")

    g = graph(node("S", success="Slow|Bad"), node("Slow"), node("Bad"))

    async def main() -> tuple[Any, set[asyncio.Task[Any]]]:
        result = await make_runner(g, {"Slow": AsyncAgent(slow), "Bad": fail}).arun()
        return result, asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, leftover = asyncio.run(main())
        gc.collect()  # an un-awaited coroutine warns when it is collected
    assert [str(w.message) for w in caught] == []
    assert "Task was destroyed" not in caplog.text
    assert result.status == "failed"
    assert result.failed_node == "Bad"
    assert "fatal" in (result.error or "")
    assert cancelled == ["slow"]
    assert leftover == set()


def test_cancelling_the_run_cancels_its_branches(recorder: Recorder) -> None:
    cancelled: list[str] = []

    async def slow(inputs: dict[str, Any]) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append("x")
            raise

    g = graph(node("S", success="A|B"), node("A"), node("B"))

    async def main() -> None:
        runner = make_runner(g, {"A": AsyncAgent(slow), "B": AsyncAgent(slow)}, recorder=recorder)
        task = asyncio.create_task(runner.arun())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cancelled == ["x", "x"]
    assert recorder.events[-1].kind == "run_finished"
    assert recorder.events[-1].status == "failed"


def test_a_wait_that_can_never_end_is_an_error_not_a_hang() -> None:
    # A waits at X for B, which can reach X from Y; B waits at Y for A, which can reach Y.
    g = graph(
        node("S", success="A|B"),
        node("A", success="X"),
        node("B", success="Y"),
        node("X", success="Y", failure="End"),
        node("Y", success="X", failure="End"),
        node("End"),
    )

    async def main() -> Any:
        return await asyncio.wait_for(make_runner(g).arun(), 5)

    result = asyncio.run(main())
    assert result.status == "failed"
    assert result.error is not None
    assert "wait for each other forever" in result.error
    assert "'X'" in result.error
    assert "'Y'" in result.error


def test_next_key_picks_one_of_a_parallel_route() -> None:
    g = graph(node("H", success="Retry|End"), node("Retry"), node("End"))
    result = make_runner(g, {"H": write({"__next__": "End"})}).run()
    assert result.path == ["H", "End"]


def test_parallel_failure_route_fans_out() -> None:
    def fail(inputs: dict[str, Any]) -> Any:
        raise ValueError("x")

    g = graph(node("A", failure="Log|Alert"), node("Log"), node("Alert"))
    result = make_runner(g, {"A": fail}).run()
    assert result.success
    assert sorted(result.path[1:]) == ["Alert", "Log"]


def test_step_limit_counts_every_branch() -> None:
    g = graph(node("S", success="A|B"), node("A", success="A"), node("B", success="B"))
    result = make_runner(g, max_steps=20).run()
    assert result.status == "failed"
    assert "stopped after 20 steps" in (result.error or "")
    assert len(result.path) == 20


def test_step_numbers_are_unique_across_branches(recorder: Recorder) -> None:
    make_runner(diamond(), recorder=recorder).run()
    steps = [e.step for e in recorder.events if e.kind == "node_started"]
    assert sorted(steps) == list(range(1, len(steps) + 1))


def test_branches_that_end_separately_merge_into_the_final_state() -> None:
    g = graph(node("S", success="A|B"), node("A", outputs="a"), node("B", outputs="b"))
    result = make_runner(g, {"A": write(1), "B": write(2)}).run()
    assert (result.state["a"], result.state["b"]) == (1, 2)


def test_fifty_sync_branches_all_wait_at_once() -> None:
    # asyncio's default executor has six threads on a 2-core machine; the runner's own
    # pool lets every branch of a wide fan-out wait on I/O at the same time.
    barrier = threading.Barrier(50, timeout=5)

    class Waits:
        def process(self, inputs: dict[str, Any]) -> Any:
            return barrier.wait()

    names = [f"W{i}" for i in range(50)]
    g = graph(node("S", success="|".join(names)), *(node(n) for n in names))
    result = make_runner(g, {n: Waits() for n in names}).run()
    assert result.success, result.error
    assert len(result.path) == 51


def test_a_retry_loop_back_to_the_fan_out_does_not_make_siblings_wait() -> None:
    # J fails the first time and goes back to S, which fans out again: A and B can
    # reach each other only through S, i.e. in the next fan-out, not in this one.
    calls: list[int] = []

    def join(inputs: dict[str, Any]) -> Any:
        calls.append(1)
        return {"error": "again"} if len(calls) == 1 else "done"

    g = graph(
        node("S", success="A|B"),
        node("A", success="J"),
        node("B", success="J"),
        node("J", success="End", failure="S"),
        node("End"),
    )
    result = make_runner(g, {"J": join}).run()
    assert result.success, result.error
    assert result.path.count("S") == 2
    assert result.path.count("J") == 2
    assert result.path.count("End") == 1
