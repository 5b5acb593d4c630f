"""``{field}`` placeholders in prompts, filled from a node's inputs.

Not ``str.format``: prompts often contain JSON examples and other braces that
are not placeholders. Only ``{identifier}`` is a placeholder; ``{{`` and ``}}``
are literal braces; everything else is left as written. A placeholder with no
matching input is an error naming it, because silently sending "{city}" to a
model is a bug that costs money and is hard to spot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PromptRenderError", "placeholders", "render_prompt"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PromptRenderError(KeyError):
    """A ``{placeholder}`` that names no input field."""

    def __str__(self) -> str:
        return str(self.args[0])


def placeholders(template: str) -> list[str]:
    """The placeholder names in ``template``, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _TOKEN.finditer(template) if m.group(1)))


def render_prompt(template: str, values: Mapping[str, Any], *, node: str | None = None) -> str:
    if "{" not in template and "}" not in template:
        return template

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in values:
            where = f"node {node!r}: " if node else ""
            known = ", ".join(sorted(values)) or "none"
            raise PromptRenderError(
                f"{where}prompt placeholder {{{name}}} has no input field of that name "
                f"(inputs: {known}); add {name!r} to Input_Fields or write {{{{{name}}}}} "
                "for literal braces"
            )
        value = values[name]
        return "" if value is None else str(value)

    return _TOKEN.sub(substitute, template)
