"""``agentmap serve`` (the HTTP API and run viewer) and ``agentmap keys new`` (an API key).

Everything that can fail on a user's mistake is checked here, before uvicorn
starts, and ends the command with one ``error:`` line: a bad workflow (with
its file, line and node), an unreachable state store, a missing ``server``
extra, or a public address without an API key. See docs/serving.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentmap.cli.common import EnvOption, fail, guard, open_application

if TYPE_CHECKING:
    from fastapi import FastAPI

    from containers.application import Application

__all__ = ["keys_app", "serve", "worker_app"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

keys_app = typer.Typer(
    name="keys",
    help="API keys for agentmap serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (server.host; default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (server.port; default 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (server.workers; default 1).")
    ] = None,
    workflows: Annotated[
        Path | None,
        typer.Option(help="Folder of workflow CSVs to serve (server.workflows)."),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log a line per request (uvicorn's access log).")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Serve the workflows of a folder over HTTP: the /v1 API, events and the run viewer."""
    if env is not None:
        os.environ["AGENTMAP_ENV"] = env
    # Every answer is JSON, so the memory store refuses what JSON cannot hold
    # (NaN, sets...) as sqlite and postgres do: the node fails, not the response.
    os.environ.setdefault("AGENTMAP_STATE__CHECK_JSON", "true")
    application = guard(lambda: open_application(env))
    server = application.settings.server
    host = host or server.host
    port = server.port if port is None else port
    workers = workers or server.workers
    folder = workflows or server.workflows
    if host not in _LOOPBACK and not server.api_keys:
        fail(
            f"refusing to listen on {host} without an API key: anyone who can reach it could "
            "run workflows. Create one with `agentmap keys new NAME` and set server.api_keys, "
            "or bind 127.0.0.1"
        )
    _check_port(host, port)
    app = _build(application, folder)
    guard(lambda: _check_store(application))
    try:
        import uvicorn
    except ImportError:
        fail("agentmap serve needs the server extra: pip install 'agentmap[server]'")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_level": "info",
        # uvicorn waits this long for open requests; the run manager interrupts
        # runs at shutdown_grace, so a waiting request gets its answer first.
        "timeout_graceful_shutdown": int(server.shutdown_grace) + 5,
    }
    if workers == 1:
        _graceful_server(uvicorn)(uvicorn.Config(app, **options)).run()
        _exit_past_busy_threads(app)
        return
    # Each worker process builds its own application from the same settings.
    os.environ["AGENTMAP_SERVER__WORKFLOWS"] = str(Path(folder).resolve())
    uvicorn.run("agentmap.cli.serve:worker_app", factory=True, workers=workers, **options)


def _graceful_server(uvicorn: Any) -> Any:
    """A ``uvicorn.Server`` that exits 0 after a graceful shutdown on SIGTERM.

    uvicorn re-raises the signal it caught once it has shut down, with the
    default handler back, so the process would end "killed by SIGTERM" (143)
    although every run finished or was checkpointed. A clean stop exits 0, as
    gunicorn's and uvicorn's own multi-worker supervisor do; Ctrl-C (SIGINT) is
    still re-raised.
    """
    import contextlib
    import signal
    from collections.abc import Iterator

    class GracefulServer(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    captured = getattr(self, "_captured_signals", None)
                    if isinstance(captured, list):
                        captured[:] = [s for s in captured if s != signal.SIGTERM]

    return GracefulServer


def _exit_past_busy_threads(app: FastAPI) -> None:
    """Exit now if shutdown interrupted runs: their sync agents may still hold threads.

    A cancelled run cannot stop an agent's plain ``def process`` in its worker
    thread, and the interpreter waits for every such thread at exit, so the
    process would linger until the agent's call returns (a slow HTTP call, a
    sleep) although its run is already stored ``interrupted``. The store and
    the tracker were closed by the lifespan; only output buffers are left.
    """
    import sys

    if app.state.server.manager.interrupted:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (``--workers N``)."""
    from agentmap.server import create_app

    return create_app(open_application(None))


def _build(application: Application, folder: Path) -> FastAPI:
    try:
        from agentmap.server import create_app
    except ImportError as exc:
        fail(str(exc))
    try:
        return guard(lambda: create_app(application, workflows=folder))
    except ImportError as exc:
        fail(str(exc))


def _check_port(host: str, port: int) -> None:
    """Fail in one line when the address is taken, before anything is loaded or opened."""
    import socket

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)")


def _check_store(application: Application) -> None:
    """Open and close the state store once, so an unreachable one stops start-up cleanly."""
    import asyncio

    store = application.state_store

    async def check() -> None:
        await store.open()
        await store.close()

    asyncio.run(check())


@keys_app.command("new")
def new_key(
    name: Annotated[str, typer.Argument(help="A name for the key; logs show it, not the key.")],
) -> None:
    """Print a new random API key and the line that lets the server accept it."""
    import json
    import re

    from agentmap.server.auth import new_key as make

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        fail("a key name may hold letters, digits and _ . - (1 to 64 of them)")
    key, hashed = make()
    typer.echo(f"key: {key}")
    typer.echo("Give the key to the client; it is not stored anywhere. The server needs its hash:")
    typer.echo(f"  in a preset (server: api_keys:):  {name}: {hashed}")
    typer.echo(
        f"  or in the environment:  AGENTMAP_SERVER__API_KEYS='{json.dumps({name: hashed})}'"
    )
