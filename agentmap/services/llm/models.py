"""Model names as a workflow writes them, turned into the model a backend calls.

Shared by every real LLM backend (litellm, openai_http), so ``model: fast``,
``provider: openai`` and the default mean the same thing whichever backend
answers: a call's ``model`` (an alias, or a model name as is), else the model
configured for its ``provider``, else ``llm.model`` (which may be an alias too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentmap.errors import ConfigurationError

if TYPE_CHECKING:
    from agentmap.settings import LLMSettings

__all__ = ["resolve_model"]


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
