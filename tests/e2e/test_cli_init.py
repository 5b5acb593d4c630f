"""``agentmap init``: a project that runs and passes its own tests at once.

Here with the repository's venv (the same check from a fresh venv built from
the wheel is in test_wheel.py): ``agentmap run`` from the project folder with
the default (development) environment, its presets read from the project's
``config/``, then ``pytest`` in the project, then ruff and mypy --strict on its
Python files. And the refusals: a non-empty folder without ``--force``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.code_checks import assert_clean_code
from tests.e2e.conftest import run_cli

FILES = [
    ".env.example",
    ".gitignore",
    "README.md",
    "ask.csv",
    "config/base.yaml",
    "config/development.yaml",
    "config/production.yaml",
    "config/test.yaml",
    "custom_agents/greeting.py",
    "hello.csv",
    "pyproject.toml",
    "tests/test_ask.py",
    "tests/test_greeting.py",
]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_init_then_run_and_pytest(tmp_path: Path) -> None:
    done = run_cli("init", "proj", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "proj"
    assert listing(project) == FILES
    assert "wrote    proj/custom_agents/greeting.py" in done.stdout
    assert "next: cd proj && agentmap run hello.csv" in done.stdout
    assert "# proj" in (project / "README.md").read_text()

    state = json.dumps({"name": "Ada"})
    run = run_cli("run", "hello.csv", "--state", state, "--json", cwd=project)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["path"] == ["GetName", "Greet", "Welcome"]
    assert result["state"]["result"] == "Hello, Ada! Welcome to AgentMap."
    # The development preset, read from the project's config/: runs kept in .agentmap/.
    assert (project / ".agentmap" / "state.sqlite3").is_file()
    config = run_cli("config", "--json", cwd=project)
    assert json.loads(config.stdout)["settings"]["environment"] == "development"

    for workflow in ("hello.csv", "ask.csv"):
        checked = run_cli("validate", workflow, cwd=project)
        assert checked.returncode == 0, checked.stderr
        assert "warning" not in checked.stdout + checked.stderr

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout


def test_the_project_code_passes_ruff_and_mypy_strict(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0  # DIR defaults to "."
    python = [tmp_path / name for name in FILES if name.endswith(".py")]
    assert_clean_code(tmp_path, python)


def test_a_non_empty_folder_is_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "hello.csv").write_text("mine\n")
    done = run_cli("init", str(tmp_path))
    assert done.returncode == 2
    assert "is not empty (hello.csv)" in done.stderr
    assert "--force" in done.stderr
    assert listing(tmp_path) == ["hello.csv"]
    assert (tmp_path / "hello.csv").read_text() == "mine\n"

    forced = run_cli("init", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"replaced {tmp_path / 'hello.csv'}" in forced.stdout
    assert f"wrote    {tmp_path / 'ask.csv'}" in forced.stdout
    assert listing(tmp_path) == FILES


def test_a_fresh_git_repository_counts_as_empty(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    done = run_cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hello.csv").is_file()


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "proj").write_text("")
    done = run_cli("init", "proj", cwd=tmp_path)
    assert done.returncode == 2
    assert "proj exists and is not a folder" in done.stderr
    assert "Traceback" not in done.stderr
