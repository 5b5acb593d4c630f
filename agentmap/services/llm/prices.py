"""Prices of LLM calls from litellm's bundled table, without importing litellm.

The ``openai_http`` backend exists to avoid litellm's per-call cost, but its
price table is still the best one around: when litellm is installed, its JSON
file is read once (about 26 ms) and calls are priced as litellm prices them.
Without litellm a cost is None (unknown), never 0.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

__all__ = ["model_cost"]

_prices: dict[str, Any] | None = None
_prices_lock = threading.Lock()


def _price_table() -> dict[str, Any]:
    """litellm's bundled price table, read once without importing litellm; {} without it."""
    global _prices
    if _prices is None:
        with _prices_lock:
            if _prices is None:
                _prices = _read_price_table()
    return _prices


def _read_price_table() -> dict[str, Any]:
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return {}
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "model_prices_and_context_window_backup.json"
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(table, dict):
            return table
    return {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def model_cost(
    model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> float | None:
    """US dollars for one call by litellm's price table; None for a model it does not price.

    ``model`` is looked up as written and with / without a leading ``openai/``.
    Prompt tokens served from the provider's prompt cache (``cached_tokens``)
    are charged at the cache-read price when the table has one, as litellm does.
    """
    table = _price_table()
    if not table:
        return None
    bare = model.removeprefix("openai/")
    for name in dict.fromkeys((model, bare, f"openai/{bare}")):
        entry = table.get(name)
        if not isinstance(entry, dict):
            continue
        prompt_price = _number(entry.get("input_cost_per_token"))
        completion_price = _number(entry.get("output_cost_per_token"))
        if prompt_price is None or completion_price is None:
            continue
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cache_price = _number(entry.get("cache_read_input_token_cost"))
        if cache_price is None:
            cached = 0
            cache_price = 0.0
        return (
            (prompt_tokens - cached) * prompt_price
            + cached * cache_price
            + completion_tokens * completion_price
        )
    return None
