"""An in-process LRU cache with per-entry time to live.

Values are stored as JSON text (see ``_codec``): the same rules and copy
semantics as the persistent backends, at a few microseconds per call, which
is small next to the LLM calls a cache exists to save.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agentmap.services.cache._codec import decode, encode

__all__ = ["MemoryCache"]


class MemoryCache:
    def __init__(
        self,
        max_entries: int = 10_000,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self.default_ttl = default_ttl
        self._clock = clock
        # key -> (JSON text, expiry on the clock or None); order = least recently used first
        self._entries: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        text, expires_at = entry
        if expires_at is not None and self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return decode(text)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``; ``<= 0``: expired)."""
        text = encode(key, value)
        ttl = self.default_ttl if ttl is None else ttl
        self._entries[key] = (text, None if ttl is None else self._clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def clear(self) -> None:
        self._entries.clear()

    async def close(self) -> None:
        """Nothing to release; entries stay until the object is dropped."""
