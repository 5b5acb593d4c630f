"""The error contract of ``agentmap serve``, against a real uvicorn process.

Every bad request must be the right 4xx with an ``application/problem+json``
body: a stable ``type`` slug, a ``detail`` that names the field or graph,
``errors[].field`` for validation problems, and never a traceback or a
secret (the API key, a state value the client sent). None may be a 500.

One server (``--env test``, memory store, one API key, an 8 KiB body limit)
serves every test of the module; each test uses its own run ids.

The one real way left to make the server fail is an agent that calls
``sys.exit()``: the run manager fails that run instead of letting the exit
escape into the event loop, and the waiting request gets the ``internal``
(500) problem (test_an_agent_that_exits_fails_its_run). The answers the
server could not encode now fail their node
(test_an_output_that_cannot_be_stored_fails_its_node).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentmap.server.auth import hash_key
from tests.server_support import ServerProcess, running_server

KEY = "am_errors-test-key-0123456789"
SECRET = "sk-live-DO-NOT-ECHO-4f9a2c"
LIMIT = 8192
PROBLEM_JSON = "application/problem+json"
URN = "urn:agentmap:problem:"

HEADER = "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description\n"
DECLARED = (
    HEADER
    + """# inputs: title
Declared,Draft,echo,title,draft,Draft: {title},,Done,,Write the draft
Declared,Done,echo,draft,result,,,,,End
Review,Draft,echo,title,draft,Draft: {title},,Approve,,Write
Review,Approve,human,draft,approved,Publish {draft}?,"{""choices"": [""yes"", ""no""]}",Publish,,Ask
Review,Publish,echo,draft|approved,result,{draft} approved={approved},,,,Publish
"""
)
UNDECLARED = (
    HEADER
    + """Undeclared,Read,echo,topic|audience,summary,{topic} for {audience},,Shout,,Reads two inputs
Undeclared,Shout,echo,summary,result,,,,,Writes the result
"""
)
CUSTOM = (
    HEADER
    + """Slow,Wait,custom:Sleep,,slept,,"{""seconds"": 60}",,,Sleeps until cancelled
Boom,Explode,custom:Boom,,out,,,,,Raises from the agent
Deep,Dig,custom:Deep,,out,,,,,Writes a value nested 5000 deep
Nan,Average,custom:Nan,,out,,,,,Writes NaN
Bytes,Decode,custom:Surrogate,,out,,,,,Writes text decoded with surrogateescape
Huge,Count,custom:HugeInt,,out,,,,,Writes an integer of 5001 digits
Exit,Quit,custom:Exit,,out,,,,,Calls sys.exit on the event loop
ThreadExit,Quit,custom:ThreadExit,,out,,,,,Calls sys.exit in a worker thread
"""
)
AGENTS = (
    f"SECRET = {SECRET!r}\n"
    + """
import asyncio
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class SleepAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        await asyncio.sleep(float(self.context.get("seconds", 1)))
        return "slept"


class BoomAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        raise RuntimeError("boom from the agent")


class DeepAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        value: Any = "bottom"
        for _ in range(5000):
            value = [value]
        return value


class NanAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        return float("nan")


class HugeIntAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        return 10**5000


class ExitAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        raise SystemExit(3)


class ThreadExitAgent(BaseAgent):
    def process(self, inputs: dict[str, Any]) -> Any:
        raise SystemExit(3)


class SurrogateAgent(BaseAgent):
    \"\"\"Bytes that are not UTF-8, decoded as os.fsdecode does: lone surrogates.\"\"\"

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        raw = (SECRET + "-caf").encode() + b"\\xe9"
        return raw.decode("utf-8", "surrogateescape")
"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("errors")
    workflows = root / "workflows"
    (workflows / "custom_agents").mkdir(parents=True)
    (workflows / "declared.csv").write_text(DECLARED, encoding="utf-8")
    (workflows / "undeclared.csv").write_text(UNDECLARED, encoding="utf-8")
    (workflows / "custom.csv").write_text(CUSTOM, encoding="utf-8")
    (workflows / "custom_agents" / "agents.py").write_text(AGENTS, encoding="utf-8")
    env = {
        "AGENTMAP_SERVER__API_KEYS": json.dumps({"tests": hash_key(KEY)}),
        "AGENTMAP_SERVER__MAX_BODY_BYTES": str(LIMIT),
        "AGENTMAP_SERVER__SHUTDOWN_GRACE": "0",
    }
    with running_server(workflows, root, env_vars=env) as process:
        yield process


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:
        yield client


