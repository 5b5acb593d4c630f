"""``agentmap resume`` and ``agentmap runs`` as a user runs them, on a SQLite store.

Every command is a fresh process, so what one stores the next one reads back
from the file, as after a restart. The bad-input tests check three things:
a one-line error, a non-zero exit, and a store left exactly as it was (every
row of both tables, and ``runs show --json`` of each run).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import run_cli

ASK_AGENT = '''
from typing import Any

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.interrupts import interrupt


class AskAgent(BaseAgent):
    """Waits for a person: the run suspends here until `agentmap resume --set approved=...`."""

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        return interrupt(f"Publish {inputs['draft']}?")["approved"]


class FlakyAgent(BaseAgent):
    """Fails while a file named ``down`` is in the working folder."""

    def process(self, inputs: dict[str, Any]) -> Any:
        import os

        if os.path.exists("down"):
            raise ConnectionError("the service is down")
        return f"fetched {inputs['title']}"
'''

FLOWS = (
    "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next\n"
    "Review,Draft,echo,title,draft,Draft: {title},Approve\n"
    "Review,Approve,custom:Ask,draft,approved,,Publish\n"
    "Review,Publish,echo,draft|approved,outcome,{draft} (approved: {approved}),\n"
    "Fetch,Get,custom:Flaky,title,page,,Show\n"
    "Fetch,Show,echo,page,shown,[{page}],\n"
    "Other,Hello,echo,,greeting,hello,Bye\n"
    "Other,Bye,echo,greeting,farewell,{greeting} and bye,\n"
)

Cli = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Store:
    """A folder with the workflow, its custom agent and a SQLite state store."""

    root: Path

    @property
    def csv(self) -> Path:
        return self.root / "flows.csv"

    @property
    def db(self) -> Path:
        return self.root / "state" / "runs.sqlite3"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"AGENTMAP_STATE__BACKEND": "sqlite", "AGENTMAP_STATE__PATH": str(self.db)}
        return run_cli(*args, "--env", "test", cwd=self.root, env=env)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = self.cli(*args)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def start_review(self, title: str = "Hi") -> str:
        result = self.json("run", f"{self.csv}::Review", "--state", json.dumps({"title": title}))
        assert result["status"] == "suspended"
        run_id: str = result["run_id"]
        return run_id

    def start_other(self) -> str:
        result = self.json("run", f"{self.csv}::Other")
        assert result["status"] == "completed"
        run_id: str = result["run_id"]
        return run_id

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the store, read with sqlite3 itself."""
        conn = sqlite3.connect(self.db)
        try:
            return {
                "runs": conn.execute("SELECT * FROM runs ORDER BY run_id").fetchall(),
                "steps": conn.execute("SELECT * FROM steps ORDER BY 1, 2").fetchall(),
            }
        finally:
            conn.close()


def make_store(root: Path) -> Store:
    (root / "custom_agents").mkdir(parents=True)
    (root / "custom_agents" / "ask.py").write_text(ASK_AGENT)
    (root / "flows.csv").write_text(FLOWS)
    return Store(root)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path)


