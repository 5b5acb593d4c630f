"""What every ``agentmap`` command shares: its options, the application, errors.

``main.py`` (run, validate, graph, config) and ``batch.py`` both build on this
module, so neither imports the other's internals; main only registers the
batch command. Like them, it imports only typer at load time: ``agentmap
--help`` must stay fast, so the container and the engine load when a command
runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from agentmap.errors import AgentMapError
    from containers.application import Application

__all__ = [
    "EnvOption",
    "GraphOption",
    "JsonOption",
    "WorkflowArgument",
    "fail",
    "guard",
    "open_application",
    "split_names",
]

T = TypeVar("T")

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        help="Environment preset (<env>.yaml: bundled, or in AGENTMAP_CONFIG_DIR); "
        "default AGENTMAP_ENV.",
    ),
]
GraphOption = Annotated[
    str | None, typer.Option("--graph", "-g", help="Graph to use when the CSV holds several.")
]
WorkflowArgument = Annotated[str, typer.Argument(help="CSV file, optionally file.csv::Graph.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with ``error: message`` on stderr and exit status ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guard(func: Callable[[], T], describe: Callable[[AgentMapError], str] = str) -> T:
    """Run ``func``; an ``AgentMapError`` ends the command with its message and exit status.

    ``describe`` words the message: the batch command uses it to name its
    flags where the library names its Python parameters.
    """
    from agentmap.errors import AgentMapError

    try:
        return func()
    except AgentMapError as exc:
        fail(describe(exc), exc.exit_code)


def open_application(env: str | None) -> Application:
    """The application of preset ``env``; use it as a context manager."""
    import gc

    from containers.application import create_application

    application = create_application(env)
    # Start-up is over (main() turned the collector off for it): move what it
    # allocated out of the collector's sight for good, and collect normally
    # from here on.
    gc.freeze()
    gc.enable()
    return application


def split_names(values: list[str] | None) -> list[str]:
    """``["a,b", "c|d"]`` -> ``["a", "b", "c", "d"]``: an option given as a list or repeated."""
    names = (name.strip() for value in values or () for name in re.split(r"[,|]", value))
    return [name for name in names if name]
