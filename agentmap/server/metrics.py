"""``GET /metrics``: Prometheus text, from the tracker's events.

Each server process has its own registry (not prometheus_client's global
one), so two apps in one test process do not share counters, and the figures
are per process: with ``--workers N`` a scraper sees one worker per request,
as with any multi-process Python server without a shared registry (see
docs/serving.md).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agentmap.runtime import events as ev

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_STEP_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "agentmap_runs", "Runs ended, by status and graph", ["status", "graph"], registry=r
        )
        self.active = Gauge("agentmap_runs_active", "Runs in flight in this process", registry=r)
        self.steps = Histogram(
            "agentmap_step_seconds",
            "Seconds a node took (all attempts), by graph",
            ["graph"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "agentmap_llm_tokens", "LLM tokens, by kind and model", ["kind", "model"], registry=r
        )
        self.cost = Counter("agentmap_llm_cost", "LLM cost in USD, by model", ["model"], registry=r)
        self.batches = Counter(
            "agentmap_batches",
            "Batches ended, by status and graph",
            ["status", "graph"],
            registry=r,
        )
        self.batches_active = Gauge(
            "agentmap_batches_active", "Batches running in this process", registry=r
        )
        self.batch_row_lines = Counter(
            "agentmap_batch_rows",
            "Batch rows given a result line, by status (completed, failed, suspended) and graph",
            ["status", "graph"],
            registry=r,
        )
        self._steps: dict[str, Any] = {}
        self.requests = Counter(
            "agentmap_http_problems", "Error responses, by status", ["status"], registry=r
        )

    def observe(self, event: Any) -> None:
        kind = type(event)
        if kind is ev.NodeFinished:
            # Every node of every run passes here: keep each graph's child, as
            # labels() costs a lock and a tuple lookup per call.
            child = self._steps.get(event.graph)
            if child is None:
                child = self._steps[event.graph] = self.steps.labels(event.graph)
            child.observe(event.duration)
        elif kind is ev.RunFinished:
            if "/" not in event.run_id:
                self.runs.labels(event.status, event.graph).inc()
        elif kind is ev.LLMCalled:
            self.tokens.labels("prompt", event.model).inc(event.prompt_tokens)
            self.tokens.labels("completion", event.model).inc(event.completion_tokens)
            if event.cost is not None:  # a known price, zero included (the fake's)
                self.cost.labels(event.model).inc(event.cost)

    def batch_rows(self, graph: str, status: str, count: int) -> None:
        """``count`` more rows of a batch of ``graph`` got a ``status`` line."""
        self.batch_row_lines.labels(status, graph).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
