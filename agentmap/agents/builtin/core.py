"""The built-in agents that need no service: default, echo, success, failure."""

from __future__ import annotations

from typing import Any, ClassVar

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.prompt_template import render_prompt
from agentmap.runtime.keys import ERROR_KEY

__all__ = ["DefaultAgent", "EchoAgent", "FailureAgent", "SuccessAgent"]


def passthrough(inputs: dict[str, Any]) -> Any:
    """The single input's value, a dict of all inputs when there are several, else None."""
    if len(inputs) == 1:
        return next(iter(inputs.values()))
    return dict(inputs) if inputs else None


class EchoAgent(BaseAgent):
    """Returns the Prompt rendered over the inputs, or the inputs themselves."""

    run_inline: ClassVar[bool] = True

    def process(self, inputs: dict[str, Any]) -> Any:
        if self.prompt:
            return render_prompt(self.prompt, inputs, node=self.name)
        return passthrough(inputs)


class DefaultAgent(EchoAgent):
    """The agent of a row with an empty AgentType; behaves like ``echo``."""


class SuccessAgent(BaseAgent):
    """Ends a path successfully with a message (the Prompt, rendered, if any)."""

    run_inline: ClassVar[bool] = True

    def process(self, inputs: dict[str, Any]) -> Any:
        if self.prompt:
            return render_prompt(self.prompt, inputs, node=self.name)
        return f"{self.name}: success"


class FailureAgent(BaseAgent):
    """Fails its node with a message, so that the row's Failure_Next applies."""

    run_inline: ClassVar[bool] = True

    def process(self, inputs: dict[str, Any]) -> Any:
        message = render_prompt(self.prompt, inputs, node=self.name) if self.prompt else ""
        return {ERROR_KEY: message or f"{self.name}: failure"}