def assert_problem(
    response: httpx.Response,
    status: int,
    slug: str,
    *,
    fields: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The response is the problem ``slug`` with ``status``, naming ``fields`` and ``mentions``."""
    text = response.text
    assert response.status_code == status, text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == URN + slug, body
    assert body["status"] == status, body
    assert isinstance(body["title"], str), body
    assert body["title"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body.get("instance") == response.request.url.path, body
    for word in mentions:
        assert word in body["detail"], (word, body)
    if fields:
        assert [e["field"] for e in body.get("errors", [])] == list(fields), body
        assert all(e["message"] for e in body["errors"]), body
    assert_clean(text)
    return body


def assert_clean(text: str) -> None:
    """No traceback, no secret."""
    assert "Traceback" not in text
    assert 'File "' not in text
    assert KEY not in text
    assert SECRET not in text


def post_raw(
    api: httpx.Client, path: str, content: bytes | Iterator[bytes], content_type: str | None
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(path, content=content, headers=headers)


# ---------------------------------------------------------------- graphs


def test_unknown_graph_suggests_the_near_one(api: httpx.Client) -> None:
    response = api.post("/v1/runs", json={"graph": "Declard", "state": {"title": SECRET}})
    body = assert_problem(
        response, 404, "unknown-graph", fields=("graph",), mentions=("'Declard'", "'Declared'")
    )
    assert "did you mean" in body["detail"]


def test_unknown_graph_lists_the_graphs(api: httpx.Client) -> None:
    response = api.post("/v1/runs", json={"graph": "qqqqqq"})
    assert_problem(response, 404, "unknown-graph", fields=("graph",), mentions=("Declared", "Boom"))
    assert_problem(api.get("/v1/graphs/qqqqqq"), 404, "unknown-graph", mentions=("qqqqqq",))


# ---------------------------------------------------------------- the request body's fields


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"graph": "Declared", "state": [SECRET]}, "state", "dictionary"),
        ({"graph": "Declared", "state": SECRET}, "state", "dictionary"),
        ({"graph": "Declared", "state": {"title": "x"}, "wait": "yes"}, "wait", "boolean"),
        (
            {"graph": "Declared", "state": {"title": "x"}, "timeout": -1},
            "timeout",
            "greater than 0",
        ),
        ({"graph": "Declared", "state": {"title": "x"}, "timeout": 0}, "timeout", "greater than 0"),
        ({"graph": "Declared", "state": {"title": "x"}, "timeout": "soon"}, "timeout", "number"),
        ({"graph": "Declared", "state": {"title": "x"}, "bogus": 1}, "bogus", "Extra inputs"),
        ({"graph": "Declared", "state": {"title": "x"}, "run_id": 7}, "run_id", "string"),
        ({"graph": 42, "state": {"title": "x"}}, "graph", "string"),
        ({"state": {"title": "x"}}, "graph", "required"),
    ],
)
def test_wrong_types_name_the_field(
    api: httpx.Client, payload: dict[str, Any], field: str, words: str
) -> None:
    response = api.post("/v1/runs", json=payload)
    body = assert_problem(response, 422, "invalid-request", fields=(field,), mentions=(field,))
    assert words in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('{"graph": "Declared", "state": {"title": NaN}}', "state.title", "not a JSON number"),
        (
            '{"graph": "Declared", "state": {"title": "x", "n": {"a": [1, Infinity]}}}',
            "state.n.a[1]",
            "inf",
        ),
        ('{"graph": "Declared", "state": {"title": "\\ud800"}}', "state.title", "surrogate"),
        (
            '{"graph": "Declared", "state": {"title": ' + "[" * 150 + "]" * 150 + "}}",
            "state.title",
            "levels deep",
        ),
    ],
)
def test_values_json_cannot_carry_are_refused(
    api: httpx.Client, text: str, field: str, words: str
) -> None:
    """Python's reader takes NaN, lone surrogates and deep nesting; no store or client can."""
    response = post_raw(api, "/v1/runs", text.encode(), "application/json")
    body = assert_problem(response, 422, "invalid-request", fields=(field,), mentions=(field,))
    assert words in body["errors"][0]["message"]


def test_missing_declared_input_is_named(api: httpx.Client) -> None:
    response = api.post("/v1/runs", json={"graph": "Declared", "state": {"other": SECRET}})
    assert_problem(
        response, 422, "missing-inputs", fields=("state.title",), mentions=("'Declared'", "'title'")
    )


def test_missing_undeclared_inputs_are_the_fields_no_node_writes(api: httpx.Client) -> None:
    response = api.post("/v1/runs", json={"graph": "Undeclared", "state": {}})
    assert_problem(
        response,
        422,
        "missing-inputs",
        fields=("state.topic", "state.audience"),
        mentions=("'topic'", "'audience'"),
    )
    only = api.post("/v1/runs", json={"graph": "Undeclared", "state": {"topic": SECRET}})
    assert_problem(only, 422, "missing-inputs", fields=("state.audience",))
    # summary is written by Read before Shout reads it: never required.
    done = api.post(
        "/v1/runs", json={"graph": "Undeclared", "state": {"topic": "t", "audience": "a"}}
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"]["result"] == "t for a"


# ---------------------------------------------------------------- the body itself


def test_oversized_body_with_content_length(api: httpx.Client) -> None:
    payload = json.dumps({"graph": "Declared", "state": {"title": "x" * (LIMIT + 10)}}).encode()
    response = post_raw(api, "/v1/runs", payload, "application/json")
    assert_problem(response, 413, "body-too-large", mentions=(str(LIMIT), str(len(payload))))


def test_oversized_body_chunked_without_length(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"graph": "Declared", "state": {"title": "'
        for _ in range(LIMIT // 512 + 2):
            yield b"x" * 512
        yield b'"}}'

    response = post_raw(api, "/v1/runs", chunks(), "application/json")
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body-too-large", mentions=(str(LIMIT),))


def test_a_chunked_body_under_the_limit_is_read(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"graph": "Declared", '
        yield b'"state": {"title": "chunked"}}'

    response = post_raw(api, "/v1/runs", chunks(), "application/json")
    assert response.status_code == 200, response.text
    assert response.json()["state"]["result"] == "Draft: chunked"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"graph": "Declared",', "not valid JSON"),
        (b'{"graph": "Declared", "state": {"title": "\xff\xfe"}}', "UTF-8"),
        (b"[" * 2000 + b"]" * 2000, "nests"),
        (b'{"graph": "Declared", "state": {"n": ' + b"9" * 5000 + b"}}", "digits"),
    ],
)
def test_malformed_json(api: httpx.Client, content: bytes, words: str) -> None:
    response = post_raw(api, "/v1/runs", content, "application/json")
    assert_problem(response, 400, "malformed-json", mentions=(words,))


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "required"), (b"[1, 2]", "dictionary"), (b"null", "dictionary")],
)
def test_json_that_is_not_an_object(api: httpx.Client, content: bytes, words: str) -> None:
    response = post_raw(api, "/v1/runs", content, "application/json")
    body = assert_problem(response, 422, "invalid-request", fields=("body",))
    assert words in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", None]
)
def test_wrong_content_type(api: httpx.Client, content_type: str | None) -> None:
    payload = json.dumps({"graph": "Declared", "state": {"title": "x"}}).encode()
    response = post_raw(api, "/v1/runs", payload, content_type)
    body = assert_problem(
        response,
        415,
        "unsupported-media-type",
        fields=("Content-Type",),
        mentions=("application/json",),
    )
    if content_type:
        assert repr(content_type) in body["detail"]


