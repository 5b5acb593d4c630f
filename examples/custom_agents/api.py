"""Custom agents of examples/robust_api.csv: a flaky API and the retry step in front of it.

``APIAgent`` stands in for an HTTP call to a service that is down for the
first ``fail_first`` calls of a run (given in the request), so the example
shows a recovery loop without a network. It returns ``{"error": ...}`` like a
real client wrapper would on HTTP 503 (the error-first convention): the node
fails, ``Failure_Next`` routes to the handler, and the handler decides between
another try and giving up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class APIAgent(BaseAgent):
    async def process(self, inputs: dict[str, Any]) -> Any:
        request = inputs.get("api_request") or {}
        # Which call of this run this is: RetryAgent counts the retries in retry_result.
        retry = inputs.get("retry_result") or {}
        call = int(retry.get("attempt", 0)) + 1
        await asyncio.sleep(float(request.get("latency", 0.01)))  # the "network"
        if call <= int(request.get("fail_first", 2)):
            return {"error": f"HTTP 503 from {request.get('url', 'the API')} (call {call})"}
        return {"status": 200, "call": call, "data": {"echo": request.get("query", "")}}


class RetryAgent(BaseAgent):
    """Counts retries in ``retry_result`` and fails once Context ``max_retries`` is used up."""

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        previous = inputs.get("retry_result") or {}
        attempt = int(previous.get("attempt", 0)) + 1
        limit = int(self.context.get("max_retries", 2))
        if attempt > limit:
            return {"error": f"gave up after {limit} retries"}
        self.log_info(f"retry {attempt} of {limit}")
        return {"attempt": attempt, "of": limit}
