"""Checks on code AgentMap *writes* for users (``agentmap init``, ``agentmap scaffold``).

The generated files must pass the tools a user's project runs with their
defaults: ruff (the repository's rule set, but its default line length of 88,
and ``ruff format``) and ``mypy --strict``. Each tool runs as a subprocess from
the repository's venv, in the folder holding the files, with no configuration
of the repository in effect (``--isolated``, no mypy config in that folder).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
RULES = "E,F,W,I,B,UP,SIM,RUF,PT"


def _run(folder: Path, *command: str) -> None:
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


def assert_clean_code(folder: Path, files: list[Path]) -> None:
    """``files`` (under ``folder``) pass ruff check, ruff format --check and mypy --strict."""
    names = [str(f.relative_to(folder)) for f in files]
    ruff = str(BIN / "ruff")
    _run(
        folder, ruff, "check", "--isolated", "--select", RULES, "--target-version", "py311", *names
    )
    _run(folder, ruff, "format", "--isolated", "--check", *names)
    cache = str(folder / ".mypy_cache")
    # custom_agents/, tests/ and functions/ have no __init__.py: name modules from folder.
    _run(
        folder,
        str(BIN / "mypy"),
        "--strict",
        "--explicit-package-bases",
        "--cache-dir",
        cache,
        *names,
    )
