"""Test kit for users' own tests: the scripted fake LLM, a local OpenAI-compatible
server, and pytest fixtures.

The fixtures are registered automatically through the ``pytest11`` entry point
(``agentmap.testing.plugin``): ``agentmap_app`` (an application configured for
the ``test`` environment), ``fake_llm`` (a scripted LLM already wired into it)
and ``fake_openai_server`` (a started ``FakeOpenAIServer``). Install the
``testing`` extra for the kit's own dependencies (pytest, pytest-mock).

``FakeOpenAIServer`` and its outcome classes are imported on first use (module
``__getattr__``): this package is loaded by every pytest run on a machine with
AgentMap installed, and most of those runs never start the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentmap.services.llm.fake import FakeLLMCall, FakeLLMExhaustedError, FakeLLMService
from agentmap.services.tracking.memory import MemoryTracker

if TYPE_CHECKING:
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

__all__ = [
    "BadRequest",
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
    "Timeout",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
