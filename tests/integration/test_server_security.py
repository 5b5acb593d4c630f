"""API keys, limits, CORS, logs and the public-address rule of ``agentmap serve``, for real.

The keys come from ``agentmap keys new NAME`` run as a subprocess (which tests
the command), go to the server as ``AGENTMAP_SERVER__API_KEYS`` JSON, and are
then used over HTTP against a uvicorn process on 127.0.0.1. The server logs
at INFO with its access log on, and the tests read that log: a key's NAME
shows when a run starts, the key itself never does, and neither does any
value of a run's state.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmap.server.auth import hash_key
from tests.server_support import AGENTMAP, ServerProcess, free_port, running_server, start_server

SECRET = "sk-live-7Hq2-SECRET-STATE-VALUE"
APP_ORIGIN = "http://app.example"

WORKFLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description
# inputs: title
Post,Draft,echo,title,draft,Draft: {title},,Done,,Write the draft
Post,Done,echo,draft,result,,,,,End
Review,Draft,echo,title,draft,Draft: {title},,Approve,,Write
Review,Approve,human,draft,approved,Publish {draft}?,,Publish,,Ask an editor
Review,Publish,echo,draft|approved,result,{draft} approved={approved},,,,Publish
Slow,Wait,custom:Sleep,title,slept,,"{""seconds"": 120}",,,Sleeps until cancelled
"""
SLEEP_AGENT = """
import asyncio
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class SleepAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        await asyncio.sleep(float(self.context.get("seconds", 1)))
        return "slept"
"""


@dataclass(frozen=True)
class NewKey:
    name: str
    key: str
    hashed: str
    env: dict[str, str]


