"""``agentmap serve`` refuses to start on a user's mistake, with the usual ``error:`` message.

Everything is checked before uvicorn binds a port: the workflows folder (every
CSV loaded and validated, graph names unique), the settings, and the state
store (opened once). Each mistake ends the command with exit 2 (1 for a store
that cannot be reached: the input may be fine), one ``error:`` message naming
the file/line/node or the setting, and no traceback. The commands run as a
user runs them; each gets a free loopback port so that a start-up that
wrongly succeeds cannot take a port another test uses (it is then killed by
the timeout and the test fails).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.server_support import free_port

HEADER = "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description\n"
GOOD = HEADER + "Hello,Say,echo,name,greeting,Hello {name},,,,Greets\n"


def serve(
    cwd: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {"AGENTMAP_ENV": "test", **(env or {})}
    return run_cli("serve", "--port", str(port or free_port()), *args, cwd=cwd, env=environ)


def assert_refused(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Exit ``code``, an ``error:`` message holding ``words``, no traceback; the message."""
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert done.stderr.startswith("error: "), output
    assert "Traceback" not in output
    assert 'File "' not in output
    assert "Uvicorn running" not in output  # refused before binding
    for word in words:
        assert word in done.stderr, (word, done.stderr)
    return done.stderr


def folder(tmp_path: Path, **files: str) -> Path:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    for name, text in files.items():
        (workflows / name).write_text(text, encoding="utf-8")
    return workflows


# ---------------------------------------------------------------- workflows


def test_a_bad_workflow_stops_start_up_with_file_line_and_node(tmp_path: Path) -> None:
    bad = HEADER + "Broken,Start,echo,x,y,,,Nowhere,,First node\n"
    workflows = folder(tmp_path, **{"a_good.csv": GOOD, "broken.csv": bad})
    message = assert_refused(
        serve(tmp_path, "--workflows", str(workflows)),
        2,
        "broken.csv:2",
        "graph 'Broken'",
        "node 'Start'",
        "Success_Next",
        "'Nowhere'",
    )
    assert len(message.strip().splitlines()) == 1


def test_every_problem_of_the_bad_file_is_listed(tmp_path: Path) -> None:
    bad = HEADER + "G,A,no_such_agent,x,y,,,B,,d\nG,B,also_missing,y,z,,,,,d\n"
    workflows = folder(tmp_path, **{"agents.csv": bad})
    message = assert_refused(
        serve(tmp_path, "--workflows", str(workflows)),
        2,
        "agents.csv:2",
        "agents.csv:3",
        "'no_such_agent'",
        "'also_missing'",
        "AgentType",
    )
    assert message.count("agents.csv:") == 2


def test_a_file_that_is_not_a_workflow(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"notes.csv": "just,some,columns\n1,2,3\n"})
    assert_refused(serve(tmp_path, "--workflows", str(workflows)), 2, "notes.csv")


def test_one_graph_name_in_two_files_names_both(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"first.csv": GOOD, "second.csv": GOOD})
    assert_refused(
        serve(tmp_path, "--workflows", str(workflows)),
        2,
        "first.csv",
        "second.csv",
        "'Hello'",
        "rename one",
    )


@pytest.mark.parametrize(
    ("make", "words"),
    [
        ("missing", ("does not exist", "--workflows")),
        ("empty", ("holds no .csv file", "--workflows")),
        ("other-files", ("holds no .csv file",)),
        ("a-file", ("does not exist",)),
    ],
)
def test_no_workflows_to_serve(tmp_path: Path, make: str, words: tuple[str, ...]) -> None:
    target = tmp_path / "flows"
    if make == "empty":
        target.mkdir()
    elif make == "other-files":
        target.mkdir()
        (target / "README.md").write_text("not a workflow", encoding="utf-8")
        (target / "flow.csv.bak").write_text(GOOD, encoding="utf-8")
    elif make == "a-file":
        target.write_text(GOOD, encoding="utf-8")
    message = assert_refused(serve(tmp_path, "--workflows", str(target)), 2, *words)
    assert str(target) in message or "flows" in message
    assert len(message.strip().splitlines()) == 1


def test_the_default_folder_is_named_when_missing(tmp_path: Path) -> None:
    """Without --workflows the server reads ./workflows (server.workflows)."""
    assert_refused(serve(tmp_path), 2, "workflows", "server.workflows")


# ---------------------------------------------------------------- settings and the state store


def test_postgres_that_cannot_be_reached(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    env = {
        "AGENTMAP_STATE__BACKEND": "postgres",
        "AGENTMAP_STATE__URL": "postgresql://agentmap:hunter2-pass@127.0.0.1:1/agentmap",
    }
    message = assert_refused(
        serve(tmp_path, "--workflows", str(workflows), env=env),
        1,
        "127.0.0.1:1",
        "state.url",
    )
    assert len(message.strip().splitlines()) == 1
    assert "hunter2-pass" not in message  # the URL's password is not printed


def test_postgres_without_a_url(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    message = assert_refused(
        serve(tmp_path, "--workflows", str(workflows), env={"AGENTMAP_STATE__BACKEND": "postgres"}),
        2,
        "state.url",
        "AGENTMAP_STATE__URL",
    )
    assert len(message.strip().splitlines()) == 1


def test_checkpoints_off(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    env = {"AGENTMAP_EXECUTION__CHECKPOINT": "false"}
    assert_refused(
        serve(tmp_path, "--workflows", str(workflows), env=env),
        2,
        "execution.checkpoint",
    )


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("AGENTMAP_SERVER__RATE_LIMIT", "-1", "server.rate_limit"),
        ("AGENTMAP_SERVER__MAX_BODY_BYTES", "0", "server.max_body_bytes"),
    ],
)
def test_invalid_settings_are_one_error(tmp_path: Path, name: str, value: str, field: str) -> None:
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    assert_refused(
        serve(tmp_path, "--workflows", str(workflows), env={name: value}), 2, name, field
    )


def test_a_key_pasted_in_place_of_its_hash_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A likely mistake, and the value is a live key: the message must not print it."""
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    key = "am_pasted-the-key-not-its-hash-0123456789"
    env = {"AGENTMAP_SERVER__API_KEYS": f'{{"ci": "{key}"}}'}
    message = assert_refused(
        serve(tmp_path, "--workflows", str(workflows), env=env), 2, "server.api_keys", "sha256"
    )
    assert key not in message


def test_a_port_in_use(tmp_path: Path) -> None:
    workflows = folder(tmp_path, **{"hello.csv": GOOD})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = assert_refused(
            serve(tmp_path, "--workflows", str(workflows), port=port),
            2,
            f"127.0.0.1:{port}",
            "--port",
        )
    assert len(message.strip().splitlines()) == 1
