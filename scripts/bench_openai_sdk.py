"""The official openai SDK as an LLM service, for scripts/bench only (issue #11, item 4).

``OpenAISDKService`` does what the ``openai_http`` backend does on its async
path (model names, request fields, ``CallLimits``, usage and cost, the error
contract) but sends the request with ``openai.AsyncOpenAI`` over the SDK's
aiohttp transport (``http_client=DefaultAioHttpClient()``, the ``aiohttp``
extra) and lets the SDK retry (``max_retries=llm.retries``, its own back-off
and ``Retry-After`` handling). The bench runs it next to ``openai_http`` in the
same process and loop, so the difference is the client alone.

Two ways to call the SDK:

- ``parsed``: ``client.chat.completions.create(...)``, the documented call,
  which validates the request's TypedDicts and builds a pydantic
  ``ChatCompletion``;
- ``raw``: ``client.post("/chat/completions", body=..., cast_to=httpx2.Response)``
  (the SDK's documented way to reach an endpoint without a typed method),
  which keeps its transport, retries and error classes but skips both, and
  parses the JSON with ``openai_wire.parse_reply`` as ``openai_http`` does.

docs/performance.md ("The openai SDK against the hand-written client") has
the figures and why ``openai_http`` kept its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import openai

from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.services.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
)
from agentmap.services.llm.limits import CallLimits
from agentmap.services.llm.models import chat_fields, resolve_model
from agentmap.services.llm.openai_wire import error_for_status, parse_reply, retry_after_seconds
from agentmap.services.llm.prices import model_cost
from agentmap.settings import LLMSettings


class OpenAISDKService:
    """The async half of an LLM service over ``openai.AsyncOpenAI`` (aiohttp transport)."""

    def __init__(self, settings: LLMSettings, *, raw: bool = False) -> None:
        self.settings = settings
        self.raw = raw
        secret = settings.api_keys.get("openai") or settings.api_key
        self._key = secret.get_secret_value() if secret is not None else "none"
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self.limits = CallLimits.from_settings(settings)

    async def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:  # the aiohttp session belongs to one loop: one client per loop
            client = openai.AsyncOpenAI(
                api_key=self._key,
                base_url=self.settings.api_base,
                timeout=self.settings.timeout,
                max_retries=self.settings.retries,
                http_client=openai.DefaultAioHttpClient(),
            )
            closer = _close_at_loop_shutdown(client)  # as openai_http closes its pools
            await closer.__anext__()
            entry = self._clients[loop] = (client, closer)
        return entry[0]

    async def aclose(self) -> None:
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].close()

    def call_llm(self, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError("bench candidate: async calls only")

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        resolved = resolve_model(self.settings, provider, model)
        body = {"model": resolved.removeprefix("openai/")}
        body.update(chat_fields(self.settings, messages, temperature, kwargs))
        client = await self._client()
        limited = self.limits.enabled
        async with self.limits.aslot("openai") if limited else contextlib.nullcontext():
            started = time.perf_counter()
            try:
                if self.raw:
                    import httpx2

                    response = await client.post(
                        "/chat/completions", body=body, cast_to=httpx2.Response
                    )
                    reply = parse_reply(resolved, json.loads(response.content))
                    text, usage = reply.text, (reply.prompt_tokens, reply.completion_tokens)
                else:
                    completion = await client.chat.completions.create(**body)
                    content = completion.choices[0].message.content
                    text = "" if content is None else content
                    tokens = completion.usage
                    usage = (tokens.prompt_tokens, tokens.completion_tokens) if tokens else (0, 0)
            except openai.OpenAIError as exc:
                raise _mapped(exc, resolved) from exc
        report_llm_call(
            LLMUsage(
                model=resolved,
                provider="openai",
                latency=time.perf_counter() - started,
                prompt_tokens=usage[0],
                completion_tokens=usage[1],
                cost=model_cost(resolved, *usage),
            )
        )
        return text


async def _close_at_loop_shutdown(client: openai.AsyncOpenAI) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.close()


def _mapped(exc: openai.OpenAIError, model: str) -> LLMError:
    """The SDK's exception -> the error contract (enough for the bench; not the real table)."""
    message = str(getattr(exc, "message", exc))
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeoutError(model, message)
    if isinstance(exc, openai.APIConnectionError):
        return LLMConnectionError(model, message)
    if isinstance(exc, openai.APIStatusError):
        kind = error_for_status(exc.status_code)
        if kind is LLMRateLimitError:
            return LLMRateLimitError(
                model, message, retry_after=retry_after_seconds(exc.response.headers)
            )
        return kind(model, message, status=exc.status_code)
    return LLMProviderError(model, message)