def test_json_with_a_charset_is_fine(api: httpx.Client) -> None:
    payload = json.dumps({"graph": "Declared", "state": {"title": "é"}}).encode()
    response = post_raw(api, "/v1/runs", payload, "application/json; charset=utf-8")
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, "needs a key"),
        ({"Authorization": "Bearer am_wrong"}, "not valid"),
        ({"X-API-Key": "am_wrong"}, "not valid"),
        ({"Authorization": f"Basic {KEY}"}, "needs a key"),
        ({"X-API-Key": hash_key(KEY)}, "not valid"),
    ],
)
def test_wrong_or_missing_key(server: ServerProcess, headers: dict[str, str], words: str) -> None:
    for method, path in (("GET", "/v1/graphs"), ("POST", "/v1/runs"), ("GET", "/metrics")):
        response = httpx.request(
            method, server.url + path, headers=headers, json={"graph": "Declared"}, timeout=10
        )
        assert_problem(response, 401, "unauthorized", mentions=(words,))
        assert response.headers["www-authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- runs


def test_duplicate_run_id(api: httpx.Client) -> None:
    first = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "x"}, "run_id": "dup-1"}
    )
    assert first.status_code == 200, first.text
    again = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "y"}, "run_id": "dup-1"}
    )
    body = assert_problem(again, 409, "run-exists", mentions=("dup-1",))
    assert body["run_id"] == "dup-1"
    assert api.get("/v1/runs/dup-1").json()["state"]["title"] == "x"  # the first run is untouched


