"""A real ``agentmap serve`` process on 127.0.0.1, for the integration and e2e tests.

The server runs as a user runs it: the ``agentmap`` console script of this
venv, a free port, its own working directory, settings from the environment.
``ServerProcess.stop`` sends SIGTERM (the graceful path) and ``kill`` SIGKILL;
both wait, so no test leaves a server behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_service

AGENTMAP = str(Path(sys.executable).with_name("agentmap"))
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    port: int
    log: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"agentmap serve exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"agentmap serve did not answer in {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout``); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_server(
    workflows: Path,
    cwd: Path,
    *,
    env: str = "test",
    env_vars: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int | None = None,
    wait: bool = True,
) -> ServerProcess:
    """Start ``agentmap serve`` on a free loopback port (wait until /healthz answers)."""
    port = port or free_port()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTMAP_") or k == "AGENTMAP_REQUIRE_SERVICES"
    }
    environ.update(env_vars or {})
    log = cwd / f"server-{port}.log"
    with log.open("a") as out:
        proc = subprocess.Popen(
            [
                AGENTMAP,
                "serve",
                "--port",
                str(port),
                "--workflows",
                str(workflows),
                "--env",
                env,
                *args,
            ],
            cwd=cwd,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = ServerProcess(proc, port, log, cwd, dict(env_vars or {}))
    if wait:
        server.wait_ready()
    return server


@contextmanager
def running_server(workflows: Path, cwd: Path, **kwargs: object) -> Iterator[ServerProcess]:
    server = start_server(workflows, cwd, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_schema(prefix: str = "serve") -> Iterator[dict[str, str]]:
    """Settings for a state store in a fresh Postgres schema, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    psycopg = pytest.importorskip("psycopg")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield {
            "AGENTMAP_STATE__BACKEND": "postgres",
            "AGENTMAP_STATE__URL": PG_URL,
            "AGENTMAP_STATE__SCHEMA_NAME": schema,
        }
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
