"""The wheel is the product: build it, install it into a fresh virtualenv, use it there.

One module-scoped fixture builds the wheel from a copy of the working tree,
creates a new virtualenv in a temporary folder outside the repository and
installs ``agentmap[llm,openai,testing,server]`` with the pinned constraints. Every
command then runs from a temporary working folder with nothing of the
repository on ``sys.path``, as a user's would: ``agentmap run``, a durable run
suspended and resumed, ``validate``, ``config``, a user's own pytest file
using the shipped fixtures, a project written by ``agentmap init`` (run, then
its own pytest), and ``agentmap serve`` with its run viewer's static files,
which must come from the wheel.

Building needs setuptools as pinned in ``[build-system]`` and installing needs
the dependencies: pip gets both from the package index (or its cache). The
fixture takes about a minute, mostly installing litellm's dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO
from tests.server_support import free_port

EXTRAS = "llm,openai,testing,server"
TEXT = "the quick brown fox jumps over the lazy dog because the dog was lazy"

USER_FLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next,Failure_Next
Ask,Answer,llm,question,answer,Answer in one word: {question},Done,Failed
Ask,Done,success,answer,result,,,
Ask,Failed,failure,error,result,,,
"""

USER_TESTS = '''\
"""A user's own tests of their workflow, with the fixtures AgentMap's wheel ships."""

from pathlib import Path

import pytest
from dependency_injector import providers

from agentmap.testing import FakeLLMService
from containers.application import create_application

FLOW = Path(__file__).with_name("ask.csv")


def test_fake_llm_fixture(agentmap_app, fake_llm):
    fake_llm.default = "Paris"
    result = agentmap_app.run(FLOW, {"question": "Capital of France?"})
    assert result.status == "completed"
    assert result.path == ["Answer", "Done"]
    assert result.state["answer"] == "Paris"
    assert "Capital of France?" in fake_llm.last_call.prompt


def test_container_override(agentmap_app):
    llm = FakeLLMService(default="from the container")
    agentmap_app.container.services.llm.override(providers.Object(llm))
    try:
        result = agentmap_app.run(FLOW, {"question": "anything"})
    finally:
        agentmap_app.container.services.llm.reset_override()
    assert result.state["answer"] == "from the container"
    assert len(llm.calls) == 1


@pytest.mark.parametrize("backend", ["openai_http", "litellm"])
def test_backend_over_http_to_the_fake_server(fake_openai_server, backend):
    settings = {"backend": backend, "api_base": fake_openai_server.base_url, "api_key": "sk-user"}
    with create_application("test", llm=settings) as app:
        result = app.run(FLOW, {"question": "Capital of France?"})
    assert result.status == "completed", result.error
    assert result.state["answer"] == "echo: Answer in one word: Capital of France?"
    [request] = fake_openai_server.requests
    assert request.api_key == "sk-user"


def test_mocker_spies_on_the_fake_llm(agentmap_app, fake_llm, mocker):
    fake_llm.default = "ok"
    spy = mocker.spy(fake_llm, "acall_llm")
    assert agentmap_app.run(FLOW, {"question": "q"}).state["answer"] == "ok"
    assert spy.call_count == 1
'''


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a program of the new venv in the work folder, with a user's clean environment."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AGENTMAP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        return subprocess.run(
            [str(self.venv / "bin" / program), *args],
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _pip(*args: str) -> None:
    # The repo venv's pip, also for the new venv (--python): no ensurepip in it.
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the working tree: a build in the repository leaves
    # build/ behind, whose stale files would end up in later wheels.
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in ("agentmap", "containers"):
        shutil.copytree(REPO / package, source / package, ignore=skip)
    # Build isolation: pip builds with the setuptools version [build-system] pins.
    _pip("wheel", "--no-deps", "-w", str(root / "dist"), str(source))
    [wheel] = (root / "dist").glob("agentmap-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    constraints = str(REPO / "constraints.txt")
    _pip(
        "--python", str(venv / "bin" / "python"), "install", "-c", constraints, f"{wheel}[{EXTRAS}]"
    )

    work = root / "work"
    work.mkdir()
    shutil.copy2(REPO / "examples" / "quickstart.csv", work)
    shutil.copy2(REPO / "examples" / "approval.csv", work)
    shutil.copy2(REPO / "examples" / "data" / "post.json", work)
    shutil.copytree(REPO / "examples" / "custom_agents", work / "custom_agents", ignore=skip)
    (work / "ask.csv").write_text(USER_FLOW)
    (work / "test_user_flow.py").write_text(USER_TESTS)
    return Installed(venv, work)


def test_agentmap_is_imported_from_the_new_venv(installed: Installed) -> None:
    code = (
        "import json, agentmap, containers, agentmap.presets as p;"
        "print(json.dumps([agentmap.__file__, containers.__file__, p.__path__[0]]))"
    )
    done = installed.run("python", "-c", code)
    assert done.returncode == 0, done.stderr
    site = installed.venv / "lib"
    for path in map(Path, json.loads(done.stdout)):
        assert path.is_relative_to(site)
        assert not path.is_relative_to(REPO)
    assert sorted(p.name for p in Path(json.loads(done.stdout)[2]).glob("*.yaml")) == [
        "base.yaml",
        "demo.yaml",
        "development.yaml",
        "production.yaml",
        "test.yaml",
    ]


def test_agentmap_run_on_the_quickstart(installed: Installed) -> None:
    state = json.dumps({"text": TEXT})
    done = installed.run("agentmap", "run", "quickstart.csv", "--state", state, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["path"] == ["GetText", "CountWords", "CheckLength", "Summarize", "Done"]
    assert result["state"]["word_count"] == 14
    assert result["state"]["result"] == "Result: 14 words; most common: the, lazy, dog"


def test_a_durable_run_suspends_and_resumes_from_the_wheel(installed: Installed) -> None:
    """The development preset keeps runs in ./.agentmap/state.sqlite3 (stdlib sqlite3, no
    extra); the human agent suspends, `agentmap resume` goes on in another process."""
    done = installed.run("agentmap", "run", "approval.csv", "--state-file", "post.json", "--json")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["status"] == "suspended"
    assert first["waiting"]["node"] == "Review"
    assert (installed.work / ".agentmap" / "state.sqlite3").is_file()
    resumed = installed.run(
        "agentmap", "resume", first["run_id"], "--set", "approved=yes", "--json"
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "completed"
    assert result["path"][-2:] == ["Publish", "End"]
    listed = installed.run("agentmap", "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = {run["run_id"]: run for run in json.loads(listed.stdout)}
    assert runs[first["run_id"]]["status"] == "completed"


def test_agentmap_validate(installed: Installed) -> None:
    done = installed.run("agentmap", "validate", "quickstart.csv")
    assert done.returncode == 0, done.stderr
    assert "Quickstart" in done.stdout
    assert "6 nodes" in done.stdout
    broken = installed.run("agentmap", "validate", "ask.csv", "--graph", "Nope")
    assert broken.returncode == 2
    assert "Nope" in broken.stderr


def test_agentmap_config_production(installed: Installed) -> None:
    done = installed.run("agentmap", "config", "--env", "production", "--json")
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)["settings"]
    assert settings["environment"] == "production"
    assert (settings["llm"]["backend"], settings["cache"]["backend"]) == ("litellm", "redis")
    assert (settings["logging"]["format"], settings["llm"]["retries"]) == ("json", 3)
    unknown = installed.run("agentmap", "config", "--env", "staging")
    assert unknown.returncode == 2
    assert "demo, development, production, test" in unknown.stderr


def test_a_users_pytest_file_with_the_shipped_fixtures(installed: Installed) -> None:
    done = installed.run("pytest", "-q", "-p", "no:cacheprovider", "test_user_flow.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_agentmap_init_project_runs_and_passes_its_tests(installed: Installed) -> None:
    """`agentmap init` from the wheel (templates and presets are package data), then
    `agentmap run` and `pytest` in the new project with the venv's own binaries."""
    # Beside the work folder, not in it: `agentmap serve` below serves that folder's CSVs.
    parent = Installed(installed.venv, installed.work.parent / "projects")
    parent.work.mkdir()
    done = parent.run("agentmap", "init", "proj")
    assert done.returncode == 0, done.stderr
    project = parent.work / "proj"
    assert (project / "custom_agents" / "greeting.py").is_file()
    assert (project / "config" / "test.yaml").is_file()
    assert (project / ".env.example").is_file()
    in_project = Installed(installed.venv, project)
    state = json.dumps({"name": "Ada"})
    run = in_project.run("agentmap", "run", "hello.csv", "--state", state, "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "completed"
    assert result["state"]["result"] == "Hello, Ada! Welcome to AgentMap."
    tests = in_project.run("pytest", "-q")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout


def test_agentmap_serve_from_the_wheel(installed: Installed) -> None:
    """The server, its viewer page and Mermaid come from site-packages, not the checkout."""
    folder = installed.work  # its CSVs: quickstart (custom agents beside it), approval, ask
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen(
        [
            str(installed.venv / "bin" / "agentmap"),
            "serve",
            "--port",
            str(port),
            "--workflows",
            str(folder),
            "--env",
            "demo",
        ],
        cwd=installed.work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        page = httpx.get(f"{base}/", timeout=10)
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        mermaid = httpx.get(f"{base}/static/vendor/mermaid.min.js", timeout=10)
        assert mermaid.status_code == 200
        assert len(mermaid.content) > 100_000
        answer = httpx.post(
            f"{base}/v1/runs", json={"graph": "Quickstart", "state": {"text": TEXT}}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"]["word_count"] == 14
    finally:
        server.send_signal(signal.SIGTERM)
        out = server.communicate(timeout=30)[0]
    assert server.returncode == 0, out
