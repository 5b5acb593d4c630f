"""A user's ``containers.py`` beside their script: a clear error, never silently used.

Each test runs a real interpreter in a folder holding the user's files, the way
a user would: a script (its folder is ``sys.path[0]``), the ``agentmap`` command,
and pytest with the shipped fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import containers
from tests.e2e.conftest import AGENTMAP

OURS = str(Path(containers.__file__))
FLOW = (
    "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next\n"
    "Hello,Greet,echo,name,greeting,Hello {name},Done\n"
    "Hello,Done,success,greeting,result,,\n"
)
USER_TEST = """
from pathlib import Path


def test_hello(agentmap_app):
    result = agentmap_app.run(Path(__file__).with_name("flow.csv"), {"name": "Ada"})
    assert result.state["greeting"] == "Hello Ada"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: a workflow, a script that runs it, and their own ``containers.py``."""
    (tmp_path / "flow.csv").write_text(FLOW)
    (tmp_path / "containers.py").write_text("# the user's own dependency wiring\nWIRING = {}\n")
    (tmp_path / "run_flow.py").write_text(
        "import agentmap\n"
        "from containers import create_application\n"
        "print(create_application('test').run('flow.csv', {'name': 'Ada'}).status)\n"
    )
    (tmp_path / "test_flow.py").write_text(USER_TEST)
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    env.pop("PYTHONPATH", None)
    env.update(AGENTMAP_ENV="test", **extra)
    return env


def _run(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(**extra), capture_output=True, text=True, timeout=60
    )


def _assert_names_both_files_and_the_fix(text: str, theirs: Path) -> None:
    assert str(theirs) in text
    assert OURS in text
    assert "Rename your module" in text


def test_import_agentmap_in_a_script_refuses_the_users_containers(project: Path) -> None:
    done = _run(sys.executable, "run_flow.py", cwd=project)
    assert done.returncode != 0
    assert "ShadowedPackageError" in done.stderr
    _assert_names_both_files_and_the_fix(done.stderr, project / "containers.py")
    assert done.stdout == ""  # the workflow never ran on the wrong wiring


def test_the_command_prints_one_line_and_exits_2(project: Path) -> None:
    # The console script's sys.path[0] is its bin/ folder, so only PYTHONPATH
    # (a common setting: PYTHONPATH=.) brings the user's folder in front.
    done = _run(str(AGENTMAP), "run", "flow.csv", cwd=project, PYTHONPATH=str(project))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    _assert_names_both_files_and_the_fix(lines[0], project / "containers.py")


def test_the_command_without_pythonpath_runs_on_our_package(project: Path) -> None:
    done = _run(
        str(AGENTMAP), "run", "flow.csv", "--state", '{"name": "Ada"}', "--json", cwd=project
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["state"]["greeting"]) == ("completed", "Hello Ada")


def test_the_pytest_fixture_refuses_it_after_pytest_changes_sys_path(project: Path) -> None:
    # The pytest command imports the plugin before the test folder is on sys.path
    # (so ``import agentmap`` passes); the fixture checks again before wiring.
    pytest_cmd = str(Path(sys.executable).with_name("pytest"))
    done = _run(pytest_cmd, "-q", "-p", "no:cacheprovider", "test_flow.py", cwd=project)
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout
    assert "ShadowedPackageError" in done.stdout
    _assert_names_both_files_and_the_fix(done.stdout, project / "containers.py")
