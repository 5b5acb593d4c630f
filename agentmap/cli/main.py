"""The ``agentmap`` command: ``run``, ``validate``, ``graph``, ``config``, ``batch``,
``resume``, ``runs``, ``serve``, ``keys``, ``init`` and ``scaffold``.

Start-up time matters (``agentmap --help`` ≤ 0.3 s, a cold run ≤ 0.5 s), so this
module, like ``common.py`` (what the commands share), ``batch.py`` and ``runs.py``
(the batch, resume and runs commands, registered here), imports only typer; each
command imports the
container and the engine when it runs. Every user mistake ends as a
one-paragraph message and exit status 2 (1 for a run that failed), never a
traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentmap.cli.batch import batch
from agentmap.cli.common import (
    EnvOption,
    GraphOption,
    JsonOption,
    WorkflowArgument,
    fail,
    guard,
    open_application,
    split_names,
)
from agentmap.cli.init import init
from agentmap.cli.runs import resume, run_with_store, runs_app
from agentmap.cli.scaffold import scaffold
from agentmap.cli.serve import keys_app, serve

if TYPE_CHECKING:
    from agentmap.runtime.result import RunResult
    from containers.application import Application

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentmap",
    help="Run LLM-agent workflows written as CSV rows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    text = "text"


def _parse_state(state: str | None, state_file: Path | None) -> dict[str, Any]:
    import json

    if state is not None and state_file is not None:
        fail("use either --state or --state-file, not both")
    if state_file is not None:
        try:
            state = state_file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"--state-file {state_file}: {exc.strerror or exc}")
        source = str(state_file)
    else:
        source = "--state"
    if state is None:
        return {}
    try:
        value = json.loads(state)
    except json.JSONDecodeError as exc:
        fail(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(value, dict):
        fail(f"{source} must be a JSON object of field names to values, got {type(value).__name__}")
    return value


@app.command()
def run(
    workflow: WorkflowArgument,
    graph: GraphOption = None,
    state: Annotated[
        str | None, typer.Option("--state", "-s", help="Initial state as a JSON object.")
    ] = None,
    state_file: Annotated[
        Path | None, typer.Option("--state-file", help="File holding the initial state (JSON).")
    ] = None,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a workflow and print its result.

    Exit 0 completed, or suspended (a node waits for a person: it prints the
    `agentmap resume` command that goes on), 1 failed, 2 invalid input.
    """
    initial = _parse_state(state, state_file)

    async def execute(application: Application) -> tuple[RunResult, str]:
        result = await application.arun(workflow, initial, graph=graph)
        return result, application.settings.state.backend

    result, backend = run_with_store(env, execute)
    from agentmap.cli.output import print_result

    print_result(result, as_json=json_output, env=env)
    if result.status == "suspended" and backend == "memory":
        typer.echo(
            "warning: state.backend is memory, so this suspended run ends with this process "
            "and cannot be resumed; set AGENTMAP_STATE__BACKEND=sqlite (or an --env that "
            "does) to keep it",
            err=True,
        )
    raise typer.Exit(1 if result.status == "failed" else 0)


@app.command()
def validate(
    workflow: WorkflowArgument,
    graph: GraphOption = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--inputs",
            help="Fields the run's initial state supplies (a,b), on top of the CSV's "
            "'# inputs:' rows; used by the data-flow check.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Report data-flow warnings as errors (exit 2).")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Check a workflow CSV and report every problem with its line and node.

    Also reports, per node, input fields that may be unset when it runs: not
    written on every path to it, and not a declared run input.
    """
    given = split_names(inputs)

    def check() -> Any:
        from agentmap.cli.validation import validate_workflow

        with open_application(env) as application:
            return validate_workflow(application, workflow, graph, given, strict=strict)

    spec = guard(check)
    from agentmap.cli.output import print_validation

    print_validation(spec)


@app.command("graph")
def graph_command(
    workflow: WorkflowArgument,
    graph: GraphOption = None,
    output_format: Annotated[
        GraphFormat,
        typer.Option(
            "--format",
            "-f",
            help="mermaid: flowchart source (a .mmd file, a ```mermaid block); text: a tree.",
        ),
    ] = GraphFormat.mermaid,
    env: EnvOption = None,
) -> None:
    """Print a workflow's graph: its nodes, routes, fan-outs, loops and subgraph calls."""

    def draw() -> tuple[str, list[str]]:
        from agentmap.workflow import load_workflow, parse_workflow_ref, select_graph
        from agentmap.workflow.diagram import to_mermaid, to_text

        with open_application(env) as application:
            path, ref_graph = parse_workflow_ref(workflow)
            spec = load_workflow(path, agent_types=application.agent_types_for(path))
            chosen = select_graph(spec, graph or ref_graph)
        render = to_mermaid if output_format is GraphFormat.mermaid else to_text
        warnings = [str(w) for w in spec.warnings if w.graph in (None, chosen.name)]
        return render(chosen), warnings

    text, warnings = guard(draw)
    for warning in warnings:  # stderr, so that stdout can go to a .mmd file as it is
        typer.echo(f"warning: {warning}", err=True)
    sys.stdout.write(text)


@app.command()
def config(
    env: EnvOption = None,
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph", "-g", help="Also show each node's effective Context for this workflow."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show the effective settings (secrets redacted)."""

    def collect() -> tuple[dict[str, Any], dict[str, Any] | None]:
        from agentmap.settings import load_settings, redacted_settings

        settings = load_settings(env)
        nodes = None
        if graph is not None:
            from agentmap.workflow import load_graph
            from agentmap.workflow.overrides import effective_context

            _, chosen = load_graph(graph)
            nodes = {
                name: effective_context(node, settings.agents)
                for name, node in chosen.nodes.items()
            }
        return redacted_settings(settings), nodes

    shown, nodes = guard(collect)
    from agentmap.cli.output import print_config

    print_config(shown, nodes, as_json=json_output)


app.command()(batch)
app.command()(resume)
app.add_typer(runs_app, name="runs")
app.command()(serve)
app.add_typer(keys_app, name="keys")
app.command()(init)
app.command()(scaffold)


def main() -> None:
    """Console-script entry point."""
    import gc

    # Importing the engine allocates hundreds of thousands of objects and creates
    # almost no garbage cycles; collecting during it (and rescanning it all at
    # exit) costs tens of milliseconds of every command. open_application() turns
    # collection back on once the application is built.
    gc.disable()
    sys.exit(app())  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    main()
