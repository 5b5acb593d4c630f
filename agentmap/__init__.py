"""AgentMap: LLM-agent workflows written as CSV rows.

The top-level package stays import-light on purpose (``agentmap --help`` must
start fast), so it re-exports only the small, dependency-free core.
"""

from agentmap._version import __version__
from agentmap.errors import AgentMapError, ConfigurationError, WorkflowError

__all__ = ["AgentMapError", "ConfigurationError", "WorkflowError", "__version__"]
