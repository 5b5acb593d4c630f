"""run_rows: rows through one runner, ``concurrency`` at a time, each reported as it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agentmap.batch.inputs import InputRow
from agentmap.batch.local import run_rows
from agentmap.batch.output import RowSet
from agentmap.runtime.result import NodeTiming, RunResult
from agentmap.runtime.usage import LLMUsage

JOB = "wwwwwwwwwwww.iiiiiiiiiiii"


class StubRunner:
    """A RowRunner: doubles ``n`` after ``delay`` seconds, counting the runs in flight.

    A state may ask for a behaviour: ``raise`` (an exception to raise), ``hang``
    (wait until cancelled), ``sleep`` (its own delay).
    """

    def __init__(self, delay: float = 0.002) -> None:
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    async def arun(self, state: Mapping[str, Any] | None = None) -> RunResult:
        state = dict(state or {})
        n = state["n"]
        self.started.append(n)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if state.get("hang"):
                await asyncio.Event().wait()
            await asyncio.sleep(state.get("sleep", self.delay))
            if "raise" in state:
                raise state["raise"]
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        finally:
            self.active -= 1
        self.finished.append(n)
        return RunResult(
            run_id=f"run-{n}",
            graph="G",
            status="completed",
            state={**state, "double": n * 2},
            path=["A"],
        )


def rows(count: int, **extra: Any) -> list[InputRow]:
    return [InputRow(n, n + 1, {"n": n, **extra}) for n in range(1, count + 1)]


async def run(runner: Any, items: Any, **options: Any) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    options.setdefault("fields", ("double",))
    options.setdefault("concurrency", 4)
    await run_rows(runner, items, lines.append, job=JOB, **options)
    return lines


def pending_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_every_row_gives_one_completed_line() -> None:
    lines = await run(StubRunner(), rows(10))
    assert sorted(line["row"] for line in lines) == list(range(1, 11))
    line = next(line for line in lines if line["row"] == 3)
    assert line == {
        "row": 3,
        "line": 4,
        "job": JOB,
        "status": "completed",
        "output": {"double": 6},
        "error": None,
        "failed_node": None,
        "duration": line["duration"],
        "timings": {},
        "llm_calls": 0,
        "tokens": 0,
        "cost": None,
        "run_id": "run-3",
    }
    assert 0 < line["duration"] < 5


@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_concurrency_is_bounded_and_used(concurrency: int) -> None:
    runner = StubRunner()
    lines = await run(runner, rows(20), concurrency=concurrency)
    assert len(lines) == 20
    assert runner.peak == concurrency


async def test_rows_are_pulled_only_when_a_slot_is_free() -> None:
    runner = StubRunner()
    pulled: list[int] = []

    def source() -> Iterator[InputRow]:
        for row in rows(12):
            pulled.append(row.row)
            # rows in memory: those running, and the one waiting for a slot
            assert len(pulled) - len(runner.finished) <= 2 + 1
            yield row

    lines = await run(runner, source(), concurrency=2)
    assert len(lines) == 12
    assert pulled == list(range(1, 13))


async def test_rows_are_emitted_as_they_finish() -> None:
    runner = StubRunner()
    items = [
        InputRow(1, 1, {"n": 1, "sleep": 0.05}),
        InputRow(2, 2, {"n": 2, "sleep": 0.0}),
        InputRow(3, 3, {"n": 3, "sleep": 0.01}),
    ]
    lines = await run(runner, items, concurrency=3)
    assert [line["row"] for line in lines] == [2, 3, 1]


async def test_a_row_that_raises_becomes_a_failed_line_and_the_others_go_on() -> None:
    items = rows(5)
    items[1] = InputRow(2, 3, {"n": 2, "raise": ValueError("bad value 7")})
    lines = await run(StubRunner(), items)
    by_row = {line["row"]: line for line in lines}
    assert sorted(by_row) == [1, 2, 3, 4, 5]
    failed = by_row[2]
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: bad value 7"
    assert (failed["line"], failed["output"], failed["run_id"]) == (3, {}, None)
    assert (failed["cost"], failed["tokens"], failed["timings"]) == (None, 0, {})
    assert failed["duration"] > 0
    assert all(by_row[n]["status"] == "completed" for n in (1, 3, 4, 5))


async def test_a_row_that_times_out_becomes_a_failed_line_naming_the_option() -> None:
    runner = StubRunner()
    items = [*rows(2), InputRow(3, 4, {"n": 3, "hang": True})]
    lines = await run(runner, items, row_timeout=0.05)
    by_row = {line["row"]: line for line in lines}
    assert by_row[3]["status"] == "failed"
    assert by_row[3]["error"] == "row timed out after 0.05 s (row_timeout)"
    assert by_row[3]["duration"] >= 0.04  # the loop may wake a tick early
    assert runner.cancelled == [3]  # the run itself was stopped
    assert by_row[1]["status"] == by_row[2]["status"] == "completed"
    assert not pending_tasks()


async def test_a_timeout_error_from_the_run_without_row_timeout_fails_only_that_row() -> None:
    items = [*rows(1), InputRow(2, 3, {"n": 2, "raise": TimeoutError("connect timed out")})]
    lines = await run(StubRunner(), items)
    by_row = {line["row"]: line for line in lines}
    assert by_row[2]["status"] == "failed"
    assert by_row[2]["error"] == "TimeoutError: connect timed out"


async def test_a_timeout_error_from_the_run_is_not_blamed_on_row_timeout() -> None:
    items = [InputRow(1, 2, {"n": 1, "raise": TimeoutError("connect timed out")})]
    (line,) = await run(StubRunner(), items, row_timeout=30)
    assert line["error"] == "TimeoutError: connect timed out"


async def test_skipped_rows_are_neither_run_nor_emitted() -> None:
    runner = StubRunner()
    skip = RowSet()
    for n in (2, 4, 5):
        skip.add(n)
    lines = await run(runner, rows(6), skip=skip)
    assert sorted(line["row"] for line in lines) == [1, 3, 6]
    assert sorted(runner.started) == [1, 3, 6]


async def test_unreadable_rows_are_emitted_as_failed_without_running() -> None:
    runner = StubRunner()
    items = [
        InputRow(1, 1, {"n": 1}),
        InputRow(2, 2, error="line 2: not valid JSON: Expecting value"),
        InputRow(3, 5, id="k3"),  # no state and no error
        InputRow(4, 6, {"n": 4}),
    ]
    lines = await run(runner, items)
    by_row = {line["row"]: line for line in lines}
    assert sorted(by_row) == [1, 2, 3, 4]
    assert sorted(runner.started) == [1, 4]
    assert by_row[2]["status"] == "failed"
    assert by_row[2]["error"] == "line 2: not valid JSON: Expecting value"
    assert by_row[2]["duration"] == 0.0
    assert by_row[3]["error"] == "unreadable row"
    assert (by_row[3]["line"], by_row[3]["id"]) == (5, "k3")


async def test_skip_wins_over_an_unreadable_row() -> None:
    skip = RowSet()
    skip.add(1)
    lines = await run(StubRunner(), [InputRow(1, 1, error="bad")], skip=skip)
    assert lines == []


async def test_result_line_holds_chosen_fields_timings_tokens_cost_and_id() -> None:
    class Full:
        async def arun(self, state: Mapping[str, Any] | None = None) -> RunResult:
            return RunResult(
                run_id="r1",
                graph="G",
                status="failed",
                state={"a": 1, "b": {"x": [1]}, "secret": "no"},
                timings=[
                    NodeTiming("A", 0.25, True),
                    NodeTiming("B", 0.5, False),
                    NodeTiming("A", 0.125, True),
                ],
                error="node 'B' failed",
                failed_node="B",
                llm_calls=[
                    LLMUsage("m", prompt_tokens=3, completion_tokens=4, cost=0.5),
                    LLMUsage("m", prompt_tokens=1, completion_tokens=2, cost=None),
                ],
            )

    lines = await run(Full(), [InputRow(7, 9, {"q": 1}, id="K-7")], fields=("a", "b", "missing"))
    (line,) = lines
    assert line["id"] == "K-7"
    assert list(line)[:4] == ["row", "line", "id", "job"]
    assert line["output"] == {"a": 1, "b": {"x": [1]}}
    assert line["timings"] == {"A": 0.375, "B": 0.5}
    assert (line["llm_calls"], line["tokens"], line["cost"]) == (2, 10, 0.5)
    assert (line["status"], line["error"], line["failed_node"]) == (
        "failed",
        "node 'B' failed",
        "B",
    )


async def test_cancelling_cancels_the_rows_in_flight_and_emits_nothing_for_them() -> None:
    runner = StubRunner()
    items = [InputRow(1, 1, {"n": 1}), *rows(10, hang=True)[1:]]
    lines: list[dict[str, Any]] = []
    batch = asyncio.create_task(
        run_rows(runner, items, lines.append, fields=("double",), job=JOB, concurrency=3)
    )
    for _ in range(1000):
        await asyncio.sleep(0.001)
        if runner.active == 3 and lines:
            break
    assert [line["row"] for line in lines] == [1]
    in_flight = sorted(runner.started[1:])
    assert in_flight == [2, 3, 4]
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert sorted(runner.cancelled) == in_flight
    assert runner.active == 0
    assert [line["row"] for line in lines] == [1]  # nothing for the cancelled rows
    assert sorted(runner.started) == [1, 2, 3, 4]  # no row started after the cancel
    assert not pending_tasks()


async def test_emit_raising_stops_the_batch_with_that_error() -> None:
    runner = StubRunner()
    error = OSError(28, "No space left on device")
    calls: list[int] = []

    def emit(line: dict[str, Any]) -> None:
        calls.append(line["row"])
        raise error

    with pytest.raises(OSError, match="No space left") as info:
        await run_rows(runner, rows(50), emit, fields=(), job=JOB, concurrency=2)
    assert info.value is error
    assert len(runner.started) <= 3  # stopped pulling rows
    assert calls
    assert not pending_tasks()


async def test_emit_raising_on_an_unreadable_row_cancels_the_rows_in_flight() -> None:
    runner = StubRunner()
    items = [InputRow(1, 1, {"n": 1, "hang": True}), InputRow(2, 2, error="bad")]
    calls: list[int] = []

    def emit(line: dict[str, Any]) -> None:
        calls.append(line["row"])
        raise RuntimeError(f"cannot write row {line['row']}")

    with pytest.raises(RuntimeError, match="cannot write row 2"):
        await run_rows(runner, items, emit, fields=(), job=JOB, concurrency=2)
    assert calls == [2]
    assert runner.finished == []
    assert runner.active == 0
    assert not pending_tasks()


async def test_no_rows_no_lines() -> None:
    assert await run(StubRunner(), []) == []
