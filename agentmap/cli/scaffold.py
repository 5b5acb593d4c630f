"""``agentmap scaffold WORKFLOW``: write stubs for the agent types and routers a workflow lacks.

What is written is planned by ``agentmap.agents.scaffold`` (pure, tested on
its own); this module loads the workflow without checking its types, asks the
application which types it knows (built-ins, ``paths.custom_agents``, the
``custom_agents/`` folder beside the CSV), and writes or prints the plan. An
existing file is never replaced without ``--overwrite``. Like the other CLI
modules it imports only typer at load time: ``agentmap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentmap.cli.common import EnvOption, GraphOption, WorkflowArgument, guard, open_application

if TYPE_CHECKING:
    from agentmap.agents.scaffold import ScaffoldFile

__all__ = ["scaffold"]


def _plan(workflow: str, graph: str | None, env: str | None) -> tuple[Path, list[ScaffoldFile]]:
    from agentmap.agents.scaffold import plan_scaffold
    from agentmap.workflow import load_workflow, parse_workflow_ref, select_graph

    path, ref_graph = parse_workflow_ref(workflow)
    # No type check: the unknown types are what this command is for.
    spec = load_workflow(path)
    name = graph or ref_graph
    graphs = [select_graph(spec, name)] if name else list(spec.graphs.values())
    with open_application(env) as application:
        registry = application.registry_for([path])
        functions = (Path(application.settings.paths.functions),)
        return path, plan_scaffold(graphs, path, registry.__contains__, functions)


def scaffold(
    workflow: WorkflowArgument,
    graph: GraphOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written; write nothing.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files that already exist.")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Write stubs for the agent types and func: routers a workflow uses but nobody wrote.

    Per unknown agent type: a typed class in custom_agents/ beside the CSV
    (with the capability bases its Context "services" asks for) and a unit
    test in tests/ that fails until the agent is written. Per missing router:
    a function stub in functions/. Exit 0, 2 on a bad workflow.
    """
    path, planned = guard(lambda: _plan(workflow, graph, env))
    if not planned:
        typer.echo(f"nothing to scaffold: every agent type and router of {path} is found")
        return
    written = kept = 0
    for item in planned:
        exists = item.path.exists()
        if exists and not item.append and not overwrite:
            typer.echo(f"kept     {item.path} (exists; --overwrite replaces it): {item.what}")
            kept += 1
            continue
        action = "append to" if item.append else "overwrite" if exists else "write"
        if dry_run:
            typer.echo(f"would {action} {item.path}: {item.what}")
            typer.echo(_indent(item.content))
            continue
        item.path.parent.mkdir(parents=True, exist_ok=True)
        if item.append:
            with item.path.open("a", encoding="utf-8") as file:
                file.write(item.content)
        else:
            item.path.write_text(item.content, encoding="utf-8")
        past = {"write": "wrote", "overwrite": "replaced", "append to": "appended"}[action]
        typer.echo(f"{past:<8} {item.path}: {item.what}")
        written += 1
    if dry_run:
        typer.echo("dry run: nothing written")
    elif written:
        typer.echo(
            f"next: write the stubs (their tests fail until you do), then "
            f"agentmap validate {workflow}"
        )
    if kept:
        typer.echo(f"{kept} file(s) kept as they were", err=True)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines()) + "\n"