def keys_new(name: str, cwd: Path) -> NewKey:
    """Run ``agentmap keys new NAME`` and read the key, its preset line and its env line."""
    done = subprocess.run(
        [AGENTMAP, "keys", "new", name], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    key = re.search(r"^key: (\S+)$", out, re.M)
    preset = re.search(
        rf"^\s+in a preset .*:\s+{re.escape(name)}: (sha256:[0-9a-f]{{64}})$", out, re.M
    )
    env = re.search(r"AGENTMAP_SERVER__API_KEYS='(.+)'$", out, re.M)
    assert key, out
    assert preset, out
    assert env, out
    return NewKey(name, key.group(1), preset.group(1), json.loads(env.group(1)))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security")
    workflows = root / "workflows"
    (workflows / "custom_agents").mkdir(parents=True)
    (workflows / "post.csv").write_text(WORKFLOW, encoding="utf-8")
    (workflows / "custom_agents" / "sleep.py").write_text(SLEEP_AGENT, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def alpha(root: Path) -> NewKey:
    return keys_new("alpha", root)


@pytest.fixture(scope="module")
def beta(root: Path) -> NewKey:
    return keys_new("beta", root)


def api_keys(*keys: NewKey) -> str:
    merged: dict[str, str] = {}
    for new in keys:
        merged.update(new.env)
    return json.dumps(merged)


@pytest.fixture(scope="module")
def server(root: Path, alpha: NewKey, beta: NewKey) -> Iterator[ServerProcess]:
    """Two keys, INFO logs with the access log, one run in flight per key."""
    env = {
        "AGENTMAP_SERVER__API_KEYS": api_keys(alpha, beta),
        "AGENTMAP_LOGGING__LEVEL": "INFO",
        "AGENTMAP_SERVER__MAX_CONCURRENT_RUNS": "1",
        "AGENTMAP_SERVER__SHUTDOWN_GRACE": "0",
    }
    with running_server(root / "workflows", root, env_vars=env, args=("--access-log",)) as process:
        yield process


def bearer(key: NewKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.key}"}


def x_api_key(key: NewKey) -> dict[str, str]:
    return {"X-API-Key": key.key}


def request(
    server: ServerProcess, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **kw)


# ---------------------------------------------------------------- agentmap keys new


def test_keys_new_prints_a_random_key_and_the_lines_for_the_server(
    alpha: NewKey, beta: NewKey
) -> None:
    assert alpha.key.startswith("am_")
    assert alpha.key != beta.key
    assert alpha.hashed == hash_key(alpha.key)
    assert alpha.env == {"alpha": alpha.hashed}
    assert beta.env == {"beta": hash_key(beta.key)}


@pytest.mark.parametrize("name", ["has space", "a/b", "x" * 65, "ключ"])
def test_keys_new_refuses_a_bad_name_in_one_line(name: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [AGENTMAP, "keys", "new", name], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: a key name may hold")
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- keys


def test_each_key_works_as_bearer_and_as_x_api_key(
    server: ServerProcess, alpha: NewKey, beta: NewKey
) -> None:
    for key in (alpha, beta):
        for headers in (bearer(key), x_api_key(key)):
            response = request(server, "GET", "/v1/graphs", headers)
            assert response.status_code == 200, response.text
            assert {g["name"] for g in response.json()["graphs"]} == {"Post", "Review", "Slow"}


def test_a_wrong_or_missing_key_is_401_with_www_authenticate(
    server: ServerProcess, alpha: NewKey
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer am_not-a-key"},
        {"X-API-Key": alpha.key[:-1]},
        {"X-API-Key": alpha.hashed},
        {"Authorization": f"Token {alpha.key}"},
    ):
        response = request(server, "POST", "/v1/runs", headers, json={"graph": "Post"})
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "urn:agentmap:problem:unauthorized"
        assert alpha.key not in response.text


def test_health_is_open_and_metrics_guarded(server: ServerProcess, alpha: NewKey) -> None:
    assert request(server, "GET", "/healthz").json() == {"status": "ok"}
    ready = request(server, "GET", "/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert request(server, "GET", "/metrics").status_code == 401
    metrics = request(server, "GET", "/metrics", bearer(alpha))
    assert metrics.status_code == 200
    assert "agentmap_runs_active" in metrics.text


def test_a_query_key_works_only_for_event_streams(server: ServerProcess, alpha: NewKey) -> None:
    done = request(
        server, "POST", "/v1/runs", bearer(alpha), json={"graph": "Post", "state": {"title": "q"}}
    )
    run_id = done.json()["run_id"]
    events = request(server, "GET", f"/v1/runs/{run_id}/events", params={"api_key": alpha.key})
    assert events.status_code == 200
    assert "event: run_finished" in events.text
    plain = request(server, "GET", f"/v1/runs/{run_id}", params={"api_key": alpha.key})
    assert plain.status_code == 401


# ---------------------------------------------------------------- logs


def test_logs_name_the_key_never_the_key_nor_the_state(
    server: ServerProcess, alpha: NewKey, beta: NewKey
) -> None:
    state = {"title": SECRET, "token": f"Bearer {SECRET}"}
    done = request(
        server, "POST", "/v1/runs", bearer(alpha), json={"graph": "Post", "state": state}
    )
    assert done.status_code == 200, done.text
    assert SECRET in done.json()["state"]["result"]  # the value did go through the run
    suspended = request(
        server, "POST", "/v1/runs", x_api_key(beta), json={"graph": "Review", "state": state}
    )
    assert suspended.json()["status"] == "suspended"
    review_id = suspended.json()["run_id"]
    resumed = request(
        server,
        "POST",
        f"/v1/runs/{review_id}/resume",
        bearer(beta),
        json={"values": {"approved": SECRET}},
    )
    assert resumed.json()["status"] == "completed"
    # A refused request with a secret in it, and an event stream read with a query key.
    refused = request(
        server, "POST", "/v1/runs", bearer(alpha), json={"graph": "Post", "state": [SECRET]}
    )
    assert refused.status_code == 422
    request(server, "GET", f"/v1/runs/{review_id}/events", params={"api_key": beta.key})
    request(server, "GET", f"/v1/runs/{review_id}", params={"api_key": beta.key})

    log = server.output()
    run_id = done.json()["run_id"]
    assert re.search(rf"INFO .*run {run_id} of graph 'Post' started \(key alpha\)", log), log
    assert re.search(rf"INFO .*run {review_id} of graph 'Review' started \(key beta\)", log), log
    assert '"POST /v1/runs HTTP/1.1" 200' in log  # the access log is on
    assert "api_key=***" in log
    assert alpha.key not in log
    assert beta.key not in log
    assert SECRET not in log


# ---------------------------------------------------------------- runs in flight per key


def test_concurrent_runs_are_capped_per_key(
    server: ServerProcess, alpha: NewKey, beta: NewKey
) -> None:
    started: list[str] = []
    try:
        first = request(
            server,
            "POST",
            "/v1/runs",
            bearer(alpha),
            json={"graph": "Slow", "state": {"title": "t"}, "wait": False},
        )
        assert first.status_code == 202, first.text
        started.append(first.json()["run_id"])

        second = request(
            server,
            "POST",
            "/v1/runs",
            bearer(alpha),
            json={"graph": "Post", "state": {"title": "t"}},
        )
        assert second.status_code == 429, second.text
        assert second.headers["content-type"].startswith("application/problem+json")
        assert second.json()["type"] == "urn:agentmap:problem:too-many-runs"
        assert int(second.headers["retry-after"]) >= 1
        assert "max_concurrent_runs" in second.json()["detail"]

        other = request(
            server,
            "POST",
            "/v1/runs",
            x_api_key(beta),
            json={"graph": "Slow", "state": {"title": "t"}, "wait": False},
        )
        assert other.status_code == 202, other.text  # beta's slot is its own
        started.append(other.json()["run_id"])
        # Reading is not capped.
        assert request(server, "GET", f"/v1/runs/{started[0]}", bearer(alpha)).status_code == 200
    finally:
        for run_id in started:
            request(server, "POST", f"/v1/runs/{run_id}/cancel", bearer(alpha))
    for run_id in started:
        assert (
            request(server, "GET", f"/v1/runs/{run_id}", bearer(alpha)).json()["status"]
            == "cancelled"
        )
    again = request(
        server, "POST", "/v1/runs", bearer(alpha), json={"graph": "Post", "state": {"title": "t"}}
    )
    assert again.status_code == 200, again.text  # the slot was given back


# ---------------------------------------------------------------- CORS


def test_cors_is_off_by_default(server: ServerProcess, alpha: NewKey) -> None:
    origin = {"Origin": "http://evil.example"}
    plain = request(server, "GET", "/v1/graphs", {**origin, **bearer(alpha)})
    assert plain.status_code == 200
    assert "access-control-allow-origin" not in plain.headers
    preflight = request(
        server,
        "OPTIONS",
        "/v1/runs",
        {**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code in (401, 405)


def test_cors_when_configured(root: Path, alpha: NewKey) -> None:
    env = {
        "AGENTMAP_SERVER__API_KEYS": api_keys(alpha),
        "AGENTMAP_SERVER__CORS_ORIGINS": json.dumps([APP_ORIGIN]),
    }
    with running_server(root / "workflows", root, env_vars=env) as cors:
        preflight = request(
            cors,
            "OPTIONS",
            "/v1/runs",
            {
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200, preflight.text  # no key needed for a preflight
        assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "content-type" in allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]

        real = request(cors, "GET", "/v1/graphs", {"Origin": APP_ORIGIN, **bearer(alpha)})
        assert real.status_code == 200
        assert real.headers["access-control-allow-origin"] == APP_ORIGIN
        # A refusal is readable by the page too (else the browser hides the 401).
        denied = request(cors, "GET", "/v1/graphs", {"Origin": APP_ORIGIN})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == APP_ORIGIN

        other = request(
            cors,
            "OPTIONS",
            "/v1/runs",
            {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.headers.get("access-control-allow-origin") != "http://evil.example"
        assert other.status_code != 200
        stray = request(
            cors, "GET", "/v1/graphs", {"Origin": "http://evil.example", **bearer(alpha)}
        )
        assert "access-control-allow-origin" not in stray.headers


# ---------------------------------------------------------------- rate limit


def test_rate_limit_per_key_with_retry_after(root: Path, alpha: NewKey, beta: NewKey) -> None:
    env = {
        "AGENTMAP_SERVER__API_KEYS": api_keys(alpha, beta),
        # One request per 100 s after a burst of 2: the third is refused however slow the machine.
        "AGENTMAP_SERVER__RATE_LIMIT": "0.01",
        "AGENTMAP_SERVER__RATE_BURST": "2",
    }
    with running_server(root / "workflows", root, env_vars=env) as limited:
        codes = [request(limited, "GET", "/v1/graphs", bearer(alpha)).status_code for _ in range(2)]
        assert codes == [200, 200]
        refused = request(limited, "POST", "/v1/runs", bearer(alpha), json={"graph": "Post"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "urn:agentmap:problem:rate-limited"
        retry = int(refused.headers["retry-after"])
        assert 1 <= retry <= 100
        assert "rate_limit" in refused.json()["detail"]
        # Another key has its own bucket; health checks are never limited.
        assert request(limited, "GET", "/v1/graphs", x_api_key(beta)).status_code == 200
        assert request(limited, "GET", "/healthz").status_code == 200
        assert request(limited, "GET", "/v1/graphs", bearer(alpha)).status_code == 429


# ---------------------------------------------------------------- binding a public address


def test_public_address_without_a_key_is_refused(root: Path) -> None:
    environ = {"PATH": "/usr/bin:/bin", "AGENTMAP_ENV": "test"}
    done = subprocess.run(
        [
            AGENTMAP,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--workflows",
            str(root / "workflows"),
        ],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: refusing to listen on 0.0.0.0 without an API key")
    assert "agentmap keys new" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_public_address_with_a_key_starts(root: Path, alpha: NewKey) -> None:
    """Bound to 0.0.0.0 on a free port, reached only on 127.0.0.1, stopped at once."""
    env = {"AGENTMAP_SERVER__API_KEYS": api_keys(alpha)}
    public = start_server(root / "workflows", root, env_vars=env, args=("--host", "0.0.0.0"))
    try:
        assert request(public, "GET", "/healthz").status_code == 200
        assert request(public, "GET", "/v1/graphs").status_code == 401
        assert "0.0.0.0" in public.output()
    finally:
        code = public.stop()
    assert code == 0, public.output()


# ---------------------------------------------------------------- the viewer's files


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fauth.py",
        "/static/%2e%2e/auth.py",
        "/static/",
    ],
)
def test_static_files_stay_in_their_folder(server: ServerProcess, path: str) -> None:
    response = httpx.get(server.url + path, timeout=10)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "root:" not in response.text
    assert "hash_key" not in response.text
    assert httpx.get(server.url + "/static/app.js", timeout=10).status_code == 200
