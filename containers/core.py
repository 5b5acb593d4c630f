"""Core container: the settings object and the configured loguru logger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dependency_injector import containers, providers

from agentmap.services.logging import DeferredLogger
from agentmap.settings import AgentMapSettings, secret_values


def _logger(settings: AgentMapSettings) -> Iterator[Any]:
    """A Resource: loguru is set up at the first message; sinks go on ``shutdown_resources``."""
    logger = DeferredLogger(settings.logging, secret_values(settings))
    try:
        yield logger
    finally:
        logger.release()


class CoreContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)
    logger = providers.Resource(_logger, settings)
