"""The async graph runner and what it produces: results, events, the current node.

Standard library only: the runtime reaches services solely through the
protocols in ``agentmap.services.protocols``.
"""

from agentmap.runtime.context import NodeContext, current_node, current_node_or_none
from agentmap.runtime.result import NodeTiming, RunResult, RunStatus
from agentmap.runtime.runner import AgentBuilder, GraphRunner, RunOptions

__all__ = [
    "AgentBuilder",
    "GraphRunner",
    "NodeContext",
    "NodeTiming",
    "RunOptions",
    "RunResult",
    "RunStatus",
    "current_node",
    "current_node_or_none",
]