def one_line_error(out: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with ``code`` and said why in exactly one line, no traceback."""
    assert out.returncode == code, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    err = out.stderr.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err, err
    return err


# ---------------------------------------------------------------------- suspend and resume


def test_a_suspended_run_says_where_it_waits_and_resume_goes_on(store: Store) -> None:
    out = store.ok("run", f"{store.csv}::Review", "--state", '{"title": "Hi"}')
    first = out.stdout.splitlines()[0]
    assert first.startswith("suspended: run ")
    run_id = first.split()[2]
    assert first == (
        f"suspended: run {run_id} waits at node 'Approve' for approved — Publish Draft: Hi?"
    )
    assert f"go on with: agentmap resume {run_id} --env test --set approved=..." in out.stdout
    assert "path: Draft" in out.stdout

    done = store.ok("resume", run_id, "--set", "approved=true")
    assert done.stdout.startswith("completed  graph Review  3 steps")
    assert '"outcome": "Draft: Hi (approved: True)"' in done.stdout
    shown = store.json("runs", "show", run_id)
    assert shown["status"] == "completed"
    assert shown["waiting"] is None
    assert shown["state"]["approved"] is True


@pytest.mark.parametrize(
    ("given", "value"),
    [
        ("true", True),
        ("3", 3),
        ('"3"', "3"),
        ('{"by": "ann", "ok": [1, null]}', {"by": "ann", "ok": [1, None]}),
        ("looks good, ship it", "looks good, ship it"),
        ("", ""),
    ],
)
def test_set_values_are_json_when_they_parse_else_text(
    store: Store, given: str, value: Any
) -> None:
    run_id = store.start_review()
    result = store.json("resume", run_id, "--set", f"approved={given}")
    assert result["status"] == "completed"
    assert result["state"]["approved"] == value
    assert type(result["state"]["approved"]) is type(value)


def test_resume_json_of_a_run_that_suspends_again(store: Store) -> None:
    """A fork from before the question asks it again: status and waiting in --json, exit 0."""
    run_id = store.start_review()
    store.ok("resume", run_id, "--set", "approved=no")
    again = store.json("runs", "rerun", run_id, "--from", "1")
    assert again["status"] == "suspended"
    assert again["run_id"] != run_id
    assert again["waiting"]["node"] == "Approve"
    assert again["waiting"]["fields"] == ["approved"]
    assert again["waiting"]["question"] == "Publish Draft: Hi?"


def test_a_failed_run_resumes_exit_1_while_it_fails_and_0_once_it_completes(
    store: Store,
) -> None:
    (store.root / "down").touch()
    out = store.cli("run", f"{store.csv}::Fetch", "--state", '{"title": "Hi"}', "--json")
    assert out.returncode == 1, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    again = store.cli("resume", run_id, "--json")
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout)["status"] == "failed"
    assert "the service is down" in json.loads(again.stdout)["error"]
    (store.root / "down").unlink()
    done = store.json("resume", run_id)
    assert done["status"] == "completed"
    assert done["state"]["shown"] == "[fetched Hi]"
    assert store.json("runs", "show", run_id)["status"] == "completed"


def test_a_moved_workflow_is_named_with_workflow(store: Store) -> None:
    run_id = store.start_review()
    moved = store.root / "moved.csv"
    store.csv.rename(moved)
    err = one_line_error(store.cli("resume", run_id, "--set", "approved=yes"), 2)
    assert "not there any more" in err
    assert "--workflow" in err
    done = store.json("resume", run_id, "--set", "approved=yes", "--workflow", str(moved))
    assert done["status"] == "completed"
    assert done["state"]["outcome"] == "Draft: Hi (approved: yes)"


# ---------------------------------------------------------------------- runs list / show


def test_runs_list_shows_the_stored_runs_newest_first_and_filters(store: Store) -> None:
    assert store.ok("runs", "list").stdout.strip() == "no stored runs match"
    assert store.json("runs", "list") == []
    suspended = store.start_review()
    completed = store.start_other()

    table = store.ok("runs", "list").stdout.splitlines()
    assert table[0].split() == ["id", "graph", "status", "started", "duration", "last", "node"]
    assert table[1].startswith(completed)
    assert table[1].split()[1:3] == ["Other", "completed"]
    assert table[1].split()[-1] == "Bye"
    assert table[2].startswith(suspended)
    assert table[2].split()[1:3] == ["Review", "suspended"]
    assert table[2].split()[-1] == "Draft"

    listed = store.json("runs", "list")
    assert [r["run_id"] for r in listed] == [completed, suspended]
    assert listed[0]["steps"] == 2
    assert listed[0]["workflow"] == str(store.csv.resolve())
    assert listed[0]["duration"] >= 0
    assert [r["run_id"] for r in store.json("runs", "list", "--status", "suspended")] == [suspended]
    assert [r["run_id"] for r in store.json("runs", "list", "--graph", "Other")] == [completed]
    assert store.json("runs", "list", "--graph", "Other", "--status", "failed") == []
    assert [r["run_id"] for r in store.json("runs", "list", "--limit", "1")] == [completed]


def test_runs_show_the_path_outputs_errors_and_the_question(store: Store) -> None:
    run_id = store.start_review("Hi")
    text = store.ok("runs", "show", run_id).stdout
    assert f"run {run_id}  graph Review  suspended  1 steps" in text
    assert "path: Draft" in text
    assert 'outputs: {"draft": "Draft: Hi"}' in text
    assert "last_action_success" not in text.split("state:")[0]
    assert "waits at node 'Approve' for approved — Publish Draft: Hi?" in text
    assert f"go on with: agentmap resume {run_id} --env test --set approved=..." in text

    shown = store.json("runs", "show", run_id)
    assert shown["status"] == "suspended"
    assert shown["path"] == ["Draft"]
    assert shown["waiting"]["question"] == "Publish Draft: Hi?"
    assert shown["initial_state"] == {"title": "Hi"}
    [step] = shown["steps"]
    assert step["node"] == "Draft"
    assert step["outputs"] == {"draft": "Draft: Hi"}
    assert step["route"] == ["Approve"]
    assert step["error"] is None
    assert shown["llm"] == {"calls": 0, "tokens": 0, "cost": None}
    assert shown["state"] == {"title": "Hi", "draft": "Draft: Hi", "last_action_success": True}


def test_runs_show_names_the_error_of_a_failed_step(store: Store) -> None:
    (store.root / "bad.csv").write_text(
        "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next\n"
        "Bad,Start,echo,,x,go,Fail\n"
        "Bad,Fail,failure,x,y,it broke on {x},\n"
    )
    out = store.cli("run", str(store.root / "bad.csv"), "--json")
    assert out.returncode == 1, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    shown = store.json("runs", "show", run_id)
    assert shown["status"] == "failed"
    assert shown["error"]
    failed = shown["steps"][-1]
    assert failed["node"] == "Fail"
    assert failed["ok"] is False
    assert "it broke on go" in failed["error"]
    text = store.ok("runs", "show", run_id).stdout
    assert "Fail  failed" in text
    assert "error: " in text


# ---------------------------------------------------------------------- rerun / prune


def test_rerun_forks_a_new_run_and_keeps_the_old_one(store: Store) -> None:
    run_id = store.start_other()
    before = store.json("runs", "show", run_id)
    out = store.ok("runs", "rerun", run_id, "--from", "1")
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"rerun of run {run_id} from step 1: new run ")
    new_id = first.rsplit(" ", 1)[1]
    assert new_id != run_id
    assert "completed  graph Other  2 steps" in out.stdout

    assert store.json("runs", "show", run_id) == before
    fork = store.json("runs", "show", new_id)
    assert fork["parent_run_id"] == run_id
    assert fork["forked_from_step"] == 1
    assert fork["status"] == "completed"
    assert fork["path"] == ["Hello", "Bye"]
    assert fork["state"] == before["state"]
    assert {r["run_id"] for r in store.json("runs", "list")} == {run_id, new_id}


def test_prune_deletes_old_runs_and_says_how_many(store: Store) -> None:
    store.start_other()
    store.start_review()
    kept = store.ok("runs", "prune", "--older-than", "1w")
    assert kept.stdout.strip() == "deleted 0 runs last updated more than 1w ago"
    assert len(store.json("runs", "list")) == 2
    gone = store.ok("runs", "prune", "--older-than", "0s")
    assert gone.stdout.strip() == "deleted 2 runs last updated more than 0s ago"
    assert store.json("runs", "list") == []
    assert store.rows() == {"runs": [], "steps": []}
    assert store.json("runs", "prune", "--older-than", "1.5h") == {"deleted": 0}


# ---------------------------------------------------------------------- bad input


@dataclass
class Stored:
    store: Store
    suspended: str
    completed: str

    def snapshot(self) -> tuple[Any, ...]:
        return (
            self.store.rows(),
            self.store.json("runs", "show", self.suspended),
            self.store.json("runs", "show", self.completed),
        )


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """One store for all the refusals: each must leave it as it was for the next."""
    store = make_store(tmp_path_factory.mktemp("refusals"))
    return Stored(store, store.start_review(), store.start_other())


UNKNOWN = "0123456789abcdef0123456789abcdef"

#: (command with {S} the suspended run, {C} the completed one, {csv} the workflow;
#:  exit status; words the one-line error must hold)
REFUSALS = [
    (["resume", UNKNOWN], 2, [f"no run '{UNKNOWN}'", "state.path", "runs list"]),
    (["runs", "show", UNKNOWN], 2, [f"no run '{UNKNOWN}'"]),
    (["runs", "rerun", UNKNOWN, "--from", "1"], 2, [f"no run '{UNKNOWN}'"]),
    (
        ["resume", "{S}", "--set", "approved=yes", "--workflow", "{csv}::Other"],
        2,
        ["run {S} is a run of graph 'Review', not 'Other'"],
    ),
    (["resume", "{C}"], 2, ["run {C} already completed", "runs rerun {C} --from STEP"]),
    (
        ["resume", "{S}", "--set", "colour=red"],
        2,
        ["waits at node 'Approve' for approved, not for 'colour'"],
    ),
    (["resume", "{C}", "--set", "approved=yes"], 2, ["already completed"]),
    (["resume", "{S}"], 2, ["waits at node 'Approve'", "--set approved=..."]),
    (["resume", "{S}", "--set", "approved"], 2, ["--set 'approved' is not field=value"]),
    (["resume", "{S}", "--set", "=yes"], 2, ["is not field=value"]),
    (
        ["resume", "{S}", "--set", "approved=1", "--set", "approved=2"],
        2,
        ["field 'approved' twice"],
    ),
    (["runs", "rerun", "{C}", "--from", "9"], 2, ["run {C} has no step 9; its steps are 1..2"]),
    (["runs", "prune", "--older-than", "30"], 2, ["--older-than '30' is not an age"]),
    (["runs", "prune", "--older-than", "soon"], 2, ["s, m, h, d or w"]),
]


@pytest.mark.parametrize(("command", "code", "words"), REFUSALS, ids=lambda v: str(v)[:40])
def test_bad_input_is_a_one_line_error_and_changes_nothing(
    stored: Stored, command: list[str], code: int, words: list[str]
) -> None:
    def fill(text: str) -> str:
        return text.format(S=stored.suspended, C=stored.completed, csv=stored.store.csv)

    before = stored.snapshot()
    err = one_line_error(stored.store.cli(*(fill(word) for word in command)), code)
    for word in words:
        assert fill(word) in err
    assert stored.snapshot() == before


def test_a_corrupt_row_is_named_and_the_other_runs_stay_readable(store: Store) -> None:
    broken = store.start_review()
    other = store.start_other()
    conn = sqlite3.connect(store.db)
    with conn:
        conn.execute(
            "UPDATE steps SET delta = ? WHERE step = 1 AND run_key = "
            "(SELECT id FROM runs WHERE run_id = ?)",
            ("{]x", broken),
        )
    conn.close()
    before = store.rows()
    intact = store.json("runs", "show", other)

    for command in (
        ["runs", "show", broken],
        ["resume", broken, "--set", "approved=yes"],
        ["runs", "rerun", broken, "--from", "1"],
    ):
        err = one_line_error(store.cli(*command), 1)
        assert broken in err
        assert "step 1" in err
        assert "state.path" in err
    assert store.rows() == before
    assert store.json("runs", "show", other) == intact
    assert {r["run_id"] for r in store.json("runs", "list")} == {broken, other}


class ReadOnly:
    """Makes a store's file and folder read-only (``lock``) and writable again (``unlock``).

    chmod 0444 / 0555 first; for root, who writes through those, the immutable
    attribute (chattr +i) instead; the test is skipped when neither holds.
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        self.folder = db.parent
        self.immutable: list[Path] = []

    def lock(self) -> None:
        files = [p for p in self.folder.iterdir() if p.is_file()]
        for path in files:
            path.chmod(0o444)
        self.folder.chmod(0o555)
        if not os.access(self.folder, os.W_OK) and not os.access(self.db, os.W_OK):
            return
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("running as root: chmod does not stop writes, and there is no chattr")
        for path in [*files, self.folder]:
            done = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"running as root: chmod does not stop writes ({done.stderr!r})")
            self.immutable.append(path)

    def unlock(self) -> None:
        while self.immutable:
            subprocess.run(["chattr", "-i", str(self.immutable.pop())], check=True)
        self.folder.chmod(0o755)
        for path in self.folder.iterdir():
            path.chmod(0o644)


