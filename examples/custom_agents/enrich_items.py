"""A custom agent used by examples/enrich_items.csv (AgentType ``custom:EnrichItems``).

It receives the rows a ``csv_reader`` node read (every cell is text, as in the
file) and returns them with typed numbers and computed fields; a row whose
price or quantity is not a number fails the node with a message naming the row,
so the workflow's Failure_Next reports it and nothing is written.
"""

from __future__ import annotations

from typing import Any

from agentmap.agents.base_agent import BaseAgent


class EnrichItemsAgent(BaseAgent):
    # Pure computation: run on the event loop instead of a worker thread.
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        vat = float(self.context.get("vat", 0.0))
        currency = str(self.context.get("currency", "EUR"))
        enriched = []
        for line, row in enumerate(inputs.get("items") or [], start=2):  # line 1 is the header
            try:
                price = float(row["price"])
                quantity = int(row["quantity"])
            except (KeyError, ValueError) as exc:
                return {
                    "error": f"items line {line} ({row.get('id', '?')}): bad price or quantity: {exc}"
                }
            total = round(price * quantity * (1 + vat), 2)
            enriched.append(
                {
                    "id": row.get("id"),
                    "name": row.get("name"),
                    "price": price,
                    "quantity": quantity,
                    "total": total,
                    "in_stock": quantity > 0,
                    "label": f"{row.get('name')}: {quantity} x {price:.2f} {currency}",
                }
            )
        return enriched
