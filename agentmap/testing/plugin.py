"""pytest fixtures for testing AgentMap workflows (loaded through the ``pytest11`` entry point).

Imports of the container and of the fake server happen inside the fixtures, so
merely having AgentMap installed adds nothing to the start-up of an unrelated
test suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from agentmap import _shadowing

if TYPE_CHECKING:
    from agentmap.services.llm.fake import FakeLLMService
    from agentmap.testing.openai_server import FakeOpenAIServer
    from containers.application import Application


@pytest.fixture
def agentmap_app() -> Iterator[Application]:
    """An ``Application`` on the ``test`` preset: fake LLM, in-memory cache, tracker and state."""
    # Checked again here, not only at ``import agentmap``: by now pytest has put
    # the test folders (and their rootdir) on sys.path, and a ``containers.py``
    # there would be imported in place of AgentMap's package.
    _shadowing.check_containers()
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


@pytest.fixture
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    """A ``FakeOpenAIServer`` listening on 127.0.0.1 (a free port) for one test.

    Point an LLM backend at ``fake_openai_server.base_url``; script failures
    with ``script(...)``, and assert on ``requests``. Stopped after the test,
    requests in flight included.
    """
    from agentmap.testing.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.close()
