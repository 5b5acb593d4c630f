"""Storage agents (csv_reader, csv_writer, json_reader, json_writer, file_reader, file_writer).

Placeholder: issue #14 fills this module; the registry merges ``STORAGE_AGENTS``.
"""

from __future__ import annotations

from agentmap.agents.base_agent import BaseAgent

__all__ = ["STORAGE_AGENTS"]

STORAGE_AGENTS: dict[str, type[BaseAgent]] = {}