@pytest.fixture
def read_only(store: Store) -> Iterator[ReadOnly]:
    locker = ReadOnly(store.db)
    yield locker
    locker.unlock()


def test_a_read_only_store_is_a_one_line_error_and_loses_nothing(
    store: Store, read_only: ReadOnly
) -> None:
    suspended = store.start_review()
    completed = store.start_other()
    before = (store.rows(), store.json("runs", "show", suspended))
    read_only.lock()
    for command in (
        ["resume", suspended, "--set", "approved=yes"],
        ["runs", "rerun", completed, "--from", "1"],
        ["runs", "prune", "--older-than", "0s"],
        ["run", f"{store.csv}::Other"],
    ):
        err = one_line_error(store.cli(*command), 1)
        assert "state.path" in err
        assert str(store.db) in err
    for command in (["runs", "list"], ["runs", "show", suspended]):
        # Reading may work or not (a WAL file needs its -shm beside it); either way, no
        # traceback and at most one line.
        out = store.cli(*command)
        if out.returncode != 0:
            one_line_error(out, 1)
    read_only.unlock()
    assert (store.rows(), store.json("runs", "show", suspended)) == before
    # And the run goes on once the store is writable again.
    assert store.json("resume", suspended, "--set", "approved=yes")["status"] == "completed"


def test_a_changed_workflow_is_refused_then_accepted_with_force(store: Store) -> None:
    run_id = store.start_review()
    store.csv.write_text(FLOWS.replace("{draft} (approved: {approved})", "OUT {draft}"))
    before = (store.rows(), store.json("runs", "show", run_id))
    err = one_line_error(store.cli("resume", run_id, "--set", "approved=yes"), 2)
    assert f"the workflow of run {run_id} (graph 'Review') changed" in err
    assert "Publish" in err
    assert "--force" in err
    assert (store.rows(), store.json("runs", "show", run_id)) == before

    done = store.json("resume", run_id, "--set", "approved=yes", "--force")
    assert done["status"] == "completed"
    assert done["state"]["outcome"] == "OUT Draft: Hi"
    assert store.json("runs", "show", run_id)["status"] == "completed"
