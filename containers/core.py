"""Core container: the settings object and the configured loguru logger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dependency_injector import containers, providers

from agentmap.services.logging import configure_logger, release_logger
from agentmap.settings import AgentMapSettings, secret_values


def _logger(settings: AgentMapSettings) -> Iterator[Any]:
    """A Resource: sinks are added on first use and removed on ``shutdown_resources``."""
    logger, handler_ids = configure_logger(settings.logging, secret_values(settings))
    try:
        yield logger
    finally:
        release_logger(handler_ids)


class CoreContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)
    logger = providers.Resource(_logger, settings)
