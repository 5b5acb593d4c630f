"""A batch's runs share one LLM service, so the provider's limits hold across all of them.

The batch runs 12 rows at once through each real LLM backend (litellm, and
openai_http) over real HTTP to the local fake server; ``llm.max_concurrency: 2``
must keep the server from ever seeing more than two requests at a time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agentmap.batch import run_batch
from agentmap.testing import FakeOpenAIServer
from containers import create_application

LATENCY = 0.1
BACKENDS = pytest.mark.parametrize("backend", ["litellm", "openai_http"])
FLOW = "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt\nB,Ask,llm,x,answer,Say {x}\n"


def most_in_flight(times: list[float]) -> int:
    """Requests the server held at once: each is held LATENCY seconds after it arrives."""
    window = LATENCY * 0.9  # a request sent after a reply arrives is not an overlap
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def batch_of_twelve(tmp_path: Path, **llm: Any) -> tuple[int, list[float]]:
    """Twelve rows at once over HTTP; (rows completed, when the server got each request)."""
    (tmp_path / "flow.csv").write_text(FLOW, encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(
        "".join(f'{{"x": {i}}}\n' for i in range(12)), encoding="utf-8"
    )
    with FakeOpenAIServer(reply="ok", latency=LATENCY) as server:
        settings = {"api_base": server.base_url, "api_key": "sk-test", **llm}
        with create_application("test", llm=settings) as app:
            summary = run_batch(
                app, tmp_path / "flow.csv", tmp_path / "rows.jsonl", tmp_path / "out.jsonl",
                concurrency=12,
            )  # fmt: skip
        times = [r.time for r in server.requests if r.path.endswith("/chat/completions")]
    return summary.completed, times


@BACKENDS
def test_llm_max_concurrency_holds_across_every_run_of_a_batch(
    tmp_path: Path, backend: str
) -> None:
    completed, times = batch_of_twelve(tmp_path, backend=backend, max_concurrency=2)
    assert completed == 12
    assert len(times) == 12
    assert most_in_flight(times) == 2  # the limit, reached but never passed
    assert max(times) - min(times) >= 5 * LATENCY * 0.9  # six rounds of two


@BACKENDS
def test_without_the_limit_the_batch_sends_them_together(tmp_path: Path, backend: str) -> None:
    completed, times = batch_of_twelve(tmp_path, backend=backend)
    assert completed == 12
    assert most_in_flight(times) > 2  # so the first test's 2 is the limit's doing
