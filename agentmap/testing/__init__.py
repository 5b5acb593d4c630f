"""Test kit for users' own tests: the scripted fake LLM and pytest fixtures.

The fixtures are registered automatically through the ``pytest11`` entry point
(``agentmap.testing.plugin``): ``agentmap_app`` (an application configured for
the ``test`` environment) and ``fake_llm`` (a scripted LLM already wired into
it).
"""

from agentmap.services.llm.fake import FakeLLMCall, FakeLLMExhaustedError, FakeLLMService
from agentmap.services.tracking.memory import MemoryTracker

__all__ = ["FakeLLMCall", "FakeLLMExhaustedError", "FakeLLMService", "MemoryTracker"]
