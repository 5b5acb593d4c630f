"""``agentmap serve --workers N``: N processes on one port, one state store."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.server_support import start_server

ECHO = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Edge
Echo,A,echo,text,a,B
Echo,B,echo,a,b,C
Echo,C,echo,b,result,
"""


def test_two_workers_share_the_store_and_stop_on_sigterm(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "echo.csv").write_text(ECHO)
    env = {
        "AGENTMAP_STATE__BACKEND": "sqlite",
        "AGENTMAP_STATE__PATH": str(tmp_path / "state.sqlite3"),
    }
    server = start_server(folder, tmp_path, env_vars=env, args=("--workers", "2"))
    try:
        ids = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(20):
                # A new connection each time, so the kernel spreads them over the workers.
                answer = httpx.post(
                    f"{server.url}/v1/runs",
                    json={"graph": "Echo", "state": {"text": f"t{n}"}},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["state"]["result"] == f"t{n}"
                ids.append(answer.json()["run_id"])
            for run_id in ids:  # whichever worker answers reads the shared sqlite store
                shown = httpx.get(f"{server.url}/v1/runs/{run_id}", timeout=30)
                assert shown.status_code == 200, shown.text
                assert shown.json()["status"] == "completed"
            listed = client.get("/v1/runs", params={"limit": 50}).json()["runs"]
        assert sorted(r["run_id"] for r in listed) == sorted(ids)
    finally:
        code = server.stop()
    output = server.output()
    assert code == 0, output
    assert len(set(re.findall(r"Started server process \[(\d+)\]", output))) == 2, output
    assert "Traceback" not in output
