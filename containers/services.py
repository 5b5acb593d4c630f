"""Services container: one ``Selector`` per service, keyed on the settings' backend name.

Backend classes are imported here because their modules are cheap (standard
library only); the ones that adapt heavy libraries (litellm, redis, psycopg)
import those lazily, when the provider is first called. Providers are
singletons, so one run (or one batch) shares one connection pool per service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from dependency_injector import containers, providers

from agentmap.errors import ConfigurationError
from agentmap.services.cache.memory import MemoryCache
from agentmap.services.llm.fake import FakeLLMService
from agentmap.services.state.memory import MemoryStateAdapter
from agentmap.services.tracking.jsonl import JsonlTracker
from agentmap.services.tracking.memory import MemoryTracker
from agentmap.settings import AgentMapSettings, LLMSettings


def _not_built(setting: str, backend: str, issue: str) -> NoReturn:
    raise ConfigurationError(
        f"{setting}={backend!r} is not implemented in this version yet ({issue}); "
        "choose another backend in your settings"
    )


def _sqlite_cache(path: Path, default_ttl: float | None) -> Any:
    from agentmap.services.cache.sqlite import SqliteCache  # sqlite3 only when used

    return SqliteCache(path=path, default_ttl=default_ttl)


def _litellm(llm: LLMSettings) -> Any:
    from agentmap.services.llm.litellm import LiteLLMService

    return LiteLLMService(llm)


class ServicesContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)

    tracker = providers.Selector(
        settings.provided.tracking.backend,
        memory=providers.Singleton(MemoryTracker),
        jsonl=providers.Singleton(JsonlTracker, path=settings.provided.tracking.path),
        otel=providers.Callable(_not_built, "tracking.backend", "otel", "planned"),
    )
    state = providers.Selector(
        settings.provided.state.backend,
        memory=providers.Singleton(MemoryStateAdapter),
        sqlite=providers.Callable(_not_built, "state.backend", "sqlite", "planned"),
        postgres=providers.Callable(_not_built, "state.backend", "postgres", "planned"),
    )
    cache = providers.Selector(
        settings.provided.cache.backend,
        memory=providers.Singleton(
            MemoryCache,
            max_entries=settings.provided.cache.max_entries,
            default_ttl=settings.provided.cache.default_ttl,
        ),
        sqlite=providers.Singleton(
            _sqlite_cache,
            path=settings.provided.cache.path,
            default_ttl=settings.provided.cache.default_ttl,
        ),
        redis=providers.Callable(_not_built, "cache.backend", "redis", "issue #4"),
    )
    llm = providers.Selector(
        settings.provided.llm.backend,
        fake=providers.Singleton(FakeLLMService.from_settings, settings.provided.llm),
        litellm=providers.Singleton(_litellm, settings.provided.llm),
    )
