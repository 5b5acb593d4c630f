"""agentmap.client against a real `agentmap serve` (uvicorn subprocess on 127.0.0.1).

One server per module (start-up is the slow part); each test uses its own
runs. What is pinned: every method's answer from the real server, the
problem+json errors as AgentMapAPIError, the event stream (whole, and resumed
after an id), batches, API keys, and a stopped server as a connection error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmap.client import (
    AgentMapAPIError,
    AgentMapClient,
    AgentMapConnectionError,
    AsyncAgentMapClient,
    Event,
)
from tests.server_support import ServerProcess, running_server

REPO = Path(__file__).resolve().parents[2]
ECHO = """GraphName,Node,AgentType,Input_Fields,Output_Field,Edge
Echo,A,echo,x,x,B
Echo,B,echo,x,x,C
Echo,C,echo,x,x,
"""
KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("client")
    workflows = tmp / "workflows"
    workflows.mkdir()
    (workflows / "echo.csv").write_text(ECHO)
    (workflows / "approval.csv").write_text((REPO / "examples" / "approval.csv").read_text())
    with running_server(workflows, tmp) as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[AgentMapClient]:
    with AgentMapClient(server.url, timeout=30) as http:
        yield http


def kinds(events: list[Event]) -> list[str]:
    return [e.event for e in events]


# -- sync ----------------------------------------------------------------------------------


def test_health_and_graphs(client: AgentMapClient) -> None:
    assert client.health() == {"status": "ok"}
    assert client.ready()["status"] == "ready"
    names = {g["name"]: g for g in client.graphs()}
    assert set(names) == {"Echo", "Approval"}
    assert names["Echo"]["nodes"] == 3
    echo = client.graph("Echo")
    assert [n["name"] for n in echo["nodes"]] == ["A", "B", "C"]
    assert {(e["source"], e["target"]) for e in echo["edges"]} == {("A", "B"), ("B", "C")}
    assert echo["mermaid"].startswith("flowchart")


def test_run_then_read_it_back(client: AgentMapClient) -> None:
    result = client.run("Echo", {"x": 41}, run_id="client-run-1")

    assert result["status"] == "completed"
    assert result["run_id"] == "client-run-1"
    assert result["path"] == ["A", "B", "C"]
    assert result["state"]["x"] == 41
    stored = client.get_run("client-run-1")
    assert stored["status"] == "completed"
    assert [s["node"] for s in stored["steps"]] == ["A", "B", "C"]
    listed = client.list_runs(graph="Echo", status="completed", limit=500)
    assert "client-run-1" in {r["run_id"] for r in listed["runs"]}
    with pytest.raises(AgentMapAPIError) as again:
        client.run("Echo", {"x": 1}, run_id="client-run-1")
    assert (again.value.status, again.value.slug) == (409, "run-exists")


def test_unknown_graph_is_a_404_problem(client: AgentMapClient) -> None:
    with pytest.raises(AgentMapAPIError) as caught:
        client.run("Ecko", {"x": 1})

    error = caught.value
    assert error.status == 404
    assert error.slug == "unknown-graph"
    assert "Ecko" in (error.detail or "")
    assert error.problem["status"] == 404
    with pytest.raises(AgentMapAPIError) as missing:
        client.get_run("no-such-run")
    assert (missing.value.status, missing.value.slug) == (404, "run-not-found")


def test_missing_inputs_name_the_field(client: AgentMapClient) -> None:
    with pytest.raises(AgentMapAPIError) as caught:
        client.run("Approval", {"title": "Hello"})  # declares `# inputs: title, body`
    assert (caught.value.status, caught.value.slug) == (422, "missing-inputs")
    assert [e["field"] for e in caught.value.errors] == ["state.body"]
    assert "state.body" in str(caught.value)


def test_events_of_a_run_whole_and_after_an_id(client: AgentMapClient) -> None:
    started = client.run("Echo", {"x": 1}, wait=False)
    assert started["status"] in {"running", "completed"}
    run_id = started["run_id"]

    events = list(client.events(run_id))
    assert kinds(events)[0] == "run_started"
    assert kinds(events)[-1] == "run_finished"
    assert kinds(events).count("node_finished") == 3
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.data["run_id"] == run_id for e in events)
    assert events[-1].data["status"] == "completed"
    later = list(client.events(run_id, last_event_id=events[2].id))
    assert later == events[3:]


def test_suspend_resume_and_cancel(client: AgentMapClient) -> None:
    result = client.run("Approval", {"title": "Hello", "body": "World"})
    assert result["status"] == "suspended"
    assert result["waiting"]["node"] == "Review"
    assert client.get_run(result["run_id"])["status"] == "suspended"

    done = client.resume(result["run_id"], {"approved": "yes"})
    assert done["status"] == "completed"
    assert done["state"]["result"].startswith("Published: Hello")
    with pytest.raises(AgentMapAPIError) as caught:
        client.resume(result["run_id"])
    assert (caught.value.status, caught.value.slug) == (409, "not-resumable")
    with pytest.raises(AgentMapAPIError) as ended:
        client.cancel(result["run_id"])
    assert (ended.value.status, ended.value.slug) == (409, "not-running")


def test_batch_rows_and_file(client: AgentMapClient, tmp_path: Path) -> None:
    batch = client.submit_batch("Echo", [{"id": f"r{i}", "x": i} for i in range(5)], id_field="id")
    assert batch["status"] == "running"
    final = client.wait_batch(batch["batch_id"])
    assert (final["status"], final["total"], final["succeeded"]) == ("completed", 5, 5)
    rows = {r["id"]: r for r in client.batch_results(batch["batch_id"])}
    assert rows.keys() == {f"r{i}" for i in range(5)}
    assert {r["status"] for r in rows.values()} == {"completed"}
    assert rows["r3"]["output"]["x"] == 3
    events = list(client.batch_events(batch["batch_id"]))  # replayed once it ended
    assert events[-1].event == "finished"
    assert events[-1].data["status"] == "completed"

    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"x": i}) + "\n" for i in range(3)))
    from_file = client.submit_batch("Echo", path, concurrency=2)
    assert client.wait_batch(from_file["batch_id"])["succeeded"] == 3
    with pytest.raises(AgentMapAPIError) as caught:
        client.get_batch("no-such-batch")
    assert caught.value.status == 404


# -- async ---------------------------------------------------------------------------------


async def test_async_client_runs_streams_and_raises(server: ServerProcess) -> None:
    async with AsyncAgentMapClient(server.url) as client:
        assert (await client.health())["status"] == "ok"
        assert "Echo" in {g["name"] for g in await client.graphs()}
        result = await client.run("Echo", {"x": 7})
        assert result["status"] == "completed"
        events = [event async for event in client.events(result["run_id"])]
        assert kinds(events)[0] == "run_started"
        assert events[-1].event == "run_finished"
        assert (await client.get_run(result["run_id"]))["state"]["x"] == 7
        page = await client.list_runs(limit=1)
        assert len(page["runs"]) == 1
        with pytest.raises(AgentMapAPIError) as caught:
            await client.graph("Nope")
        assert caught.value.status == 404
        batch = await client.submit_batch("Echo", [{"x": 1}, {"x": 2}])
        assert (await client.wait_batch(batch["batch_id"]))["succeeded"] == 2
        assert len([row async for row in client.batch_results(batch["batch_id"])]) == 2


# -- keys and a server that is gone ------------------------------------------------------------


def test_api_key_and_a_stopped_server(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "echo.csv").write_text(ECHO)
    hashed = "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()
    env = {"AGENTMAP_SERVER__API_KEYS": json.dumps({"ci": hashed})}
    with running_server(workflows, tmp_path, env_vars=env) as server:
        with AgentMapClient(server.url) as anonymous, pytest.raises(AgentMapAPIError) as caught:
            anonymous.graphs()
        assert caught.value.status == 401
        assert caught.value.headers.get("www-authenticate", "").startswith("Bearer")
        with AgentMapClient(server.url, api_key=KEY) as keyed:
            assert keyed.run("Echo", {"x": 1})["status"] == "completed"
    with (
        AgentMapClient(server.url, api_key=KEY, timeout=5) as late,
        pytest.raises(AgentMapConnectionError),
    ):
        late.health()
