"""JSON encoding shared by the cache backends.

Every backend stores JSON text, the in-memory one included, so that a value a
persistent cache would reject fails in tests too, and so that ``get`` hands
back a fresh copy the caller may mutate without corrupting the cache.
"""

from __future__ import annotations

import json
from typing import Any


def encode(key: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot cache the value for key {key!r}: {exc}. Cached values must be "
            "JSON-serialisable (dict, list, str, int, float, bool)."
        ) from None


def decode(text: str) -> Any:
    return json.loads(text)
