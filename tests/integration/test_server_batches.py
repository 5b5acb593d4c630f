"""``POST /v1/batches`` against a real ``agentmap serve``: uploads, progress, results, bad input.

The server is a uvicorn subprocess on a loopback port (tests/server_support.py);
the rows run through the batch engine of ``agentmap batch`` inside it. The
graphs use two custom agents beside the CSV: ``Fragile`` fails rows whose name
holds "bad", and ``Gate`` holds a row until a file exists, so a test can look
at a batch while it runs without sleeping for it.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmap.client import AgentMapClient
from tests.server_support import ServerProcess, postgres_schema, running_server, start_server

WORKFLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description
# inputs(Greet): name
# inputs(Gated): name|gate
Greet,Hello,echo,name,greeting,Hello {name},,Check,,Say hello
Greet,Check,custom:Fragile,greeting,loud,,,,,Shout it unless the name is bad
Gated,Wait,custom:Gate,name|gate,waited,,,,,Wait until the row's gate file exists
"""

AGENTS = """\
import asyncio
from pathlib import Path
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class FragileAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        greeting = str(inputs["greeting"])
        if "bad" in greeting:
            raise ValueError(f"refusing {greeting!r}")
        return greeting.upper()


class GateAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        gate = inputs["gate"]
        while gate and not Path(gate).exists():
            await asyncio.sleep(0.02)
        return f"{inputs['name']} passed"
"""

MAX_BATCH_BYTES = 200_000
PROBLEM = "application/problem+json"


def write_workflows(root: Path) -> Path:
    folder = root / "workflows"
    (folder / "custom_agents").mkdir(parents=True)
    (folder / "flows.csv").write_text(WORKFLOW, encoding="utf-8")
    (folder / "custom_agents" / "test_agents.py").write_text(AGENTS, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("batches")
    env = {"AGENTMAP_SERVER__MAX_BATCH_BYTES": str(MAX_BATCH_BYTES)}
    with running_server(write_workflows(root), root, env_vars=env) as running:
        yield running


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def submit(http: httpx.Client, body: bytes, **params: Any) -> httpx.Response:
    params.setdefault("graph", "Greet")
    params = {name: value for name, value in params.items() if value is not None}
    headers = {"Content-Type": "application/x-ndjson"}
    return http.post("/v1/batches", params=params, content=body, headers=headers)


def events(
    http: httpx.Client, batch_id: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every SSE message of a batch's stream, until the server ends it (after ``finished``)."""
    out: list[dict[str, Any]] = []
    message: dict[str, Any] = {}
    path = f"/v1/batches/{batch_id}/events"
    with http.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "data" in message:
                    out.append(message)
                message = {}
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                message["id"] = int(value)
            elif name == "event":
                message["event"] = value
            elif name == "data":
                message["data"] = json.loads(value)
    return out


def results(http: httpx.Client, batch_id: str) -> tuple[httpx.Response, list[dict[str, Any]]]:
    response = http.get(f"/v1/batches/{batch_id}/results")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return response, [json.loads(line) for line in response.text.splitlines()]


def batch_dirs(server: ServerProcess) -> set[str]:
    root = server.cwd / ".agentmap" / "batches"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def greet_rows(count: int, bad: set[int]) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i}", "name": f"bad{i}" if i in bad else f"n{i}"} for i in range(1, count + 1)
    ]


