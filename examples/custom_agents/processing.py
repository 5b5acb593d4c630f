"""Custom agents of examples/user_flow.csv and examples/parallel.csv."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class ProcessorAgent(BaseAgent):
    """The "business logic" of the user flow: a profile from validated sign-up data."""

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        user = inputs.get("validated_data") or {}
        age = int(user["age"])
        group = "minor" if age < 18 else "adult" if age < 65 else "senior"
        return {
            "display_name": str(user["name"]).title(),
            "age_group": group,
            "newsletter": bool(user.get("newsletter", False)),
            "domain": str(user["email"]).rsplit("@", 1)[-1],
        }


class WorkerAgent(BaseAgent):
    """Counts the words of one work package (Context ``package``: its index).

    Async and slow on purpose (Context ``seconds``): the three workers of the
    parallel example overlap, which the run's duration shows.
    """

    async def process(self, inputs: dict[str, Any]) -> Any:
        packages = inputs.get("work_packages") or []
        index = int(self.context.get("package", 0))
        texts = packages[index] if index < len(packages) else []
        await asyncio.sleep(float(self.context.get("seconds", 0.2)))
        words = Counter(w for t in texts for w in re.findall(r"[\w']+", str(t).lower()))
        return {"texts": len(texts), "words": sum(words.values()), "top": words.most_common(2)}
