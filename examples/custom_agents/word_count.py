"""A custom agent used by examples/quickstart.csv (AgentType ``custom:WordCount``).

Custom agents live in a ``custom_agents`` folder beside the CSV (or in the
folder named by the ``paths.custom_agents`` setting); every ``BaseAgent``
subclass found there is registered under its class name, with and without the
``Agent`` suffix.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from agentmap.agents.base_agent import BaseAgent


class WordCountAgent(BaseAgent):
    # No blocking I/O: run on the event loop instead of a worker thread.
    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        text = inputs.get("text") or ""
        words = re.findall(r"[\w']+", str(text).lower())
        top = int(self.context.get("top", 3))
        self.log_debug(f"{len(words)} words")
        return {
            "word_count": len(words),
            "top_words": ", ".join(w for w, _ in Counter(words).most_common(top)),
            "long_enough": len(words) >= int(self.context.get("min_words", 5)),
        }
