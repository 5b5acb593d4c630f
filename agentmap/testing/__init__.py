"""Test kit for users' own tests: the scripted fake LLM, a local OpenAI-compatible
server, and pytest fixtures.

The fixtures are registered automatically through the ``pytest11`` entry point
(``agentmap.testing.plugin``): ``agentmap_app`` (an application configured for
the ``test`` environment), ``fake_llm`` (a scripted LLM already wired into it)
and ``fake_openai_server`` (a started ``FakeOpenAIServer``). Install the
``testing`` extra for the kit's own dependencies (pytest, pytest-mock).

The conformance suites a backend of each service protocol must pass are here
too (``CacheConformance``, ``TrackerConformance``, ``StateAdapterConformance``;
their modules are ``agentmap.testing.*_conformance``): subclass one in a test
module and define the fixtures it asks for (docs/testing.md).

``FakeOpenAIServer`` and its outcome classes, and the suites, are imported on
first use (module ``__getattr__``): this package is loaded by every pytest run
on a machine with AgentMap installed, and most of those runs never start the
server or check a backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentmap.services.llm.fake import FakeLLMCall, FakeLLMExhaustedError, FakeLLMService
from agentmap.services.tracking.memory import MemoryTracker

if TYPE_CHECKING:
    from agentmap.testing.cache_conformance import CacheConformance
    from agentmap.testing.openai_server import (
        BadRequest,
        Disconnect,
        ErrorReply,
        FakeOpenAIServer,
        MalformedJSON,
        RateLimited,
        RecordedRequest,
        Reply,
        ServerError,
        Timeout,
    )
    from agentmap.testing.state_conformance import StateAdapterConformance
    from agentmap.testing.tracker_conformance import TrackerConformance

__all__ = [
    "BadRequest",
    "CacheConformance",
    "Disconnect",
    "ErrorReply",
    "FakeLLMCall",
    "FakeLLMExhaustedError",
    "FakeLLMService",
    "FakeOpenAIServer",
    "MalformedJSON",
    "MemoryTracker",
    "RateLimited",
    "RecordedRequest",
    "Reply",
    "ServerError",
    "StateAdapterConformance",
    "Timeout",
    "TrackerConformance",
]

_LAZY = {
    name: "agentmap.testing.openai_server"
    for name in (
        "BadRequest",
        "Disconnect",
        "ErrorReply",
        "FakeOpenAIServer",
        "MalformedJSON",
        "RateLimited",
        "RecordedRequest",
        "Reply",
        "ServerError",
        "Timeout",
    )
}
_LAZY["CacheConformance"] = "agentmap.testing.cache_conformance"
_LAZY["StateAdapterConformance"] = "agentmap.testing.state_conformance"
_LAZY["TrackerConformance"] = "agentmap.testing.tracker_conformance"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