def test_a_jsonl_batch_runs_every_row_reports_progress_and_keeps_its_results(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = submit(http, jsonl(greet_rows(50, bad={7, 23})), id_field="id", concurrency=4)
    assert response.status_code == 202, response.text
    body = response.json()
    batch_id = body["batch_id"]
    assert body | {"batch_id": "-"} == {
        "batch_id": "-",
        "graph": "Greet",
        "status": "running",
        "total": 50,
    }
    assert response.headers["location"] == f"/v1/batches/{batch_id}"

    stream = events(http, batch_id)
    assert [m["id"] for m in stream] == list(range(1, len(stream) + 1))
    progress = [m["data"] for m in stream if m["event"] == "progress"]
    assert [m["event"] for m in stream[-1:]] == ["finished"]
    assert len(progress) == len(stream) - 1
    done = [p["done"] for p in progress]
    assert done == sorted(done)
    assert done[0] == 0
    assert len(set(done)) > 2  # it moved, in order
    assert progress[-1] | {"timestamp": 0} == {
        "batch_id": batch_id,
        "graph": "Greet",
        "event": "progress",
        "timestamp": 0,
        "total": 50,
        "done": 50,
        "succeeded": 48,
        "failed": 2,
        "suspended": 0,
    }
    finished = stream[-1]["data"]
    assert (finished["status"], finished["error"]) == ("completed", None)
    assert (finished["summary"]["completed"], finished["summary"]["failed"]) == (48, 2)
    assert finished["summary"]["top_errors"][0]["rows"] == 2

    status = http.get(f"/v1/batches/{batch_id}").json()
    assert {k: status[k] for k in ("status", "total", "done", "succeeded", "failed")} == {
        "status": "completed",
        "total": 50,
        "done": 50,
        "succeeded": 48,
        "failed": 2,
    }
    assert status["finished_at"] >= status["started_at"]
    assert status["summary"]["rows"] == 50

    reply, lines = results(http, batch_id)
    assert reply.headers["x-batch-status"] == "completed"
    assert sorted(line["row"] for line in lines) == list(range(1, 51))
    for line in lines:
        i = line["row"]
        assert (line["id"], line["line"]) == (f"r{i}", i)
        if i in (7, 23):
            assert line["status"] == "failed"
            assert f"refusing 'Hello bad{i}'" in line["error"]
        else:
            assert line["status"] == "completed", line
            assert line["output"] == {"greeting": f"Hello n{i}", "loud": f"HELLO N{i}"}

    folder = server.cwd / ".agentmap" / "batches" / batch_id
    assert (folder / "results.jsonl").read_text().count("\n") == 50
    assert (folder / "inputs.jsonl").read_bytes() == jsonl(greet_rows(50, bad={7, 23}))
    assert json.loads((folder / "summary.json").read_text())["completed"] == 48


def test_a_batch_stream_replays_from_the_start_and_after_last_event_id(
    http: httpx.Client,
) -> None:
    batch_id = submit(http, jsonl(greet_rows(10, bad=set()))).json()["batch_id"]
    first = events(http, batch_id)
    assert events(http, batch_id) == first  # a finished batch replays its whole stream
    assert len(first) >= 3
    after = first[1]["id"]
    assert events(http, batch_id, headers={"Last-Event-ID": str(after)}) == first[2:]
    assert events(http, batch_id, last_event_id=after) == first[2:]
    assert events(http, batch_id, last_event_id=first[-1]["id"]) == []


def test_a_multipart_upload_with_blank_lines_runs_like_a_jsonl_body(
    http: httpx.Client,
) -> None:
    body = b'\xef\xbb\xbf{"name": "a"}\n\n{"name": "b"}\r\n   \n{"name": "c"}'  # BOM, CRLF, no final \n
    files = {"file": ("rows.jsonl", body, "application/octet-stream")}
    response = http.post("/v1/batches", params={"graph": "Greet"}, files=files)
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    assert response.json()["total"] == 3
    assert events(http, batch_id)[-1]["data"]["status"] == "completed"
    _, lines = results(http, batch_id)
    by_row = {line["row"]: line for line in lines}
    assert {r: (by_row[r]["line"], by_row[r]["output"]["loud"]) for r in by_row} == {
        1: (1, "HELLO A"),
        2: (3, "HELLO B"),
        3: (5, "HELLO C"),
    }


def test_results_while_a_batch_runs_are_the_rows_finished_so_far(
    server: ServerProcess, http: httpx.Client
) -> None:
    gate = server.cwd / "gate-open"
    rows = [{"name": f"n{i}", "gate": ""} for i in range(3)] + [{"name": "slow", "gate": str(gate)}]
    batch_id = submit(http, jsonl(rows), graph="Gated").json()["batch_id"]
    with http.stream("GET", f"/v1/batches/{batch_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and json.loads(line[5:])["done"] == 3:
                break
    status = http.get(f"/v1/batches/{batch_id}").json()
    assert (status["status"], status["done"], status["summary"]) == ("running", 3, None)
    reply, lines = results(http, batch_id)
    assert reply.headers["x-batch-status"] == "running"
    assert sorted(line["output"]["waited"] for line in lines) == [
        "n0 passed",
        "n1 passed",
        "n2 passed",
    ]
    gate.touch()
    assert events(http, batch_id)[-1]["data"]["status"] == "completed"
    _, lines = results(http, batch_id)
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("body", "params", "status", "slug", "field", "words"),
    [
        (
            b'{"name": "a"}\n{"name": "b"}\n[1, 2]\n',
            {},
            422,
            "invalid-request",
            "line 3",
            "expected a JSON object, got an array",
        ),
        (b'{"name": "a"}\n{"name": \n', {}, 422, "invalid-request", "line 2", "not valid JSON"),
        (b'"just a string"', {}, 422, "invalid-request", "line 1", "got a string"),
        (b'{"name": "a"}\n\n{"nom": "b"}\n', {}, 422, "missing-inputs", "line 3.name", "missing"),
        (
            b'{"name": "a", "id": 1}\n{"name": "b"}\n',
            {"id_field": "id"},
            422,
            "missing-inputs",
            "line 2.id",
            "missing",
        ),
        (b"", {}, 422, "invalid-request", "body", "holds no rows"),
        (b"\n  \n", {}, 422, "invalid-request", "body", "only blank lines"),
        (
            b'{"name": "a"}\n',
            {"graph": "Gret"},
            404,
            "unknown-graph",
            "graph",
            "did you mean 'Greet'",
        ),
        (
            b'{"name": "a"}\n',
            {"concurrency": 100000},
            422,
            "invalid-request",
            "concurrency",
            "at most",
        ),
        (b'{"name": "a"}\n', {"concurrency": 0}, 422, "invalid-request", "concurrency", ""),
    ],
)
def test_bad_uploads_are_refused_with_a_problem_naming_the_line(
    server: ServerProcess,
    http: httpx.Client,
    body: bytes,
    params: dict[str, Any],
    status: int,
    slug: str,
    field: str,
    words: str,
) -> None:
    before = batch_dirs(server)
    response = submit(http, body, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"urn:agentmap:problem:{slug}"
    assert problem["status"] == status
    assert problem["errors"][0]["field"] == field
    assert words in problem["detail"] + problem["errors"][0]["message"]
    assert "Traceback" not in response.text
    assert batch_dirs(server) == before  # nothing of a refused upload stays on disk


def test_many_bad_lines_are_listed_up_to_a_limit(http: httpx.Client) -> None:
    response = submit(http, b"[]\n" * 100)
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [f"line {i}" for i in range(1, 21)]
    assert "(and 19+ more)" in problem["detail"]


def test_wrong_content_type_missing_file_part_and_missing_graph_are_refused(
    http: httpx.Client,
) -> None:
    wrong = http.post(
        "/v1/batches",
        params={"graph": "Greet"},
        content=b'{"name": "a"}\n',
        headers={"Content-Type": "application/json"},
    )
    assert wrong.status_code == 415
    assert wrong.json()["type"] == "urn:agentmap:problem:unsupported-media-type"
    assert "application/x-ndjson" in wrong.json()["detail"]

    no_file = http.post(
        "/v1/batches", params={"graph": "Greet"}, files={"rows": ("r.jsonl", b'{"name": "a"}')}
    )
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "file"
    assert "'rows'" in no_file.json()["detail"]

    no_graph = submit(http, b'{"name": "a"}\n', graph=None)
    assert no_graph.status_code == 422
    assert no_graph.json()["errors"][0]["field"] == "graph"


def test_an_upload_over_max_batch_bytes_is_413(server: ServerProcess, http: httpx.Client) -> None:
    before = batch_dirs(server)
    row = json.dumps({"name": "x" * 1000}).encode() + b"\n"
    response = submit(http, row * (MAX_BATCH_BYTES // len(row) + 1))
    assert response.status_code == 413
    assert response.json()["type"] == "urn:agentmap:problem:body-too-large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it streams
        for _ in range(MAX_BATCH_BYTES // len(row) + 1):
            yield row

    streamed = submit(http, chunks())  # type: ignore[arg-type]
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["type"] == "urn:agentmap:problem:body-too-large"
    assert batch_dirs(server) == before


def test_an_unknown_batch_is_404_on_every_endpoint(http: httpx.Client) -> None:
    for path in ("", "/events", "/results"):
        response = http.get(f"/v1/batches/nosuchbatch{path}")
        assert response.status_code == 404, path
        assert response.json()["type"] == "urn:agentmap:problem:batch-not-found"
        assert "batch_dir" in response.json()["detail"]


def test_the_python_client_submits_follows_and_reads_a_batch(server: ServerProcess) -> None:
    with AgentMapClient(server.url) as client:
        started = client.submit_batch("Greet", greet_rows(5, bad={2}), id_field="id")
        final = client.wait_batch(started["batch_id"])
        assert (final["status"], final["succeeded"], final["failed"]) == ("completed", 4, 1)
        lines = list(client.batch_results(started["batch_id"]))
    assert sorted(line["id"] for line in lines) == [f"r{i}" for i in range(1, 6)]


def test_shutdown_interrupts_a_running_batch_and_keeps_its_finished_rows(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "never-opened"
    rows = [{"name": f"n{i}", "gate": ""} for i in range(3)] + [
        {"name": "stuck", "gate": str(gate)}
    ]
    env = {"AGENTMAP_SERVER__SHUTDOWN_GRACE": "0.5"}
    server = start_server(write_workflows(tmp_path), tmp_path, env_vars=env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            batch_id = submit(http, jsonl(rows), graph="Gated").json()["batch_id"]
            with http.stream("GET", f"/v1/batches/{batch_id}/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:") and json.loads(line[5:])["done"] == 3:
                        break
        # uvicorn ends by re-raising the signal it handled: -SIGTERM is its clean exit.
        assert server.stop() in (0, -signal.SIGTERM), server.output()
    finally:
        server.kill()
    folder = tmp_path / ".agentmap" / "batches" / batch_id
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["interrupted"], summary["completed"], summary["remaining"]) == (True, 3, 1)
    finished = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert sorted(line["output"]["waited"] for line in finished) == [
        "n0 passed",
        "n1 passed",
        "n2 passed",
    ]
    assert "Application shutdown complete" in server.output()
    assert "interrupted 1 batch(es)" in server.output()
    assert "Traceback" not in server.output()


@pytest.mark.services
def test_a_batch_on_postgres_stores_each_row_as_a_run(tmp_path: Path) -> None:
    with (
        postgres_schema("batches") as env,
        running_server(write_workflows(tmp_path), tmp_path, env_vars=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        batch_id = submit(http, jsonl(greet_rows(20, bad={5}))).json()["batch_id"]
        assert events(http, batch_id)[-1]["data"]["status"] == "completed"
        _, lines = results(http, batch_id)
        assert len(lines) == 20
        for line in lines:
            assert line["run_id"].endswith(f"-{line['row']}")  # the engine's durable run ids
            run = http.get(f"/v1/runs/{line['run_id']}").json()
            assert run["status"] == line["status"]
            assert run["graph"] == "Greet"
