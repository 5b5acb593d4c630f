"""Python client for ``agentmap serve`` (the ``client`` extra: httpx).

    from agentmap.client import AgentMapClient

    with AgentMapClient("http://127.0.0.1:8000", api_key="...") as client:
        result = client.run("Support", {"ticket": "..."})
        for event in client.events(result["run_id"]):
            print(event.event, event.data)

``AsyncAgentMapClient`` has the same methods as coroutines and async
iterators. Error answers raise ``AgentMapAPIError`` (the server's
problem+json: ``status``, ``title``, ``detail``, ``errors``); a server that
cannot be reached raises ``AgentMapConnectionError``. Importing this package
without httpx installed raises an ImportError naming ``agentmap[client]``.
"""

from __future__ import annotations

from agentmap.client.aio import AsyncAgentMapClient
from agentmap.client.errors import (
    AgentMapAPIError,
    AgentMapConnectionError,
    AgentMapError,
    AgentMapTimeoutError,
)
from agentmap.client.sse import Event
from agentmap.client.sync import AgentMapClient

__all__ = [
    "AgentMapAPIError",
    "AgentMapClient",
    "AgentMapConnectionError",
    "AgentMapError",
    "AgentMapTimeoutError",
    "AsyncAgentMapClient",
    "Event",
]
