"""Model names as a workflow writes them: one rule for every real LLM backend."""

from __future__ import annotations

import pytest

from agentmap.errors import ConfigurationError
from agentmap.services.llm.models import resolve_model
from agentmap.settings import LLMSettings

SETTINGS = LLMSettings(
    model="default",
    aliases={"fast": "gpt-4o-mini", "default": "gpt-4.1"},
    providers={"openai": "gpt-4o", "local": "openai/llama3"},
)


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        (None, "fast", "gpt-4o-mini"),  # an alias
        (None, "anthropic/claude-x", "anthropic/claude-x"),  # a name as written
        ("openai", "fast", "gpt-4o-mini"),  # a model beats the provider
        ("OpenAI", None, "gpt-4o"),  # the provider's model, any case
        ("local", None, "openai/llama3"),
        (None, None, "gpt-4.1"),  # the default, through its alias
    ],
)
def test_resolve_model(provider: str | None, model: str | None, expected: str) -> None:
    assert resolve_model(SETTINGS, provider, model) == expected


def test_an_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_model(SETTINGS, "mistral", None)
    assert "'mistral' (known: local, openai)" in str(caught.value)
    assert "llm.providers.mistral" in str(caught.value)
