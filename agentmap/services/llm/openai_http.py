"""The ``openai_http`` LLM backend: OpenAI-compatible chat completions over plain aiohttp.

For when every call goes to one OpenAI-compatible ``/chat/completions``
endpoint (OpenAI itself, vLLM, Ollama, LM Studio, a LiteLLM proxy, OpenRouter,
Groq, ...) and the per-request CPU of litellm (about 6-7 ms) matters: a batch
of thousands of calls, or many parallel branches. It posts the JSON itself and
reads the JSON reply, nothing more. It never imports litellm.

What it does, in place of litellm's Router (there is no Router here, so
nothing is stacked):

- Per request: a total timeout of ``llm.timeout`` seconds.
- Retries: ``llm.retries`` more attempts of one request on 429 (waiting what
  ``Retry-After`` / ``retry-after-ms`` says, at most ``retry_after_max``
  seconds), on 5xx, timeouts and connection errors, with exponential back-off
  and jitter (``backoff_base`` doubling up to ``backoff_max``) otherwise
  (408 and 409 count as retryable, as in the openai SDK). Another 4xx is
  never retried, nor is a 200 whose body is unusable (not JSON, no
  ``choices``): the provider did answer, and may have charged.
- Fallbacks: when a model still fails with a retryable error after its
  retries, or is unknown to the endpoint (404), ``llm.fallbacks`` are tried in
  order, each with its own retries. Errors about the request itself (400,
  401, 403, 422, ...) go straight to the caller: another model would not fix
  them.
- Limits: ``llm.max_concurrency`` / ``llm.rpm`` and the per-provider forms
  through ``CallLimits``, as the litellm backend. Every call of this backend
  goes to one endpoint with one key, so its provider is ``openai`` for
  limits, keys and usage, whatever the model name says.
- Usage: model, latency, tokens from the reply's ``usage``, and a cost from
  litellm's price table when litellm happens to be installed (read as a JSON
  file, never imported); None otherwise.

Model names resolve as with litellm (aliases, ``llm.providers``, ``llm.model``:
``agentmap.services.llm.models``). A leading ``openai/`` is removed from the
name sent; any other prefix (``anthropic/claude-...``) is sent as written,
for a proxy that routes by it.

Connections: one aiohttp ``ClientSession`` (and keep-alive pool) per event
loop, made on first use and closed when that loop shuts its async generators
down (``asyncio.run`` does), or by ``aclose()``. Sync ``call_llm`` runs the
request on a private event loop in a daemon thread of this service, so sync
agents in worker threads share one pool; ``close()`` stops it. Both are
``agentmap.services.llm.loops``.

Errors are the classes of ``agentmap.services.llm.errors`` (``LLMRateLimitError``,
``LLMTimeoutError``, ``LLMConnectionError``, ``LLMAuthenticationError``,
``LLMBadRequestError``, ``LLMProviderError``), chosen by ``BY_STATUS`` and
``error_for_client`` (``openai_wire``), with the HTTP status, the model, the provider's message,
and aiohttp's exception as ``__cause__``. No error text holds the API key or
the request's messages.

This is the one module that imports aiohttp, when a service is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.runtime.backoff import backoff_delay
from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.services.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMTimeoutError,
)
from agentmap.services.llm.limits import CallLimits
from agentmap.services.llm.loops import PerLoop, PrivateLoop, in_running_loop
from agentmap.services.llm.models import chat_fields, resolve_model
from agentmap.services.llm.openai_wire import (
    Reply,
    env_proxy,
    error_for_client,
    parse_reply,
    repeatable,
    scrub,
    scrub_chain,
    secrets_of,
    status_error,
)
from agentmap.services.llm.prices import model_cost
from agentmap.services.protocols import LLMReply

if TYPE_CHECKING:
    import aiohttp

    from agentmap.settings import LLMSettings

__all__ = ["DEFAULT_API_BASE", "LLMProviderError", "OpenAIHTTPService", "model_cost"]

#: Where requests go when ``llm.api_base`` is not set.
DEFAULT_API_BASE = "https://api.openai.com/v1"
#: The provider of every call of this backend (limits, keys, usage).
PROVIDER = "openai"


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError:
        raise MissingExtraError("aiohttp", "openai", "The openai_http LLM backend") from None
    return aiohttp


# --------------------------------------------------------------------------- service


class OpenAIHTTPService:
    """``LLMServiceProtocol`` over an OpenAI-compatible ``/chat/completions`` endpoint.

    ``backoff_base``, ``backoff_max`` and ``retry_after_max`` (seconds) default
    to the class attributes of the same name; tests pass small ones.
    """

    #: First retry's back-off ceiling; it doubles per retry (full value or less: jitter).
    backoff_base: float = 0.5
    #: Back-off never exceeds this.
    backoff_max: float = 8.0
    #: A ``Retry-After`` longer than this is cut to it.
    retry_after_max: float = 60.0

    def __init__(
        self,
        settings: LLMSettings,
        *,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        retry_after_max: float | None = None,
    ) -> None:
        self.settings = settings
        self._aiohttp = _import_aiohttp()
        if backoff_base is not None:
            self.backoff_base = backoff_base
        if backoff_max is not None:
            self.backoff_max = backoff_max
        if retry_after_max is not None:
            self.retry_after_max = retry_after_max
        base = (settings.api_base or DEFAULT_API_BASE).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"llm.api_base must be an http:// or https:// URL, got {settings.api_base!r}"
            )
        #: The endpoint every request is posted to.
        self.url = f"{base}/chat/completions"
        self._proxy = env_proxy(self.url)
        secret = settings.api_keys.get(PROVIDER) or settings.api_key
        self._configured_key = secret.get_secret_value() if secret is not None else None
        self._timeout = self._aiohttp.ClientTimeout(total=settings.timeout)
        #: Concurrency and requests-per-minute limits over every call of the process.
        self.limits = CallLimits.from_settings(settings)
        self._limited = self.limits.enabled
        #: One connection pool per event loop, closed with its loop.
        self.sessions: PerLoop[aiohttp.ClientSession] = PerLoop(self._new_session)
        #: The event loop sync calls run on (a daemon thread, started by the first one).
        self.private_loop = PrivateLoop("agentmap-openai-http", on_stop=self.aclose)

    # ------------------------------------------------------------------ names and keys

    def resolve_model(self, provider: str | None = None, model: str | None = None) -> str:
        """The model name for a call: alias, then provider default, then default."""
        return resolve_model(self.settings, provider, model)

    @staticmethod
    def wire_model(model: str) -> str:
        """The name sent to the endpoint: without a leading ``openai/``."""
        return model.removeprefix("openai/")

    def _api_key(self, model: str) -> str | None:
        key = self._configured_key or os.environ.get("OPENAI_API_KEY") or None
        if key is None and not self.settings.api_base:
            raise ConfigurationError(
                f"no API key for model {model!r}: set OPENAI_API_KEY in the environment, "
                "or llm.api_keys.openai / llm.api_key in settings (AGENTMAP_LLM__API_KEY=...); "
                "a local OpenAI-compatible server needs llm.api_base instead"
            )
        return key

    # ------------------------------------------------------------------ sessions

    def _new_session(self) -> aiohttp.ClientSession:
        http = self._aiohttp
        session: aiohttp.ClientSession = http.ClientSession(
            # No cap here: llm.max_concurrency is the cap, and a request queued for
            # a pooled connection would spend its timeout waiting.
            connector=http.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=self._timeout,
            cookie_jar=http.DummyCookieJar(),
        )
        return session

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop (others close with their loop)."""
        await self.sessions.aclose()

    def close(self) -> None:
        """Stop the private loop of sync calls and close its pool; best effort elsewhere.

        Called from inside a running event loop, it also schedules ``aclose()`` there.
        """
        in_running_loop(self.aclose)
        self.private_loop.close()

    # ------------------------------------------------------------------ calls

    def _body(
        self,
        messages: Sequence[Mapping[str, Any]],
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        if kwargs.get("stream"):
            raise ValueError("the openai_http LLM backend does not stream: call without stream")
        return chat_fields(self.settings, messages, temperature, kwargs)

    async def _complete(
        self,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> tuple[Reply, LLMUsage]:
        """Ask the endpoint (with retries and fallbacks); the reply and its usage."""
        resolved = self.resolve_model(provider, model)
        key = self._api_key(resolved)
        body = self._body(messages, temperature, kwargs)
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        masks = secrets_of(key, messages)
        async with self.limits.aslot(PROVIDER) if self._limited else contextlib.nullcontext():
            started = time.perf_counter()  # after the limits: waiting is not latency
            reply = await self._with_fallbacks(resolved, body, headers, masks)
        latency = time.perf_counter() - started
        cost = None
        if reply.has_usage:  # priced as the model asked for, else as the one that answered
            for name in (reply.model, reply.answered_by):
                if name and cost is None:
                    cost = model_cost(
                        name, reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens
                    )
        usage = LLMUsage(
            model=reply.model,
            provider=PROVIDER,
            latency=latency,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost=cost,
        )
        return reply, usage

    async def _with_fallbacks(
        self, model: str, body: dict[str, Any], headers: dict[str, str], masks: list[str]
    ) -> Reply:
        aliases = self.settings.aliases
        fallbacks = (aliases.get(m, m) for m in self.settings.fallbacks)
        candidates = list(dict.fromkeys((model, *fallbacks)))
        failed: list[str] = []
        for candidate in candidates:
            try:
                return await self._with_retries(candidate, body, headers, masks)
            except LLMError as exc:
                if not (repeatable(exc) or exc.status == 404) or candidate == candidates[-1]:
                    if failed:
                        tried = ", ".join(map(repr, failed))
                        message = f"{exc.message} (after the models {tried} failed before it)"
                        raise exc.with_message(message) from exc
                    raise
                failed.append(candidate)
        raise AssertionError("unreachable: the last candidate returns or raises")

    async def _with_retries(
        self, model: str, body: dict[str, Any], headers: dict[str, str], masks: list[str]
    ) -> Reply:
        payload = json.dumps({"model": self.wire_model(model), **body}).encode()
        retries = self.settings.retries
        attempt = 0
        while True:
            try:
                return await self._attempt(model, payload, headers, masks)
            except LLMError as exc:
                if not repeatable(exc) or attempt >= retries:
                    raise
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
                attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry ``attempt + 1``: what the provider asked, else back-off + jitter."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return backoff_delay(attempt, self.backoff_base, self.backoff_max, random.random)

    async def _attempt(
        self, model: str, payload: bytes, headers: dict[str, str], masks: list[str]
    ) -> Reply:
        http = self._aiohttp
        session = await self.sessions.get()
        try:
            async with session.post(
                self.url, data=payload, headers=headers, proxy=self._proxy
            ) as response:
                status = response.status
                raw = await response.read()
                if status >= 300:
                    cause = http.ClientResponseError(
                        response.request_info,
                        response.history,
                        status=status,
                        message=response.reason or "",
                        headers=response.headers,
                    )
                    raise status_error(model, status, raw, response, masks) from cause
        except (TimeoutError, http.ClientError) as exc:
            kind = error_for_client(http, exc)
            if kind is LLMTimeoutError:
                message = f"no reply within {self.settings.timeout:g} s (llm.timeout)"
            else:
                what = "connection error" if kind is LLMConnectionError else "HTTP client error"
                message = scrub(f"{what}: {type(exc).__name__}: {exc}", masks)
            scrub_chain(exc, masks)
            raise kind(model, message) from exc
        try:
            return parse_reply(model, json.loads(raw))
        except ValueError as exc:  # also a body that is not JSON at all
            reason = str(exc) if not isinstance(exc, json.JSONDecodeError) else "not JSON"
            raise LLMProviderError(
                model, f"malformed chat completion: {reason}", status=status
            ) from exc

    def call_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        """The blocking form: the request runs on this service's private event loop."""
        coroutine = self._complete(provider, messages, model, temperature, kwargs)
        reply, usage = self.private_loop.run(coroutine)
        report_llm_call(usage)  # in the caller's thread: the run's context is there
        return reply.text

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        reply, usage = await self._complete(provider, messages, model, temperature, kwargs)
        report_llm_call(usage)
        return reply.text

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
        """``acall_llm`` offering ``tools`` (OpenAI's ``tools`` request field)."""
        kwargs["tools"] = [dict(tool) for tool in tools]
        reply, usage = await self._complete(provider, messages, model, temperature, kwargs)
        report_llm_call(usage)
        return LLMReply(reply.text, reply.tool_calls)
