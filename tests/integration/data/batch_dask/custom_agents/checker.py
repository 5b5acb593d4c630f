"""The custom agent of tests/integration/test_batch_dask.py.

It reports the process that ran it (``pid``), so a test can see which worker
ran a row, and how many rows that process was running when the row started
(``overlap``), so a test can see the concurrency; with ``trace`` (a path) it
appends the row's name to that file as it starts. It can also kill its process: a row carrying ``kill_marker`` (a
path) and ``client_pid`` (the test's own process) sends SIGKILL to its worker
the first time the row runs, writing the dying pid to the marker first so the
rerun happens once and the test can tell the two attempts apart. It never
kills the test process itself (a local run of the same rows).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from agentmap.agents.base_agent import BaseAgent


def kill_once(marker: str | None, client_pid: object) -> None:
    """SIGKILL this process, unless it is the test's own or the marker says it was done."""
    if not marker or client_pid is None or os.getpid() == int(str(client_pid)):
        return
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)


def trace(path: str | None, name: str) -> None:
    """Append ``name`` to the file at ``path``: which rows started, across processes."""
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(name + "\n")


#: Rows of this process now inside ``process``.
_running: set[int] = set()


class CheckerAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        kill_once(inputs.get("kill_marker"), inputs.get("client_pid"))
        trace(inputs.get("trace"), inputs["name"])
        token = id(inputs)
        _running.add(token)
        overlap = len(_running)  # the peak of a batch is seen by the row that makes it
        try:
            if inputs.get("delay"):
                await asyncio.sleep(float(inputs["delay"]))
        finally:
            _running.discard(token)
        return {"checked": f"{inputs['name']} ok", "pid": os.getpid(), "overlap": overlap}
