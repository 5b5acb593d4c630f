"""The async graph runner and what it produces: results, events, the current node.

Standard library only: the runtime reaches services solely through the
protocols in ``agentmap.services.protocols``.

The names below are imported on first use (module ``__getattr__``), so that
importing a leaf module such as ``agentmap.runtime.keys`` or
``agentmap.runtime.backoff`` (from the settings, the workflow checks or a
service) does not load the whole runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "AgentBuilder": "runner",
    "GraphRunner": "runner",
    "RunOptions": "runner",
    "NodeContext": "context",
    "current_node": "context",
    "current_node_or_none": "context",
    "NodeTiming": "result",
    "RunResult": "result",
    "RunStatus": "result",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
