"""Services container: one ``Selector`` per service, keyed on the settings' backend name.

Backends are named by import path and imported when their provider is first
called, not when this module loads: a run pays only for the backends it uses,
and heavy adapters (litellm, redis, psycopg) stay out of start-up entirely.
Providers are singletons, so one application (a run, or a whole batch) shares
one instance, and one connection pool, per service.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from dependency_injector import containers, providers

from agentmap.settings import AgentMapSettings, secret_values


def _build(target: str, *args: Any, **kwargs: Any) -> Any:
    """Import ``module:Class`` (or ``module:Class.factory``) and call it."""
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj(*args, **kwargs)


def _backend(target: str, *args: Any, **kwargs: Any) -> providers.Singleton[Any]:
    return providers.Singleton(_build, target, *args, **kwargs)


def _llm_for_agents(settings: Any, backend: Callable[[], Any], cache: Callable[[], Any]) -> Any:
    """The LLM service agents receive: the backend, behind the response cache if enabled.

    ``backend`` and ``cache`` are providers, called here (the cache only on the
    first cacheable call), so an override of ``services.llm`` in a test is what
    agents get, and a run with no LLM node builds neither.
    """
    inner = backend()
    if not settings.cache:
        return inner
    from agentmap.services.llm.caching import CachingLLMService

    return CachingLLMService(inner, cache, default_model=settings.model, ttl=settings.cache_ttl)


class ServicesContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=AgentMapSettings)

    tracker = providers.Selector(
        settings.provided.tracking.backend,
        memory=_backend("agentmap.services.tracking.memory:MemoryTracker"),
        jsonl=_backend(
            "agentmap.services.tracking.jsonl:JsonlTracker",
            path=settings.provided.tracking.path,
            secrets=providers.Callable(secret_values, settings),
        ),
        otel=_backend(
            "agentmap.services.tracking.otel:OtelTracker.from_settings", settings.provided.tracking
        ),
        null=_backend("agentmap.services.tracking.null:NullTracker"),
    )
    state = providers.Selector(
        settings.provided.state.backend,
        memory=_backend(
            "agentmap.services.state.memory:MemoryStateAdapter",
            check_json=settings.provided.state.check_json,
        ),
        sqlite=_backend(
            "agentmap.services.state.sqlite:SqliteStateAdapter",
            path=settings.provided.state.path,
            durability=settings.provided.state.durability,
        ),
        postgres=_backend(
            "agentmap.services.state.postgres:PostgresStateAdapter.from_settings",
            settings.provided.state,
        ),
    )
    cache = providers.Selector(
        settings.provided.cache.backend,
        memory=_backend(
            "agentmap.services.cache.memory:MemoryCache",
            max_entries=settings.provided.cache.max_entries,
            default_ttl=settings.provided.cache.default_ttl,
        ),
        sqlite=_backend(
            "agentmap.services.cache.sqlite:SqliteCache",
            path=settings.provided.cache.path,
            default_ttl=settings.provided.cache.default_ttl,
        ),
        redis=_backend(
            "agentmap.services.cache.redis:RedisCache",
            url=settings.provided.cache.redis_url,
            default_ttl=settings.provided.cache.default_ttl,
        ),
    )
    #: Files for the storage agents, confined to ``storage.roots`` (docs/storage.md).
    storage = _backend(
        "agentmap.services.storage.local:LocalStorageService.from_settings",
        settings.provided.storage,
    )
    #: Resolves ``prompt:``, ``file:`` and ``yaml:`` references (the configured prompts folder;
    #: ``for_workflow`` adds the ``prompts/`` folder beside a CSV).
    prompts = _backend(
        "agentmap.services.prompts:PromptService",
        providers.List(settings.provided.paths.prompts),
    )
    llm = providers.Selector(
        settings.provided.llm.backend,
        fake=_backend(
            "agentmap.services.llm.fake:FakeLLMService.from_settings", settings.provided.llm
        ),
        litellm=_backend("agentmap.services.llm.litellm:LiteLLMService", settings.provided.llm),
        openai_http=_backend(
            "agentmap.services.llm.openai_http:OpenAIHTTPService", settings.provided.llm
        ),
    )
    #: What agents declaring LLMCapableAgent receive (see _llm_for_agents).
    llm_service = providers.Callable(
        _llm_for_agents, settings.provided.llm, llm.provider, cache.provider
    )