@pytest.mark.parametrize("run_id", ["has space", "a/b", "", "x" * 129, "é"])
def test_invalid_run_id(api: httpx.Client, run_id: str) -> None:
    response = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "x"}, "run_id": run_id}
    )
    assert_problem(response, 422, "invalid-request", fields=("run_id",))


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "/resume", {"values": {}}),
        ("POST", "/cancel", None),
        ("GET", "/events", None),
    ],
)
def test_unknown_run(api: httpx.Client, method: str, suffix: str, body: Any) -> None:
    response = api.request(method, f"/v1/runs/no-such-run{suffix}", json=body)
    assert_problem(response, 404, "run-not-found", mentions=("no-such-run",))


def test_resume_of_a_completed_run(api: httpx.Client) -> None:
    done = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "x"}, "run_id": "done-1"}
    )
    assert done.json()["status"] == "completed"
    response = api.post("/v1/runs/done-1/resume", json={"values": {}})
    assert_problem(response, 409, "not-resumable", mentions=("done-1", "completed"))
    forced = api.post("/v1/runs/done-1/resume", json={"values": {}, "force": True})
    assert_problem(forced, 409, "not-resumable")


def test_resume_of_a_suspended_run_needs_its_values(api: httpx.Client) -> None:
    started = api.post(
        "/v1/runs", json={"graph": "Review", "state": {"title": "t"}, "run_id": "rev-1"}
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "suspended"

    missing = api.post("/v1/runs/rev-1/resume", json={"values": {}})
    assert_problem(
        missing,
        422,
        "invalid-request",
        fields=("values.approved",),
        mentions=("'Approve'", "approved"),
    )
    wrong = api.post("/v1/runs/rev-1/resume", json={"values": {"aproved": SECRET}})
    assert_problem(wrong, 422, "invalid-request", fields=("values.aproved", "values.approved"))
    bad_type = api.post("/v1/runs/rev-1/resume", json={"values": [SECRET]})
    assert_problem(bad_type, 422, "invalid-request", fields=("values",))
    extra = api.post("/v1/runs/rev-1/resume", json={"values": {"approved": "yes"}, "answer": 1})
    assert_problem(extra, 422, "invalid-request", fields=("answer",))
    not_json = post_raw(
        api, "/v1/runs/rev-1/resume", b'{"values": {"approved": NaN}}', "application/json"
    )
    assert_problem(not_json, 422, "invalid-request", fields=("values.approved",))

    # None of those touched the run: the right answer still resumes it.
    assert api.get("/v1/runs/rev-1").json()["status"] == "suspended"
    resumed = api.post("/v1/runs/rev-1/resume", json={"values": {"approved": "yes"}})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "completed"
    assert resumed.json()["state"]["result"] == "Draft: t approved=yes"


def test_cancel_and_resume_of_a_live_run_and_cancel_of_a_finished_one(api: httpx.Client) -> None:
    started = api.post("/v1/runs", json={"graph": "Slow", "run_id": "slow-1", "wait": False})
    assert started.status_code == 202, started.text
    assert started.headers["location"] == "/v1/runs/slow-1"

    live = api.post("/v1/runs/slow-1/resume", json={"values": {}})
    assert_problem(live, 409, "not-resumable", mentions=("slow-1",))

    cancelled = api.post("/v1/runs/slow-1/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json() == {"run_id": "slow-1", "status": "cancelled"}
    assert api.get("/v1/runs/slow-1").json()["status"] == "cancelled"

    again = api.post("/v1/runs/slow-1/cancel")
    body = assert_problem(again, 409, "not-running", mentions=("slow-1", "cancelled"))
    assert body["status"] == 409  # a run's status never replaces the HTTP status

    done = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "x"}, "run_id": "fin-1"}
    )
    assert done.status_code == 200
    finished = api.post("/v1/runs/fin-1/cancel")
    assert_problem(finished, 409, "not-running", mentions=("fin-1", "completed"))


def test_list_runs_with_bad_filters(api: httpx.Client) -> None:
    assert_problem(
        api.get("/v1/runs", params={"status": "weird"}), 422, "invalid-request", fields=("status",)
    )
    assert_problem(
        api.get("/v1/runs", params={"limit": 0}), 422, "invalid-request", fields=("limit",)
    )
    assert_problem(
        api.get("/v1/runs", params={"limit": "ten"}), 422, "invalid-request", fields=("limit",)
    )
    assert_problem(
        api.get("/v1/runs", params={"offset": -1}), 422, "invalid-request", fields=("offset",)
    )


