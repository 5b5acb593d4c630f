"""Durable batches with ``executor="dask"``: the workers run, resume and read back rows
through the same sqlite store as the client (a local cluster of two processes).

The agents live in a ``custom_agents`` folder beside the workflow, since a
worker builds its own application; they count what they do in a file beside
themselves, since they run in other processes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from agentmap.batch import arun_batch, run_batch
from containers import Application, create_application

AGENTS = '''
import asyncio
from pathlib import Path

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.interrupts import interrupt

HERE = Path(__file__).resolve().parent.parent


def record(what):
    with open(HERE / "effects.log", "a", encoding="utf-8") as handle:
        handle.write(what + "\\n")


class Mark(BaseAgent):
    def process(self, inputs):
        record(f"{self.name} {inputs['text']}")
        return str(inputs["text"]).upper()


class Hold(BaseAgent):
    """Waits while hold.flag exists, for rows whose text starts with "slow"."""

    async def process(self, inputs):
        record(f"start {self.name} {inputs['text']}")
        while str(inputs["text"]).startswith("slow") and (HERE / "hold.flag").exists():
            await asyncio.sleep(0.01)
        record(f"{self.name} {inputs['text']}")
        return "held"


class Ask(BaseAgent):
    def process(self, inputs):
        if int(inputs["amount"]) > 100:
            return interrupt(f"approve {inputs['text']}?", ["approved"])["approved"]
        return "auto"
'''

FLOW = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt\n"
    "Flow,First,custom:Mark,Second,,text,first,\n"
    "Flow,Second,custom:Hold,Gate,,text,second,\n"
    "Flow,Gate,custom:Ask,,,text|amount,approved,\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flow.csv").write_text(FLOW, encoding="utf-8")
    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "agents.py").write_text(AGENTS, encoding="utf-8")
    return tmp_path


def effects(project: Path) -> Counter[str]:
    log = project / "effects.log"
    return Counter(log.read_text(encoding="utf-8").splitlines()) if log.exists() else Counter()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def application(project: Path) -> Application:
    return create_application(
        "test", state={"backend": "sqlite", "path": str(project / "state.sqlite3")}
    )


def test_dask_workers_resume_interrupted_rows_and_read_back_resumed_suspended_ones(
    project: Path,
) -> None:
    texts = ["fast1", "slow1", "fast2", "slow2"]
    amounts = [1, 2, 500, 3]
    inputs = project / "in.jsonl"
    inputs.write_text(
        "".join(
            json.dumps({"text": t, "amount": a}) + "\n" for t, a in zip(texts, amounts, strict=True)
        ),
        encoding="utf-8",
    )
    output = project / "out.jsonl"
    (project / "hold.flag").touch()

    async def interrupted_locally() -> None:
        with application(project) as app:
            batch = asyncio.create_task(arun_batch(app, project / "flow.csv", inputs, output))
            for _ in range(3000):
                await asyncio.sleep(0.005)
                if effects(project)["start Second slow2"] and len(lines(output)) == 2:
                    break
            batch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await batch

    asyncio.run(interrupted_locally())
    first = {line["row"]: line for line in lines(output)}
    assert (first[1]["status"], first[3]["status"]) == ("completed", "suspended")
    assert effects(project)["start Second slow1"] == 1

    (project / "hold.flag").unlink()
    with application(project) as app:
        summary = run_batch(app, project / "flow.csv", inputs, output, executor="dask", workers=2)
        assert (summary.completed, summary.suspended, summary.resumed_runs) == (3, 1, 2)
        resumed = {line["row"]: line for line in lines(output)[2:]}
        assert sorted(resumed) == [2, 4]
        assert {line["via"] for line in resumed.values()} == {"resume"}
        ran = effects(project)
        assert (ran["First slow1"], ran["First slow2"]) == (1, 1)  # replayed on the workers
        assert (ran["start Second slow1"], ran["Second slow1"]) == (2, 1)

        app.resume(first[3]["run_id"], {"approved": "ok"})
        before = effects(project)
        summary = run_batch(app, project / "flow.csv", inputs, output, executor="dask", workers=2)
    final = lines(output)[-1]
    assert (final["row"], final["status"], final["via"]) == (3, "completed", "store")
    assert final["output"]["approved"] == "ok"
    assert effects(project) == before
    assert (summary.completed, summary.suspended, summary.from_store) == (4, 0, 1)
    assert len(lines(output)) == 5
