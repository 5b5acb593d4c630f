"""The litellm LLM backend: any provider litellm supports, through one litellm Router.

The Router does the reliability work, so this module does not stack a retry
loop of its own on top: per-request timeouts, retries with back-off on rate
limits, timeouts and 5xx only (its retry policy gives 4xx errors zero
retries), and fallback models. What this module adds is what the Router does
not know: model names as a workflow writes them (a provider, an alias, the
default), concurrency and requests-per-minute limits over every call of the
process (``limits.CallLimits``, shared by every run of a batch), secrets from
settings, and a usage report (model, latency, tokens, cost) for every call;
its latency starts once the limits let the call go, so pacing is not
reported as a slow model. A call that still fails raises one of the errors of
``agentmap.services.llm.errors``, chosen from litellm's exception by
``_BY_EXCEPTION`` (the provider's message, scrubbed of the key and the
request's messages, and litellm's exception as ``__cause__``).

It is the one module that imports litellm, on first use: a run with no LLM node
never pays the import (about two seconds).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.services.llm.errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
)
from agentmap.services.llm.limits import CallLimits
from agentmap.services.llm.models import chat_fields, resolve_model
from agentmap.services.llm.openai_wire import (
    error_for_status,
    exception_chain,
    retry_after_seconds,
    scrub,
    scrub_chain,
    secrets_of,
)
from agentmap.services.protocols import LLMReply, LLMToolCall

if TYPE_CHECKING:
    from agentmap.settings import LLMSettings

__all__ = ["LiteLLMService"]

#: Retry policy by litellm exception: a request error never gets better by repeating it.
_NO_RETRY = (
    "BadRequestErrorRetries",
    "AuthenticationErrorRetries",
    "NotFoundErrorRetries",
    "ContentPolicyViolationErrorRetries",
)
_RETRY = (
    "TimeoutErrorRetries",
    "RateLimitErrorRetries",
    "InternalServerErrorRetries",
    "ServiceUnavailableErrorRetries",
)


#: litellm's exception (by name in ``litellm``; the first that matches) -> the error raised.
#: Its subclasses come along: ``ContextWindowExceededError``, ``ContentPolicyViolationError``,
#: ``UnsupportedParamsError`` are ``BadRequestError``s. Another exception of litellm or openai
#: goes by its HTTP status (``openai_wire.error_for_status``), else is ``LLMProviderError``.
_BY_EXCEPTION: tuple[tuple[str, type[LLMError]], ...] = (
    ("RateLimitError", LLMRateLimitError),
    ("Timeout", LLMTimeoutError),
    ("APIConnectionError", LLMConnectionError),
    ("AuthenticationError", LLMAuthenticationError),
    ("PermissionDeniedError", LLMAuthenticationError),
    ("BadRequestError", LLMBadRequestError),
    ("NotFoundError", LLMBadRequestError),
    ("UnprocessableEntityError", LLMBadRequestError),
    ("InternalServerError", LLMProviderError),
    ("ServiceUnavailableError", LLMProviderError),
    ("BadGatewayError", LLMProviderError),
    ("APIResponseValidationError", LLMProviderError),
    ("APIError", LLMProviderError),
)
#: Errors with no HTTP reply behind them: litellm's ``status_code`` (408, 500) is made up.
_NO_REPLY = (LLMTimeoutError, LLMConnectionError)


def _mapped(
    litellm: Any, exc: Exception, model: str, messages: Sequence[Mapping[str, Any]], key: str | None
) -> LLMError | None:
    """Our error for litellm's ``exc``; None for an exception that is not litellm's or openai's."""
    kinds = (ours for name, ours in _BY_EXCEPTION if isinstance(exc, getattr(litellm, name)))
    kind = next(kinds, None)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    if kind is None:
        if not type(exc).__module__.startswith(("litellm", "openai", "httpx")):
            return None
        kind = LLMProviderError if status is None or status < 300 else error_for_status(status)
    if kind is LLMProviderError:
        kind = _underneath(exc) or kind
    masks = secrets_of(key, messages)
    message = scrub(str(getattr(exc, "message", None) or exc), masks)
    # litellm's text (and the exceptions under it) is printed in a traceback: scrubbed there too.
    scrub_chain(exc, masks)
    if kind in _NO_REPLY:
        status = None
    error = kind(model, message, status=status)
    if kind.retryable:
        error.retry_after = _retry_after(exc)
    return error


def _underneath(exc: BaseException) -> type[LLMError] | None:
    """What the exceptions under litellm's 500 say: it reports a dropped connection as one."""
    for below in itertools.islice(exception_chain(exc), 1, None):
        names = {cls.__name__ for cls in type(below).__mro__}
        if "APITimeoutError" in names:  # openai's; a subclass of its APIConnectionError
            return LLMTimeoutError
        if "APIConnectionError" in names:
            return LLMConnectionError
    return None


