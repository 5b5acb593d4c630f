"""``GET /metrics`` of a real ``agentmap serve`` after runs and batches: the figures add up.

Each figure is checked against what the API itself says of the same runs (their
steps, their LLM usage), so a metric that drifts from the runs fails here. The
``test`` preset's fake LLM reports word counts as tokens and a cost of 0; the
priced case uses litellm against a FakeOpenAIServer on loopback with fixed
token counts, so litellm's price table gives a real, non-zero cost.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentmap.testing import FakeOpenAIServer
from tests.server_support import running_server

WORKFLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description
# inputs(Chat): name
Chat,Ask,llm,name,answer,Say hello to {name},,Done,,Ask the LLM
Chat,Done,echo,answer,result,,,,,Echo the answer
Broken,Fail,failure,,,,,,,Always fails
"""

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(http: httpx.Client) -> Samples:
    """Every sample of /metrics, by sample name, then by its (sorted) labels."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


def workflows(root: Path) -> Path:
    folder = root / "workflows"
    folder.mkdir()
    (folder / "flows.csv").write_text(WORKFLOW, encoding="utf-8")
    return folder


def run(http: httpx.Client, graph: str, state: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v1/runs", json={"graph": graph, "state": state})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def batch(http: httpx.Client, graph: str, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(row) + "\n" for row in rows)
    response = http.post(
        "/v1/batches",
        params={"graph": graph},
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 202, response.text
    with http.stream("GET", f"/v1/batches/{response.json()['batch_id']}/events") as events:
        for _ in events.iter_lines():  # the server ends the stream after `finished`
            pass


@pytest.fixture
def fake_llm_server(tmp_path: Path) -> Iterator[httpx.Client]:
    env = {"AGENTMAP_LLM__FAKE_DEFAULT": "fine thanks"}
    with (
        running_server(workflows(tmp_path), tmp_path, env_vars=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http


def test_metrics_count_runs_by_status_steps_and_llm_tokens(fake_llm_server: httpx.Client) -> None:
    http = fake_llm_server
    chats = [run(http, "Chat", {"name": n}) for n in ("Ada", "Bob the builder", "Cy")]
    broken = [run(http, "Broken", {}) for _ in range(2)]
    assert [r["status"] for r in chats + broken] == ["completed"] * 3 + ["failed"] * 2
    assert http.post("/v1/runs", json={"graph": "Nope"}).status_code == 404

    m = scrape(http)
    assert m["agentmap_runs_total"] == {
        labels(status="completed", graph="Chat"): 3,
        labels(status="failed", graph="Broken"): 2,
    }
    assert m["agentmap_runs_active"] == {(): 0}

    # The step histogram holds one observation per step the API shows, with their times.
    for graph, runs in (("Chat", chats), ("Broken", broken)):
        steps = [s for r in runs for s in http.get(f"/v1/runs/{r['run_id']}").json()["steps"]]
        count = m["agentmap_step_seconds_count"][labels(graph=graph)]
        assert count == len(steps) == len(runs) * (2 if graph == "Chat" else 1)
        assert m["agentmap_step_seconds_bucket"][labels(graph=graph, le="+Inf")] == count
        assert m["agentmap_step_seconds_sum"][labels(graph=graph)] == pytest.approx(
            sum(s["duration"] for s in steps), rel=1e-6, abs=1e-9
        )
        buckets = sorted(
            (float(dict(k)["le"]), v)
            for k, v in m["agentmap_step_seconds_bucket"].items()
            if dict(k)["graph"] == graph
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative

    # LLM tokens: the fake counts words; "fine thanks" is 2 completion tokens a call.
    models = {c["model"] for r in chats for c in r["llm"]["by_call"]}
    assert len(models) == 1
    model = models.pop()
    prompt = sum(r["llm"]["prompt_tokens"] for r in chats)
    assert prompt > 0
    assert m["agentmap_llm_tokens_total"] == {
        labels(kind="prompt", model=model): prompt,
        labels(kind="completion", model=model): 2 * 3,
    }
    # The fake prices every call at 0: the cost series is there, and 0.
    assert m["agentmap_llm_cost_total"] == {labels(model=model): 0.0}
    assert m["agentmap_http_problems_total"][labels(status="404")] == 1


def test_batch_rows_count_as_runs_and_batches_are_counted(fake_llm_server: httpx.Client) -> None:
    http = fake_llm_server
    batch(http, "Chat", [{"name": f"n{i}"} for i in range(4)])
    batch(http, "Broken", [{}, {}])

    m = scrape(http)
    assert m["agentmap_batches_total"] == {
        labels(status="completed", graph="Chat"): 1,
        labels(status="completed", graph="Broken"): 1,  # it ran every row; its rows failed
    }
    assert m["agentmap_batch_rows_total"] == {
        labels(status="completed", graph="Chat"): 4,
        labels(status="failed", graph="Broken"): 2,
    }
    assert m["agentmap_batches_active"] == {(): 0}
    assert m["agentmap_runs_total"] == {
        labels(status="completed", graph="Chat"): 4,
        labels(status="failed", graph="Broken"): 2,
    }
    completion = [
        v for k, v in m["agentmap_llm_tokens_total"].items() if ("kind", "completion") in k
    ]
    assert completion == [2 * 4]  # the rows' LLM calls are counted like the runs'


def test_metrics_report_the_cost_of_priced_llm_calls(tmp_path: Path) -> None:
    with FakeOpenAIServer(prompt_tokens=1000, completion_tokens=200) as llm:
        env = {
            "AGENTMAP_LLM__BACKEND": "litellm",
            "AGENTMAP_LLM__API_BASE": llm.base_url,
            "AGENTMAP_LLM__API_KEY": "sk-metrics-test",
            "AGENTMAP_LLM__MODEL": "gpt-4o-mini",
        }
        with (
            running_server(workflows(tmp_path), tmp_path, env_vars=env) as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            chats = [run(http, "Chat", {"name": n}) for n in ("Ada", "Bob")]
            m = scrape(http)
        assert len(llm.requests) == 2
    assert [r["status"] for r in chats] == ["completed", "completed"]
    (model,) = {c["model"] for r in chats for c in r["llm"]["by_call"]}
    assert m["agentmap_llm_tokens_total"] == {
        labels(kind="prompt", model=model): 2000,
        labels(kind="completion", model=model): 400,
    }
    cost = sum(r["llm"]["cost"] for r in chats)
    assert cost > 0
    assert m["agentmap_llm_cost_total"] == {labels(model=model): pytest.approx(cost, rel=1e-9)}
