"""Masking secret values in text that leaves the process (log lines, tracker files)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

__all__ = ["MASK", "secret_masker"]

MASK = "**********"


def secret_masker(secrets: Iterable[str]) -> Callable[[str], str]:
    """A function that replaces every secret in a text with ``MASK``.

    Each secret is also matched as it appears inside a JSON string (escaped
    quotes, backslashes), since both the JSON log format and tracker files are
    JSON. Longer secrets are replaced first so one that contains another is
    masked whole.
    """
    variants = {
        text
        for secret in secrets
        if secret
        for text in (secret, json.dumps(secret, ensure_ascii=False)[1:-1])
    }
    ordered = sorted(variants, key=len, reverse=True)

    def mask(text: str) -> str:
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    return mask