def _retry_after(exc: Exception) -> float | None:
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
    ):
        if headers is not None:
            try:
                seconds = retry_after_seconds(headers)
            except Exception:  # headers of a shape we do not know
                continue
            if seconds is not None:
                return seconds
    return None


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
    try:
        import litellm
    except ImportError:
        raise MissingExtraError("litellm", "llm", "The litellm LLM backend") from None
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMService:
    """``LLMServiceProtocol`` over a litellm Router built from ``LLMSettings``."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._litellm = _import_litellm()
        from litellm.router import Router
        from litellm.types.router import RetryPolicy

        retries = settings.retries
        policy = RetryPolicy(
            **dict.fromkeys(_NO_RETRY, 0), **dict.fromkeys(_RETRY, retries), DefaultRetries=0
        )
        self._router = Router(
            model_list=[],
            num_retries=retries,
            retry_policy=policy,
            timeout=settings.timeout,
            default_fallbacks=list(settings.fallbacks) or None,
            # A model that failed is not benched for the next row of a batch: the
            # retry policy and fallbacks are the whole reliability story.
            disable_cooldowns=True,
        )
        self._deployed: set[str] = set()
        self._deploy_lock = threading.Lock()
        for model in (*settings.fallbacks,):
            self._deploy(model)
        #: Concurrency and requests-per-minute limits over every call of the process.
        self.limits = CallLimits.from_settings(settings)

    # ------------------------------------------------------------------ models

    def resolve_model(self, provider: str | None = None, model: str | None = None) -> str:
        """The litellm model name for a call: alias, then provider default, then default."""
        return resolve_model(self.settings, provider, model)

    def provider_of(self, model: str) -> str | None:
        try:
            return str(self._litellm.get_llm_provider(model)[1])
        except Exception:  # an unknown model name: litellm will say so when called
            return None

    def _api_key(self, provider: str | None) -> str | None:
        keys = self.settings.api_keys
        secret = keys.get(provider) if provider else None
        secret = secret or self.settings.api_key
        return secret.get_secret_value() if secret is not None else None

    def _deploy(self, model: str) -> None:
        """Add ``model`` to the Router the first time it is used."""
        if model in self._deployed:
            return
        with self._deploy_lock:
            if model in self._deployed:
                return
            from litellm.types.router import Deployment, LiteLLM_Params

            params: dict[str, Any] = {"model": model, "timeout": self.settings.timeout}
            if self.settings.api_base:
                params["api_base"] = self.settings.api_base
            provider = self.provider_of(model)
            key = self._api_key(provider)
            if key is not None:
                params["api_key"] = key
            elif not self.settings.api_base:
                self._require_environment_key(model, provider)
            self._router.add_deployment(
                Deployment(model_name=model, litellm_params=LiteLLM_Params(**params))
            )
            self._deployed.add(model)

    def _require_environment_key(self, model: str, provider: str | None) -> None:
        """Fail with instructions when no key is configured anywhere.

        Without this, litellm reports a missing key as a server error after
        retrying it; a setup mistake deserves one clear message instead.
        """
        try:
            found = self._litellm.validate_environment(model=model)
        except Exception:  # litellm cannot tell for this model: let the call say
            return
        missing = found.get("missing_keys") or []
        if found.get("keys_in_environment") or not missing:
            return
        setting = f"llm.api_keys.{provider}" if provider else "llm.api_key"
        raise ConfigurationError(
            f"no API key for model {model!r}: set {' or '.join(missing)} in the environment, "
            f"or {setting} / llm.api_key in settings (AGENTMAP_LLM__API_KEY=...); "
            "a local OpenAI-compatible server needs llm.api_base instead"
        )

    # ------------------------------------------------------------------ calls

    def _request(
        self,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> tuple[str, str | None, dict[str, Any]]:
        resolved = self.resolve_model(provider, model)
        self._deploy(resolved)
        request = {"model": resolved, **chat_fields(self.settings, messages, temperature, kwargs)}
        return resolved, provider or self.provider_of(resolved), request

    def _usage(self, response: Any, model: str, provider: str | None, started: float) -> str:
        latency = time.perf_counter() - started
        usage = getattr(response, "usage", None)
        # litellm prices every response as it builds it; price it again only if it did not.
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        if cost is None:
            try:
                cost = self._litellm.completion_cost(completion_response=response)
            except Exception:  # a model missing from litellm's price table
                cost = None
        report_llm_call(
            LLMUsage(
                model=model,
                provider=provider,
                latency=latency,
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                cost=None if cost is None else float(cost),
            )
        )
        content = response.choices[0].message.content
        return "" if content is None else str(content)

    def call_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        resolved, provider_name, request = self._request(
            provider, messages, model, temperature, kwargs
        )
        with self.limits.slot(provider_name):
            started = time.perf_counter()
            try:
                response = self._router.completion(**request)
            except Exception as exc:
                error = self._error(exc, resolved, provider_name, messages)
                if error is None:  # not litellm's: ours, or a bug to see as it is
                    raise
                raise error from exc
        return self._usage(response, resolved, provider_name, started)

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        return (await self._acompletion(provider, messages, model, temperature, kwargs))[1]

    async def _acompletion(
        self,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> tuple[Any, str]:
        """One Router call under the limits, errors translated: (response, its text)."""
        resolved, provider_name, request = self._request(
            provider, messages, model, temperature, kwargs
        )
        async with self.limits.aslot(provider_name):
            started = time.perf_counter()
            try:
                response = await self._router.acompletion(**request)
            except Exception as exc:
                error = self._error(exc, resolved, provider_name, messages)
                if error is None:  # not litellm's: ours, or a bug to see as it is
                    raise
                raise error from exc
        return response, self._usage(response, resolved, provider_name, started)

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
        """``acall_llm`` offering ``tools`` (litellm's OpenAI-style ``tools`` argument)."""
        kwargs["tools"] = [dict(tool) for tool in tools]
        response, text = await self._acompletion(provider, messages, model, temperature, kwargs)
        calls = getattr(response.choices[0].message, "tool_calls", None) or []
        return LLMReply(
            text,
            tuple(
                LLMToolCall(
                    str(call.id),
                    str(call.function.name),
                    call.function.arguments or "{}",
                )
                for call in calls
            ),
        )

    def _error(
        self,
        exc: Exception,
        model: str,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
    ) -> LLMError | None:
        """Our error for what the Router raised; None when it is not litellm's or openai's."""
        return _mapped(self._litellm, exc, model, messages, self._api_key(provider))
