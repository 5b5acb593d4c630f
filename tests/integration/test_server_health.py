"""``/healthz`` and ``/readyz`` of a real ``agentmap serve``: up, and able to do its work.

Readiness checks the state store and the cache the environment configures;
the Redis cache is the one that can be away while the process runs (the
state store is checked at start-up, which fails without it).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import require_service
from tests.server_support import free_port, running_server

ECHO = "GraphName,Node,AgentType,Input_Fields,Output_Field\nEcho,A,echo,text,out\n"


def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "echo.csv").write_text(ECHO)
    return folder


@pytest.mark.services
def test_ready_with_a_reachable_redis_cache(tmp_path: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    env = {
        "AGENTMAP_CACHE__BACKEND": "redis",
        "AGENTMAP_CACHE__REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    with running_server(workflows(tmp_path), tmp_path, env_vars=env) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"state": "ok", "cache": "ok"}}


def test_not_ready_while_the_cache_is_unreachable_but_still_healthy(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {
        "AGENTMAP_CACHE__BACKEND": "redis",
        "AGENTMAP_CACHE__REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}/0",
    }
    with running_server(workflows(tmp_path), tmp_path, env_vars=env) as server:
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/problem+json")
    assert ready.headers["retry-after"] == "5"
    problem = ready.json()
    assert problem["type"] == "urn:agentmap:problem:not-ready"
    assert problem["checks"]["state"] == "ok"
    assert problem["checks"]["cache"].startswith("failed: ")
    assert "cache" in problem["detail"]
    assert "hunter2" not in ready.text
