"""The ``tool`` agent.

Placeholder: issue #14 fills this module; the registry merges ``TOOL_AGENTS``.
"""

from __future__ import annotations

from agentmap.agents.base_agent import BaseAgent

__all__ = ["TOOL_AGENTS"]

TOOL_AGENTS: dict[str, type[BaseAgent]] = {}
