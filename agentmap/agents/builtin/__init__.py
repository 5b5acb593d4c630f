"""Built-in agent types, by the name a CSV's AgentType column uses."""

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.builtin.branching import BranchingAgent
from agentmap.agents.builtin.collection import AggregatorAgent, SplitterAgent
from agentmap.agents.builtin.core import DefaultAgent, EchoAgent, FailureAgent, SuccessAgent
from agentmap.agents.builtin.error_handler import ErrorHandlerAgent
from agentmap.agents.builtin.formatting import FormatterAgent, SummaryAgent
from agentmap.agents.builtin.human import HumanAgent
from agentmap.agents.builtin.input import InputAgent
from agentmap.agents.builtin.llm import AnthropicAgent, GoogleAgent, LLMAgent, OpenAIAgent
from agentmap.agents.builtin.orchestrator import OrchestratorAgent
from agentmap.agents.builtin.storage import STORAGE_AGENTS
from agentmap.agents.builtin.tool import TOOL_AGENTS
from agentmap.agents.builtin.validator import ValidatorAgent

__all__ = ["BUILTIN_AGENTS"]

BUILTIN_AGENTS: dict[str, type[BaseAgent]] = {
    "default": DefaultAgent,
    "echo": EchoAgent,
    "success": SuccessAgent,
    "failure": FailureAgent,
    "branching": BranchingAgent,
    "input": InputAgent,
    "human": HumanAgent,
    "validator": ValidatorAgent,
    "formatter": FormatterAgent,
    "summary": SummaryAgent,
    "aggregator": AggregatorAgent,
    "splitter": SplitterAgent,
    "error_handler": ErrorHandlerAgent,
    "llm": LLMAgent,
    "openai": OpenAIAgent,
    "gpt": OpenAIAgent,
    "chatgpt": OpenAIAgent,  # AgentMap 0.9's spelling
    "anthropic": AnthropicAgent,
    "claude": AnthropicAgent,
    "google": GoogleAgent,
    "gemini": GoogleAgent,
    "orchestrator": OrchestratorAgent,
    # csv_reader, csv_writer, json_reader, json_writer, file_reader, file_writer
    **STORAGE_AGENTS,
    # tool
    **TOOL_AGENTS,
}
