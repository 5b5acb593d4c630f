"""Reusing LLM replies: the same request at temperature 0 gets the same answer, once paid for.

A wrapper around any LLM service (litellm or the fake), so caching is one rule
in one place. A request is cacheable when its temperature is 0 or the caller
passes ``cache=True`` (an agent's Context ``cache: true``). The key is a hash
of the whole request (provider, model, messages, temperature and every other
argument) plus the backend's default model, so changing any of them misses.
The cache is the container's cache service (memory, sqlite or redis) and is
only built when a cacheable call happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.services.protocols import (
    CacheProtocol,
    LLMReply,
    LLMServiceProtocol,
    ToolCallingLLMService,
)

__all__ = ["CachingLLMService", "request_key"]

_PREFIX = "llm:"


def request_key(
    default_model: str,
    provider: str | None,
    messages: Sequence[Mapping[str, Any]],
    model: str | None,
    temperature: float | None,
    kwargs: Mapping[str, Any],
) -> str:
    request = {
        "default_model": default_model,
        "provider": provider,
        "model": model,
        "messages": [dict(m) for m in messages],
        "temperature": temperature,
        "kwargs": {k: v for k, v in kwargs.items() if k != "cache"},
    }
    text = json.dumps(request, sort_keys=True, default=repr, ensure_ascii=False)
    return _PREFIX + hashlib.sha256(text.encode()).hexdigest()


class CachingLLMService:
    """``LLMServiceProtocol``: ``inner`` behind a response cache."""

    def __init__(
        self,
        inner: LLMServiceProtocol,
        cache: Callable[[], CacheProtocol],
        *,
        default_model: str,
        ttl: float | None = None,
    ) -> None:
        self.inner = inner
        self._cache_provider = cache
        self._cache: CacheProtocol | None = None
        self.default_model = default_model
        self.ttl = ttl

    @property
    def cache(self) -> CacheProtocol:
        if self._cache is None:
            self._cache = self._cache_provider()
        return self._cache

    def _key(
        self,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> str | None:
        wanted = kwargs.pop("cache", None)
        if wanted is False or (wanted is None and temperature != 0):
            return None
        return request_key(self.default_model, provider, messages, model, temperature, kwargs)

    def _hit(self, model: str | None, provider: str | None) -> None:
        report_llm_call(
            LLMUsage(model=model or self.default_model, provider=provider, cost=0.0, cached=True)
        )

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        key = self._key(provider, messages, model, temperature, kwargs)
        if key is None:
            return await self.inner.acall_llm(provider, messages, model, temperature, **kwargs)
        cached = await self.cache.get(key)
        if isinstance(cached, str):
            self._hit(model, provider)
            return cached
        reply = await self.inner.acall_llm(provider, messages, model, temperature, **kwargs)
        await self.cache.set(key, reply, self.ttl)
        return reply

    async def acall_llm_tools(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        *,
        tools: Sequence[Mapping[str, Any]],
        **kwargs: Any,
    ) -> LLMReply:
        """Straight through, never cached: the tools' results change between calls."""
        inner = self.inner
        if not isinstance(inner, ToolCallingLLMService):
            raise TypeError(
                f"the LLM backend {type(inner).__name__} cannot offer tools to a model "
                "(it has no acall_llm_tools); use llm.backend litellm or openai_http"
            )
        kwargs.pop("cache", None)
        return await inner.acall_llm_tools(
            provider, messages, model, temperature, tools=tools, **kwargs
        )

    def call_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        key = self._key(provider, messages, model, temperature, kwargs)
        if key is None or _loop_running():
            # Not cacheable, or called on the event loop's own thread, where the
            # async cache cannot be awaited synchronously: call straight through.
            return self.inner.call_llm(provider, messages, model, temperature, **kwargs)
        cached = asyncio.run(self.cache.get(key))
        if isinstance(cached, str):
            self._hit(model, provider)
            return cached
        reply = self.inner.call_llm(provider, messages, model, temperature, **kwargs)
        asyncio.run(self.cache.set(key, reply, self.ttl))
        return reply


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
