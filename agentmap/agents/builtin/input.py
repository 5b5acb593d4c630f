"""``input``: the value of the node's Output_Field, from the run's initial state or the console.

Batch jobs and CI pass values in the initial state; only a person at a
terminal is asked. Anywhere else (no value, no terminal) the node fails with a
message that says how to pass the value, rather than blocking on a read.
"""

from __future__ import annotations

import sys
from typing import Any

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.prompt_template import render_prompt
from agentmap.runtime.context import current_node
from agentmap.runtime.keys import ERROR_KEY

__all__ = ["InputAgent"]


class InputAgent(BaseAgent):
    def process(self, inputs: dict[str, Any]) -> Any:
        ctx = current_node()
        outputs = ctx.node.outputs
        field = self.context.get("field") or (outputs[0].state_key if outputs else None)
        if field is None:
            return {ERROR_KEY: f"input node {self.name!r} has no Output_Field to fill"}
        if field in ctx.initial_state:
            return ctx.initial_state[field]
        stdin = sys.stdin
        if stdin is not None and stdin.isatty():
            question = render_prompt(self.prompt, inputs, node=self.name) if self.prompt else field
            return input(f"{question}: ")
        return {
            ERROR_KEY: f"input node {self.name!r} needs {field!r}: pass it in the initial state "
            "or run on an interactive terminal"
        }