# ---------------------------------------------------------------- routing, events


def test_unknown_endpoint(api: httpx.Client) -> None:
    for path in ("/v1/nope", "/v2/runs", "/v1/runs/x/explode"):
        response = api.get(path)
        assert_problem(response, 404, "not-found", mentions=(path,))


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/runs/x", "GET"),
        ("PUT", "/v1/graphs", "GET"),
        ("GET", "/v1/runs/x/cancel", "POST"),
    ],
)
def test_wrong_method(api: httpx.Client, method: str, path: str, allowed: str) -> None:
    response = api.request(method, path)
    body = assert_problem(response, 405, "method-not-allowed", mentions=(method, path))
    assert allowed in response.headers["allow"]
    assert allowed in body["detail"]


def test_invalid_last_event_id(api: httpx.Client) -> None:
    done = api.post(
        "/v1/runs", json={"graph": "Declared", "state": {"title": "x"}, "run_id": "ev-1"}
    )
    assert done.status_code == 200
    header = api.get("/v1/runs/ev-1/events", headers={"Last-Event-ID": "abc"})
    assert_problem(
        header, 422, "invalid-request", fields=("Last-Event-ID",), mentions=("Last-Event-ID",)
    )
    for value in ("abc", "-1"):
        query = api.get("/v1/runs/ev-1/events", params={"last_event_id": value})
        assert_problem(query, 422, "invalid-request", fields=("last_event_id",))
    # A valid id past the end is no error: the finished stream just has nothing more.
    with api.stream("GET", "/v1/runs/ev-1/events", headers={"Last-Event-ID": "999"}) as stream:
        assert stream.status_code == 200
        assert "id:" not in stream.read().decode()


# ---------------------------------------------------------------- failures inside


def test_an_agent_that_raises_fails_its_run_not_the_request(
    api: httpx.Client, server: ServerProcess
) -> None:
    response = api.post("/v1/runs", json={"graph": "Boom", "run_id": "boom-1"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "failed"
    assert result["failed_node"] == "Explode"
    assert "boom from the agent" in result["error"]
    assert_clean(response.text)
    stored = api.get("/v1/runs/boom-1").json()
    assert stored["status"] == "failed"
    assert stored["steps"][0]["ok"] is False
    assert "boom from the agent" in stored["steps"][0]["error"]
    assert api.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("graph", "node"),
    [("Deep", "Dig"), ("Nan", "Average"), ("Bytes", "Decode"), ("Huge", "Count")],
)
def test_an_output_that_cannot_be_stored_fails_its_node(
    api: httpx.Client, server: ServerProcess, graph: str, node: str
) -> None:
    """serve checks JSON on every store (memory too), so the answer stays JSON.

    These were the real server-side failures: a list nested 5000 deep broke the
    encoder of the answer (500), NaN made the answer invalid JSON, and text
    with a lone surrogate (bytes decoded with ``surrogateescape``) could not be
    sent as UTF-8 (500, with the state in the log line). Each now fails its node.
    """
    response = api.post("/v1/runs", json={"graph": graph})
    assert response.status_code == 200, response.text
    result = response.json()  # strict JSON: NaN would not parse in a browser
    json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))
    response.content.decode("utf-8", "strict")
    assert result["status"] == "failed"
    assert result["failed_node"] == node
    assert "cannot be stored as JSON" in result["error"]
    if graph != "Nan":  # each cause is named for what it is
        assert "NaN" not in result["error"]
    stored = api.get(f"/v1/runs/{result['run_id']}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "failed"
    assert SECRET not in server.output()


@pytest.mark.parametrize("graph", ["Exit", "ThreadExit"])
def test_an_agent_that_exits_fails_its_run(api: httpx.Client, graph: str) -> None:
    """``sys.exit()`` in an agent (inline or in a worker thread) ends the run, not the request."""
    response = api.post("/v1/runs", json={"graph": graph, "run_id": f"exit-{graph}"})
    # The server's own failure to finish a run: the one 500 left, as a problem with a
    # reference to the log line and nothing else.
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["type"] == "urn:agentmap:problem:internal"
    assert "ref" in problem["detail"]
    assert_clean(response.text)
    assert api.get(f"/v1/runs/exit-{graph}").json()["status"] == "failed"
    assert api.get("/healthz").status_code == 200
