"""run_batch / arun_batch end to end: the test preset, real workflows, real files."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmap.agents.base_agent import BaseAgent
from agentmap.batch import BatchError, OutputMismatchError, arun_batch, run_batch
from agentmap.batch.progress import PlainProgress
from agentmap.batch.results import default_fields
from agentmap.errors import AgentMapError
from containers import Application, create_application

HEADER = "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt\n"
GREET = HEADER + "Greet,Hello,echo,,,name,greeting,Hello {name}\n"
#: Hello (echo) then Wait (an async agent that sleeps ``pause`` seconds, see WaitAgent).
WAIT = (
    HEADER
    + "Wait,Hello,echo,Shout,,name,greeting,Hello {name}\n"
    + "Wait,Shout,WaitAgent,,,greeting,shout,\n"
)


class WaitAgent(BaseAgent):
    """Upper-cases its input after ``pause`` seconds, counting the runs in flight."""

    pause = 0.005
    #: Greetings whose run waits until cancelled.
    hang: frozenset[str] = frozenset()
    active = 0
    peak = 0
    calls = 0

    async def process(self, inputs: dict[str, Any]) -> Any:
        cls = type(self)
        cls.calls += 1
        cls.active += 1
        cls.peak = max(cls.peak, cls.active)
        try:
            if inputs["greeting"] in cls.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(cls.pause)
        finally:
            cls.active -= 1
        return str(inputs["greeting"]).upper()


@pytest.fixture
def wait_agent() -> type[WaitAgent]:
    return type("WaitAgent", (WaitAgent,), {})  # fresh counters for each test


def application(agent: type[BaseAgent] | None = None, **overrides: Any) -> Application:
    app = create_application("test", **overrides)
    if agent is not None:
        app.container.agents.registry().register("WaitAgent", agent)
    return app


@pytest.fixture
def app(wait_agent: type[WaitAgent]) -> Iterator[Application]:
    application_ = application(wait_agent)
    yield application_
    application_.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, *records: Any) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def names(count: int) -> list[dict[str, Any]]:
    return [{"name": f"n{i}"} for i in range(1, count + 1)]


@pytest.fixture
def greet(tmp_path: Path) -> Path:
    return write(tmp_path / "greet.csv", GREET)


@pytest.fixture
def waiting(tmp_path: Path) -> Path:
    return write(tmp_path / "wait.csv", WAIT)


# --- end to end ------------------------------------------------------------------------------


def test_one_line_per_row_with_outputs_and_failures(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = write(
        tmp_path / "in.jsonl",
        '{"name": "ann"}\n\n{"name": "bob"}\nnot json\n[1]\n{"name": "cy"}\n',
    )
    output = tmp_path / "out.jsonl"
    summary = run_batch(app, greet, inputs, output)
    lines = read_lines(output)
    assert sorted(line["row"] for line in lines) == [1, 2, 3, 4, 5]
    by_row = {line["row"]: line for line in lines}
    assert by_row[1]["output"] == {"greeting": "Hello ann"}
    assert by_row[2]["line"] == 3
    assert by_row[5]["output"] == {"greeting": "Hello cy"}
    assert by_row[3]["status"] == "failed"
    assert by_row[3]["error"].startswith("line 4: not valid JSON")
    assert by_row[4]["error"] == "line 5: expected a JSON object, got list"
    assert len({line["job"] for line in lines}) == 1
    assert {line["run_id"] for line in lines if line["status"] == "completed"} != {None}
    assert (summary.total, summary.completed, summary.failed, summary.ran) == (5, 3, 2, 5)
    assert summary.interrupted is False


def test_rerun_of_a_finished_batch_runs_nothing(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(4))
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output)
    before = output.read_bytes()
    summary = run_batch(app, greet, inputs, output)
    assert (summary.ran, summary.resumed, summary.done) == (0, 4, 4)
    assert output.read_bytes() == before


def test_resume_runs_only_the_rows_missing_from_the_output(
    app: Application, waiting: Path, tmp_path: Path, wait_agent: type[WaitAgent]
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(6))
    output = tmp_path / "out.jsonl"
    run_batch(app, waiting, inputs, output)
    assert wait_agent.calls == 6
    kept = [
        text for text in output.read_text().splitlines() if json.loads(text)["row"] not in (2, 5)
    ]
    output.write_text("".join(text + "\n" for text in kept))

    summary = run_batch(app, waiting, inputs, output)
    assert (summary.ran, summary.resumed, summary.done, summary.completed) == (2, 4, 6, 6)
    assert wait_agent.calls == 6 + 2
    rows = [line["row"] for line in read_lines(output)]
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert sorted(rows[-2:]) == [2, 5]  # appended


def test_a_torn_last_line_is_cut_off_and_its_row_runs_again(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(3))
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output)
    lines = output.read_text().splitlines()
    torn = next(text for text in lines if json.loads(text)["row"] == 2)
    rest = [text for text in lines if text is not torn]
    output.write_text("".join(text + "\n" for text in rest) + torn[: len(torn) // 2])

    summary = run_batch(app, greet, inputs, output)
    assert summary.ran == 1
    result = read_lines(output)  # every line parses: the torn one is gone
    assert sorted(line["row"] for line in result) == [1, 2, 3]
    assert result[-1]["output"] == {"greeting": "Hello n2"}


def test_summary_file_is_written_as_json(app: Application, greet: Path, tmp_path: Path) -> None:
    inputs = write(tmp_path / "in.jsonl", '{"name": "a"}\n{"name": "b"}\n{oops\n')
    summary_file = tmp_path / "reports" / "summary.json"
    summary = run_batch(app, greet, inputs, tmp_path / "out.jsonl", summary_file=summary_file)
    data = json.loads(summary_file.read_text())
    assert data == summary.to_dict() | {
        "wall_seconds": data["wall_seconds"],
        "rows_per_second": data["rows_per_second"],
    }
    assert (data["rows"], data["done"], data["completed"], data["failed"]) == (3, 3, 2, 1)
    assert data["interrupted"] is False
    assert data["top_errors"][0]["rows"] == 1
    assert list((tmp_path / "reports").iterdir()) == [summary_file]  # no .tmp left


def test_fields_choose_the_output(app: Application, greet: Path, tmp_path: Path) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", {"name": "ann", "extra": 1})
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output, fields=["name", "greeting", "absent"])
    (line,) = read_lines(output)
    assert line["output"] == {"name": "ann", "greeting": "Hello ann"}


def test_default_fields_are_the_output_fields_without_bookkeeping(
    app: Application, tmp_path: Path
) -> None:
    workflow = write(
        tmp_path / "flow.csv",
        HEADER
        + "F,First,echo,Second,,name,greeting,Hello {name}\n"
        + "F,Second,echo,Third,,greeting,error,\n"
        + "F,Third,echo,,,greeting:copy|name:last_action_success,copy|last_action_success,\n",
    )
    _, graph = app.load(workflow)
    assert default_fields(graph) == ("greeting", "copy")
    inputs = jsonl(tmp_path / "in.jsonl", {"name": "ann", "other": 1})
    output = tmp_path / "out.jsonl"
    run_batch(app, workflow, inputs, output)
    (line,) = read_lines(output)
    assert line["status"] == "completed"
    assert line["output"] == {"greeting": "Hello ann", "copy": "Hello ann"}


def test_map_and_id_field_with_csv_inputs(app: Application, greet: Path, tmp_path: Path) -> None:
    inputs = write(tmp_path / "in.csv", 'key,who\nk1,ann\nk2,"bob\nby"\n')
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output, mapping={"name": "who"}, id_field="key")
    lines = sorted(read_lines(output), key=lambda line: line["row"])
    assert [(line["id"], line["line"], line["output"]) for line in lines] == [
        ("k1", 2, {"greeting": "Hello ann"}),
        ("k2", 3, {"greeting": "Hello bob\nby"}),
    ]


def test_missing_mapped_csv_column_stops_before_any_row(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = write(tmp_path / "in.csv", "who\nann\n")
    output = tmp_path / "out.jsonl"
    with pytest.raises(BatchError, match="no column 'person'"):
        run_batch(app, greet, inputs, output, mapping={"name": "person"})
    assert output.read_text() == ""


def test_concurrency_is_bounded_through_the_real_runner(
    app: Application, waiting: Path, tmp_path: Path, wait_agent: type[WaitAgent]
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(12))
    summary = run_batch(app, waiting, inputs, tmp_path / "out.jsonl", concurrency=3)
    assert summary.completed == 12
    assert wait_agent.peak == 3


def test_settings_give_the_default_concurrency_and_row_timeout(
    waiting: Path, tmp_path: Path, wait_agent: type[WaitAgent]
) -> None:
    wait_agent.pause = 0.2
    inputs = jsonl(tmp_path / "in.jsonl", *names(4))
    output = tmp_path / "out.jsonl"
    with application(wait_agent, batch={"concurrency": 2, "row_timeout": 0.02}) as app:
        summary = run_batch(app, waiting, inputs, output)
    assert wait_agent.peak == 2
    assert summary.failed == 4
    assert {line["error"] for line in read_lines(output)} == {
        "row timed out after 0.02 s (row_timeout)"
    }


def test_app_may_be_a_factory(greet: Path, tmp_path: Path) -> None:
    made: list[Application] = []

    def factory() -> Application:
        made.append(create_application("test"))
        return made[-1]

    inputs = jsonl(tmp_path / "in.jsonl", *names(2))
    summary = run_batch(factory, greet, inputs, tmp_path / "out.jsonl")
    assert summary.completed == 2
    assert len(made) == 1
    made[0].close()


def test_llm_calls_and_tokens_are_counted(tmp_path: Path) -> None:
    workflow = write(tmp_path / "ask.csv", HEADER + "Ask,Q,llm,,,name,answer,Say hi to {name}\n")
    inputs = jsonl(tmp_path / "in.jsonl", *names(3))
    output = tmp_path / "out.jsonl"
    with application(llm={"fake_default": "hello there friend"}) as app:
        summary = run_batch(app, workflow, inputs, output)
    lines = read_lines(output)
    assert {line["output"]["answer"] for line in lines} == {"hello there friend"}
    assert all(line["llm_calls"] == 1 and line["tokens"] > 0 for line in lines)
    assert summary.llm_calls == 3
    assert summary.tokens == sum(line["tokens"] for line in lines)


def test_a_progress_reporter_gets_every_row(app: Application, greet: Path, tmp_path: Path) -> None:
    stream = io.StringIO()
    inputs = jsonl(tmp_path / "in.jsonl", *names(3))
    run_batch(app, greet, inputs, tmp_path / "out.jsonl", progress=PlainProgress(0, stream=stream))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # one per row, and the last at close
    assert lines[-1].startswith("batch: 3/3 rows (0 failed)")


def test_progress_true_prints_to_stderr(
    app: Application, greet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(2))
    run_batch(app, greet, inputs, tmp_path / "out.jsonl", progress=True)
    assert "batch: 2/2 rows (0 failed)" in capsys.readouterr().err


async def test_cancelled_batch_keeps_finished_rows_and_reports_interrupted(
    app: Application, waiting: Path, tmp_path: Path, wait_agent: type[WaitAgent]
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(5))
    output = tmp_path / "out.jsonl"
    summary_file = tmp_path / "summary.json"
    wait_agent.hang = frozenset({"Hello n3", "Hello n4", "Hello n5"})
    batch = asyncio.create_task(
        arun_batch(app, waiting, inputs, output, concurrency=2, summary_file=summary_file)
    )
    for _ in range(1000):
        await asyncio.sleep(0.001)
        if wait_agent.active == 2 and output.exists() and output.read_text().count("\n") == 2:
            break
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert wait_agent.active == 0
    assert sorted(line["row"] for line in read_lines(output)) == [1, 2]
    data = json.loads(summary_file.read_text())
    assert (data["rows"], data["done"], data["completed"]) == (5, 2, 2)
    assert data["interrupted"] is True

    wait_agent.hang = frozenset()
    summary = await arun_batch(app, waiting, inputs, output)
    assert (summary.ran, summary.resumed, summary.completed) == (3, 2, 5)
    assert summary.interrupted is False
    assert sorted(line["row"] for line in read_lines(output)) == [1, 2, 3, 4, 5]


# --- other jobs on the same output -----------------------------------------------------------


def test_another_workflow_on_the_same_output_is_refused(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(2))
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output)
    before = output.read_bytes()
    other = write(tmp_path / "other.csv", GREET.replace("Hello {name}", "Hi {name}"))
    with pytest.raises(OutputMismatchError, match="another workflow") as info:
        run_batch(app, other, inputs, output)
    assert "Use force=True to start over" in str(info.value)
    assert output.read_bytes() == before


def test_other_fields_on_the_same_output_are_another_workflow(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(2))
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output)
    with pytest.raises(OutputMismatchError, match="another workflow"):
        run_batch(app, greet, inputs, output, fields=["name"])


def test_other_inputs_on_the_same_output_are_refused(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, jsonl(tmp_path / "a.jsonl", *names(2)), output)
    with pytest.raises(OutputMismatchError, match="another input set"):
        run_batch(app, greet, jsonl(tmp_path / "a.jsonl", *names(3)), output)


def test_force_sets_the_old_output_aside_and_starts_over(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(2))
    output = tmp_path / "out.jsonl"
    run_batch(app, greet, inputs, output)
    old = output.read_bytes()
    other = write(tmp_path / "other.csv", GREET.replace("Hello {name}", "Hi {name}"))
    summary = run_batch(app, other, inputs, output, force=True)
    assert summary.ran == 2
    assert (tmp_path / "out.jsonl.bak").read_bytes() == old
    assert {line["output"]["greeting"] for line in read_lines(output)} == {"Hi n1", "Hi n2"}


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"concurrency": -3}, "concurrency must be at least 1"),
        ({"row_timeout": 0}, "row_timeout must be a positive"),
        ({"row_timeout": -1.0}, "row_timeout must be a positive"),
    ],
)
def test_bad_options_are_batch_errors(
    app: Application, greet: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    output = tmp_path / "out.jsonl"
    with pytest.raises(BatchError, match=message):
        run_batch(app, greet, inputs, output, **options)
    assert not output.exists()


@pytest.mark.parametrize("name", ["out.json", "out.csv", "out"])
def test_output_must_be_json_lines(
    app: Application, greet: Path, tmp_path: Path, name: str
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    with pytest.raises(BatchError, match=r"name the file \*\.jsonl"):
        run_batch(app, greet, inputs, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_output_may_be_ndjson(app: Application, greet: Path, tmp_path: Path) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    assert run_batch(app, greet, inputs, tmp_path / "out.NDJSON").completed == 1


def test_output_that_is_the_inputs_is_refused(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "rows.jsonl", *names(2))
    before = inputs.read_bytes()
    with pytest.raises(BatchError, match="is the inputs file"):
        run_batch(app, greet, inputs, tmp_path / "." / "rows.jsonl")
    assert inputs.read_bytes() == before


@pytest.mark.parametrize(
    ("inputs_name", "message"),
    [("missing.jsonl", "input file not found"), ("rows.txt", "unknown input format")],
)
def test_unusable_inputs_are_batch_errors(
    app: Application, greet: Path, tmp_path: Path, inputs_name: str, message: str
) -> None:
    if inputs_name.endswith(".txt"):
        write(tmp_path / inputs_name, '{"name": "a"}\n')
    output = tmp_path / "out.jsonl"
    with pytest.raises(BatchError, match=message):
        run_batch(app, greet, tmp_path / inputs_name, output)
    assert not output.exists()


def test_unknown_executor_is_a_batch_error(app: Application, greet: Path, tmp_path: Path) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    with pytest.raises(BatchError, match="unknown executor 'threads'"):
        # mypy refuses the call (executor is a Literal); an untyped caller gets this error.
        run_batch(app, greet, inputs, tmp_path / "out.jsonl", executor="threads")  # type: ignore[arg-type]


def test_app_that_is_neither_an_application_nor_a_factory(greet: Path, tmp_path: Path) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    with pytest.raises(TypeError, match="app must be an Application"):
        run_batch(42, greet, inputs, tmp_path / "out.jsonl")  # type: ignore[arg-type]


async def test_run_batch_inside_a_running_loop_is_refused(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    output = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="use await arun_batch"):
        run_batch(app, greet, inputs, output)
    assert not output.exists()
    summary = await arun_batch(app, greet, inputs, output)
    assert summary.completed == 1


def test_a_row_with_a_lone_surrogate_does_not_stop_the_batch(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = write(tmp_path / "in.jsonl", '{"name": "a"}\n{"name": "\\ud800"}\n{"name": "c"}\n')
    output = tmp_path / "out.jsonl"
    summary = run_batch(app, greet, inputs, output, concurrency=1)
    assert summary.done == 3
    assert sorted(line["row"] for line in read_lines(output)) == [1, 2, 3]


class BrokenAgent(BaseAgent):
    """An agent whose constructor fails (registered as WaitAgent): no runner can be built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ValueError("no credentials for the CRM")


