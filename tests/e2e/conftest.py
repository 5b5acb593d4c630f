"""Run the ``agentmap`` command as a subprocess, the way a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AGENTMAP = Path(sys.executable).with_name("agentmap")


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(AGENTMAP), *args],
        cwd=cwd or REPO,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args)`` runs in a scratch folder with the ``test`` preset unless told otherwise."""

    def invoke(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = {"AGENTMAP_ENV": "test"}
        env.update(kwargs.pop("env", {}) or {})  # type: ignore[arg-type]
        kwargs.setdefault("cwd", tmp_path)
        return run_cli(*args, env=env, **kwargs)  # type: ignore[arg-type]

    return invoke
