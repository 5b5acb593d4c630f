"""pytest fixtures for testing AgentMap workflows (loaded through the ``pytest11`` entry point).

Imports of the container happen inside the fixtures, so merely having AgentMap
installed adds nothing to the start-up of an unrelated test suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agentmap.services.llm.fake import FakeLLMService
    from containers.application import Application


@pytest.fixture
def agentmap_app() -> Iterator[Application]:
    """An ``Application`` on the ``test`` preset: fake LLM, in-memory cache, tracker and state."""
    from containers.application import create_application

    app = create_application("test")
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def fake_llm(agentmap_app: Application) -> Iterator[FakeLLMService]:
    """A scripted fake LLM wired into ``agentmap_app``; script it with ``responses``/``patterns``."""
    from agentmap.services.llm.fake import FakeLLMService

    fake = FakeLLMService()
    with agentmap_app.use(llm=fake):
        yield fake