def test_an_agent_that_cannot_be_built_stops_the_batch_before_the_output_is_touched(
    tmp_path: Path,
) -> None:
    flow = write(
        tmp_path / "broken.csv",
        "GraphName,Node,AgentType,Input_Fields,Output_Field\nB,Fetch,WaitAgent,name,out\n",
    )
    rows = jsonl(tmp_path / "rows.jsonl", *names(3))
    output = tmp_path / "out.jsonl"
    with application(BrokenAgent) as app, pytest.raises(AgentMapError, match="no credentials"):
        run_batch(app, flow, rows, output, summary_file=tmp_path / "s.json")
    assert not output.exists()
    assert not (tmp_path / "s.json").exists()


class _WithoutFactory:
    """An application as a user may wrap one: settings, load and runner, but no factory."""

    def __init__(self, app: Application) -> None:
        self.settings = app.settings
        self.load = app.load
        self.runner = app.runner


def test_the_dask_executor_without_a_factory_stops_before_the_output_is_made(
    app: Application, greet: Path, tmp_path: Path
) -> None:
    inputs = jsonl(tmp_path / "in.jsonl", *names(1))
    output = tmp_path / "out.jsonl"
    with pytest.raises(BatchError, match="executor='dask' needs a picklable application factory"):
        run_batch(_WithoutFactory(app), greet, inputs, output, executor="dask")
    assert not output.exists()
