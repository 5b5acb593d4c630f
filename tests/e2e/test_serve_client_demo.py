"""scripts/serve-client-demo, run the way a user runs it: it starts `agentmap serve` on
examples/, drives it through agentmap.client and stops it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import REPO


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "serve-client-demo"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_runs_resumes_streams_batches_and_stops_its_server(tmp_path: Path) -> None:
    proc = run_demo("--answer", "no", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Approval: suspended at ['Draft']" in out
    assert "completed: 'Sent back for revision: Hello: World'" in out
    kinds = re.findall(r"^ +\d+ (\w+) ", out, flags=re.MULTILINE)
    assert kinds[0] == "run_started"
    assert kinds.count("run_finished") == 2  # the suspended part, then the resumed one
    assert "Support: completed" in out
    assert re.search(r"batch \w+: completed, 3/3", out)
    assert "404 unknown-graph" in out
    assert "stopped the server (exit 0)" in out
    assert list(tmp_path.iterdir()) == []  # nothing written where it was run
