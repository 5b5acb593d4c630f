"""``agentmap resume`` and ``agentmap runs`` (list, show, rerun, prune): durable runs.

Like main.py, this module imports only typer at load time (``agentmap --help``
must stay fast); the container, the store and the engine load when a command
runs. Each command does all its store work in one event loop and closes the
store in it, so a connection pool (postgres) ends where it was opened.

Every refusal is an ``AgentMapError`` from the library (``RunNotFoundError``,
``ResumeError``: exit 2; ``StateBackendError``, the store itself failing:
exit 1), printed as one line by ``guard``; none of them writes to the store.
See docs/durable-runs.md.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from agentmap.cli.common import EnvOption, JsonOption, fail, guard, open_application

if TYPE_CHECKING:
    from agentmap.runtime.result import RunResult
    from containers.application import Application

__all__ = ["parse_age", "parse_values", "resume", "run_with_store", "runs_app"]

T = TypeVar("T")

runs_app = typer.Typer(
    name="runs",
    help="Stored runs (state.backend sqlite or postgres): list, show, rerun from a step, prune.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RunIdArgument = Annotated[str, typer.Argument(help="The run's id (see `agentmap runs list`).")]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Go on although the workflow changed since the run started (replays "
        "the recorded steps through the graph as it is now).",
    ),
]


class StatusChoice(StrEnum):
    running = "running"
    suspended = "suspended"
    completed = "completed"
    failed = "failed"
    interrupted = "interrupted"
    cancelled = "cancelled"


#: Seconds per unit of ``--older-than``.
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])\s*", re.IGNORECASE)


def parse_age(text: str) -> float:
    """``30d`` -> seconds. Units s, m, h, d, w; a number without one is refused (30 what?)."""
    match = _AGE.fullmatch(text)
    if match is None:
        fail(
            f"--older-than {text!r} is not an age; write a number and a unit: "
            "s, m, h, d or w (e.g. 30d, 12h, 2w)"
        )
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_values(pairs: list[str] | None) -> dict[str, Any] | None:
    """``["approved=true", "note=ok"]`` -> ``{"approved": True, "note": "ok"}``.

    A value is JSON when it parses as JSON (``true``, ``3``, ``"3"``,
    ``{"a": 1}``) and the text as it is otherwise, so ``--set note=looks good``
    needs no quoting; to pass a text that looks like JSON, quote it as JSON
    (``--set code='"007"'``). None when no ``--set`` was given.
    """
    import json

    if not pairs:
        return None
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"--set {pair!r} is not field=value (e.g. --set approved=true)")
        if name in values:
            fail(f"--set gives field {name!r} twice; give each field once")
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values


def run_with_store(env: str | None, work: Callable[[Application], Awaitable[T]]) -> T:
    """``await work(application)`` in one event loop, then close the state store in it.

    A store that fails to close after ``work`` failed does not hide why
    ``work`` failed. ``AgentMapError`` ends the command (``guard``).
    """
    import asyncio

    from agentmap.runtime.runner import closing

    async def main() -> T:
        with open_application(env) as application:
            return await closing(work(application), application.state_store)

    return guard(lambda: asyncio.run(main()))


def _exit_for(result: RunResult) -> typer.Exit:
    """0 completed or suspended (waiting is not a failure), 1 failed."""
    return typer.Exit(1 if result.status == "failed" else 0)


def resume(
    run_id: RunIdArgument,
    values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="field=value for a suspended run's question; repeat per field. The value "
            'is read as JSON when it parses (true, 3, "x", {"a": 1}), else taken as text.',
        ),
    ] = None,
    force: ForceOption = False,
    workflow: Annotated[
        str | None,
        typer.Option(
            "--workflow",
            "-w",
            help="The workflow, file.csv[::Graph], when it is not where the run found it "
            "(default: the file the run recorded). A run of another graph is refused.",
        ),
    ] = None,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Go on with a stored run that failed, was interrupted or is suspended.

    Recorded steps are replayed, not run again; the node that was running when
    the process died runs again. Exit 0 completed (or suspended again), 1 failed,
    2 the run cannot be resumed as asked (unknown id, completed, wrong --set,
    changed workflow without --force).
    """
    given = parse_values(values)

    async def work(application: Application) -> RunResult:
        return await application.aresume(run_id, given, force=force, workflow=workflow)

    result = run_with_store(env, work)
    from agentmap.cli.output import print_result

    print_result(result, as_json=json_output, env=env)
    raise _exit_for(result)


@runs_app.command("list")
def list_runs(
    status: Annotated[
        StatusChoice | None, typer.Option("--status", "-s", help="Only runs in this status.")
    ] = None,
    graph: Annotated[
        str | None, typer.Option("--graph", "-g", help="Only runs of this graph.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="At most this many, newest first; 0: all.")
    ] = 50,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """List stored runs, newest first: id, graph, status, started, duration, last node."""

    async def work(application: Application) -> tuple[list[Any], str]:
        store = application.state_store
        await store.open()
        found = await store.list_runs(
            status=status.value if status is not None else None,
            graph=graph,
            limit=limit or None,
        )
        return found, application.settings.state.backend

    found, backend = run_with_store(env, work)
    from agentmap.cli.output import print_runs

    print_runs(found, as_json=json_output)
    if not found and backend == "memory" and not json_output:
        typer.echo(
            "note: state.backend is memory, which keeps runs only inside the process that "
            "ran them; set AGENTMAP_STATE__BACKEND=sqlite (or an --env that does) to keep them",
            err=True,
        )


@runs_app.command("show")
def show(run_id: RunIdArgument, env: EnvOption = None, json_output: JsonOption = False) -> None:
    """Show a run: the path taken, each step's outputs and errors, LLM cost, the state."""

    async def work(application: Application) -> Any:
        return await application.aload_run(run_id)

    stored = run_with_store(env, work)
    from agentmap.cli.output import print_stored_run

    print_stored_run(stored, as_json=json_output, env=env)


@runs_app.command("rerun")
def rerun(
    run_id: RunIdArgument,
    from_step: Annotated[
        int,
        typer.Option(
            "--from",
            min=0,
            help="Keep the run's steps up to this one (runs show numbers them) and run on "
            "from there; 0 starts over from the initial state.",
        ),
    ],
    force: ForceOption = False,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Fork a run at a step into a new run, and run that; the old run stays as it was."""

    async def work(application: Application) -> RunResult:
        return await application.arerun(run_id, from_step, force=force)

    result = run_with_store(env, work)
    if not json_output:
        typer.echo(f"rerun of run {run_id} from step {from_step}: new run {result.run_id}")
    from agentmap.cli.output import print_result

    print_result(result, as_json=json_output, env=env)
    raise _exit_for(result)


@runs_app.command("prune")
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Delete runs last updated longer ago than this: a number and a unit "
            "s, m, h, d or w (30d, 12h).",
        ),
    ],
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete old runs (any status) with their checkpoints; prints how many."""
    age = parse_age(older_than)

    async def work(application: Application) -> int:
        import time

        store = application.state_store
        await store.open()
        return await store.prune(time.time() - age)

    deleted = run_with_store(env, work)
    if json_output:
        typer.echo(f'{{"deleted": {deleted}}}')
    else:
        typer.echo(
            f"deleted {deleted} run{'s' if deleted != 1 else ''} last updated more than "
            f"{older_than.strip()} ago"
        )
