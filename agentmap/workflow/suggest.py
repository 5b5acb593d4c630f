"""Did-you-mean hints for misspelt names (agent types, target nodes, graphs, columns).

A typo in a CSV cell is the most common mistake a user makes, and the error is
only actionable if it says what the cell probably meant. Matching ignores case
because spreadsheets and humans are inconsistent about it, but the suggestion
is returned in the candidate's own spelling so the user can paste it back.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["suggest"]


def suggest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """Return the candidate closest to ``word`` (ignoring case), or None if nothing is close."""
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), candidate)
    folded = word.casefold()
    if folded in by_folded:
        # Only differs in case: the caller found no exact match, so this is the fix.
        return by_folded[folded]
    matches = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=cutoff)
    return by_folded[matches[0]] if matches else None
