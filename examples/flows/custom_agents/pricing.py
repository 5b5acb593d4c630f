"""The custom agent of examples/flows/analysis.csv.

It lives in ``flows/custom_agents`` beside the CSV that uses it: a subgraph in
another folder brings its own custom agents.
"""

from __future__ import annotations

from typing import Any

from agentmap.agents.base_agent import BaseAgent


class PricingAgent(BaseAgent):
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        order = inputs.get("order") or {}
        items = order.get("items") or []
        total = sum(float(i.get("price", 0)) * int(i.get("qty", 1)) for i in items)
        return {
            "items": len(items),
            "units": sum(int(i.get("qty", 1)) for i in items),
            "total": round(total, 2),
            "currency": self.context.get("currency", "EUR"),
        }
