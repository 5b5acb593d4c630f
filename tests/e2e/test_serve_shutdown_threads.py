"""A run cut at shutdown while its sync agent sleeps in a worker thread.

Cancelling the run cannot stop the thread, and the interpreter would wait for
it at exit; ``agentmap serve`` exits right after its graceful shutdown instead,
with the run already stored ``interrupted``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import run_cli
from tests.server_support import start_server

GRACE = 1.0
#: The agent's blocking call: far longer than the test would wait for an exit.
BLOCK = 60

AGENTS = f"""
import time
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class BlockAgent(BaseAgent):
    def process(self, inputs: dict[str, Any]) -> Any:  # sync: runs in a worker thread
        time.sleep({BLOCK})
        return "done"
"""

WORKFLOW = "GraphName,Node,AgentType,Input_Fields,Output_Field\nBlock,Wait,custom:Block,,out\n"


def test_a_sync_agent_still_blocked_does_not_keep_the_server_alive(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    (workflows / "custom_agents").mkdir(parents=True)
    (workflows / "custom_agents" / "block.py").write_text(AGENTS)
    (workflows / "block.csv").write_text(WORKFLOW)
    env = {
        "AGENTMAP_STATE__BACKEND": "sqlite",
        "AGENTMAP_STATE__PATH": str(tmp_path / "state.sqlite3"),
        "AGENTMAP_SERVER__SHUTDOWN_GRACE": str(GRACE),
    }
    server = start_server(workflows, tmp_path, env_vars=env)
    try:
        started = httpx.post(
            f"{server.url}/v1/runs",
            json={"graph": "Block", "wait": False, "run_id": "blocked"},
            timeout=10,
        )
        assert started.status_code == 202, started.text
        with httpx.stream("GET", f"{server.url}/v1/runs/blocked/events", timeout=10) as events:
            for line in events.iter_lines():  # the live stream: wait until the node runs
                if line == "event: node_started":
                    break
        signalled = time.monotonic()
        code = server.stop(timeout=BLOCK / 2)
        took = time.monotonic() - signalled
    finally:
        server.kill()
    assert code == 0, server.output()
    assert took < BLOCK / 2, f"exit took {took:.1f} s"
    listed = run_cli("runs", "list", "--json", env={**env, "AGENTMAP_ENV": "test"}, cwd=tmp_path)
    runs = {run["run_id"]: run for run in json.loads(listed.stdout)}
    assert runs["blocked"]["status"] == "interrupted"
