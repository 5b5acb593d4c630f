"""The runs/resume commands' own pieces: --set and --older-than parsing, how runs print."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from typer.main import get_command

from agentmap.cli.main import app
from agentmap.cli.output import print_runs, print_stored_run, stored_run_dict
from agentmap.cli.runs import parse_age, parse_values
from agentmap.runtime.checkpoint import RunSummary, StepRecord, StoredRun, Waiting


def test_resume_and_runs_are_registered() -> None:
    group = get_command(app)
    assert isinstance(group, click.Group)
    assert {"resume", "runs"} <= set(group.commands)
    runs = group.commands["runs"]
    assert isinstance(runs, click.Group)
    assert set(runs.commands) == {"list", "show", "rerun", "prune"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 1209600)],
)
def test_ages_take_a_unit(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def test_ages_may_be_fractional_and_spaced() -> None:
    assert parse_age(" 1.5 H ") == 5400
    assert parse_age(".5d") == 43200


@pytest.mark.parametrize("text", ["30", "d", "30x", "-1d", "30 days", "", "1e3s"])
def test_an_age_without_a_known_unit_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(click.exceptions.Exit) as exited:
        parse_age(text)
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --older-than {text!r} is not an age")
    assert "\n" not in err


def test_set_values_are_json_when_they_parse() -> None:
    given = ["a=true", "b=3", 'c="3"', 'd={"x": [1]}', "e=plain words", "f=", "g=a=b"]
    assert parse_values(given) == {
        "a": True,
        "b": 3,
        "c": "3",
        "d": {"x": [1]},
        "e": "plain words",
        "f": "",
        "g": "a=b",
    }
    assert parse_values(None) is None
    assert parse_values([]) is None


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["approved"], "--set 'approved' is not field=value"),
        (["=yes"], "--set '=yes' is not field=value"),
        (["a=1", "a=2"], "--set gives field 'a' twice"),
    ],
)
def test_bad_set_values_are_one_line_errors(
    pairs: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(click.exceptions.Exit) as exited:
        parse_values(pairs)
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {message}")


def stored() -> StoredRun:
    return StoredRun(
        "r1",
        "G",
        "suspended",
        {"x": 1},
        steps=[
            StepRecord(
                1,
                "A",
                {"a": 2, "last_action_success": True},
                ("B",),
                usage={"calls": 2, "tokens": 30, "cost": 0.25},
            ),
            StepRecord(
                2,
                "B",
                {"error": "B broke", "last_action_success": False, "errors": [{"node": "B"}]},
                ("Ask",),
                ok=False,
                branch="0.1",
                visit=2,
                attempts=3,
                usage={"calls": 1, "tokens": 5, "cost": None},
            ),
        ],
        waiting=Waiting("Ask", "Go?", ("ok", "why")),
        created_at=100.0,
        updated_at=161.0,
    )


def test_a_stored_run_shows_outputs_without_runtime_keys_and_sums_usage() -> None:
    shown = stored_run_dict(stored())
    assert [s["outputs"] for s in shown["steps"]] == [{"a": 2}, {}]
    assert [s["error"] for s in shown["steps"]] == [None, "B broke"]
    assert shown["llm"] == {"calls": 3, "tokens": 35, "cost": 0.25}
    assert shown["waiting"]["fields"] == ["ok", "why"]
    assert shown["state"]["a"] == 2


def test_a_stored_run_prints_each_step_and_how_to_go_on(capsys: pytest.CaptureFixture[str]) -> None:
    print_stored_run(stored(), as_json=False, env="dev")
    text = capsys.readouterr().out
    assert "run r1  graph G  suspended  2 steps" in text
    assert "took 1m01s" in text
    assert "path: A -> B" in text
    assert 'outputs: {"a": 2}' in text
    assert "B [branch 0.1] (visit 2)  failed" in text
    assert "3 attempts  -> Ask" in text
    assert "error: B broke" in text
    assert "llm: 3 calls, 35 tokens, $0.250000" in text
    assert "suspended: run r1 waits at node 'Ask' for ok, why — Go?" in text
    assert "go on with: agentmap resume r1 --env dev --set ok=... --set why=..." in text


def test_runs_print_as_aligned_columns_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [
        RunSummary("r-long-id", "Graph", "failed", 0.0, 7200.0, steps=3, last_node="C"),
        RunSummary("r2", "G", "running", 0.0, 0.0004),
    ]
    print_runs(runs, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("id         graph  status   started")
    assert lines[1].split()[0] == "r-long-id"
    assert lines[1].split()[-2:] == ["2h00m", "C"]
    assert lines[2].split()[-3:] == ["0.4", "ms", "-"]
    assert lines[0].index("graph") == lines[1].index("Graph") == lines[2].index("G ")


def test_runs_print_as_a_json_list(capsys: pytest.CaptureFixture[str]) -> None:
    print_runs([RunSummary("r", "G", "completed", 1.0, 3.5, steps=2)], as_json=True)
    [row] = json.loads(capsys.readouterr().out)
    expected: dict[str, Any] = {"run_id": "r", "status": "completed", "duration": 2.5, "steps": 2}
    assert expected.items() <= row.items()
