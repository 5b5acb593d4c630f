"""What a call asks for, turned into what a backend sends: the model and the request fields.

Shared by every real LLM backend (litellm, openai_http), so ``model: fast``,
``provider: openai`` and the default mean the same thing whichever backend
answers: a call's ``model`` (an alias, or a model name as is), else the model
configured for its ``provider``, else ``llm.model`` (which may be an alias too);
and a call's temperature falls back to ``llm.temperature`` in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentmap.errors import ConfigurationError

if TYPE_CHECKING:
    from agentmap.settings import LLMSettings

__all__ = ["chat_fields", "resolve_model"]


def resolve_model(settings: LLMSettings, provider: str | None, model: str | None) -> str:
    """The model name for a call: alias, then the provider's model, then the default."""
    if model:
        return settings.aliases.get(model, model)
    if provider:
        try:
            return settings.providers[provider.lower()]
        except KeyError:
            known = ", ".join(sorted(settings.providers)) or "none"
            raise ConfigurationError(
                f"no model configured for LLM provider {provider!r} (known: {known}); "
                f"set llm.providers.{provider.lower()} in your settings"
            ) from None
    return settings.aliases.get(settings.model, settings.model)


def chat_fields(
    settings: LLMSettings,
    messages: Sequence[Mapping[str, Any]],
    temperature: float | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """The request's fields but the model: messages, temperature, the call's other keywords.

    ``cache`` is the caching wrapper's flag, not a provider's, so it is dropped.
    """
    kwargs.pop("cache", None)
    fields: dict[str, Any] = {"messages": [dict(m) for m in messages]}
    if temperature is None:
        temperature = settings.temperature
    if temperature is not None:
        fields["temperature"] = temperature
    fields.update(kwargs)
    return fields
