"""Built-in agent types, by the name a CSV's AgentType column uses."""

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.builtin.branching import BranchingAgent
from agentmap.agents.builtin.core import DefaultAgent, EchoAgent, FailureAgent, SuccessAgent
from agentmap.agents.builtin.input import InputAgent

__all__ = ["BUILTIN_AGENTS"]

BUILTIN_AGENTS: dict[str, type[BaseAgent]] = {
    "default": DefaultAgent,
    "echo": EchoAgent,
    "success": SuccessAgent,
    "failure": FailureAgent,
    "branching": BranchingAgent,
    "input": InputAgent,
}
