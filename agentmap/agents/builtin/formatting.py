"""``formatter`` and ``summary``: turn a node's inputs into text, without custom code.

Both render with :func:`render_prompt` rather than ``str.format``, so prompts
and formats behave exactly like every other Prompt cell: JSON braces need no
escaping, and an unknown ``{placeholder}`` fails the node with a message naming
it instead of sending a literal ``{name}`` downstream.

Values that are not text become JSON (``ensure_ascii=False`` so names and
messages stay readable, ``default=str`` so dates and other objects never make a
formatting node fail): a dict rendered with ``str()`` is Python syntax that
neither people nor the next program read well.

Context is checked in ``__init__``, where a mistake stops the workflow before
any node runs, rather than in ``process``, where it would fail every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, flag
from agentmap.agents.builtin.core import passthrough
from agentmap.agents.prompt_template import placeholders, render_prompt

__all__ = ["FormatterAgent", "SummaryAgent", "as_text"]


def as_text(value: Any, *, pretty: bool = True) -> str:
    """Text as is, ``None`` as ``""``, collections as JSON (indented when ``pretty``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(
            value if not isinstance(value, Mapping) else dict(value),
            indent=2 if pretty else None,
            ensure_ascii=False,
            default=str,
        )
    return str(value)


_FORMATS = ("text", "json")


class FormatterAgent(ConfiguredAgent):
    """Context: ``format`` (``"text"``, the default, or ``"json"``).

    With a Prompt, the Prompt is the format. Without one, a single input comes
    out as itself (so ``formatter`` after an API call yields readable JSON) and
    several inputs as ``name: value`` lines, one per input, with nested values
    as one-line JSON so each input stays on its line. ``"json"`` serialises the
    inputs the way ``echo`` would pass them on (the single value, or a dict of
    all of them), for a node whose output is read by a program.
    """

    def configure(self) -> None:
        name = self.name
        fmt = self.context.get("format", "text")
        if fmt not in _FORMATS:
            raise bad_context("formatter", name, "format", f"must be 'text' or 'json', got {fmt!r}")
        if fmt == "json" and self.prompt:
            raise bad_context(
                "formatter",
                name,
                "format",
                "is 'json', which outputs the inputs as JSON and would ignore the Prompt; "
                "remove one of the two (a Prompt such as "
                '\'{"name": "{name}"}\' also writes JSON)',
            )
        self._json = fmt == "json"

    def process(self, inputs: dict[str, Any]) -> Any:
        if self._json:
            return json.dumps(passthrough(inputs), indent=2, ensure_ascii=False, default=str)
        if self.prompt:
            return render_prompt(self.prompt, inputs, node=self.name)
        if len(inputs) == 1:
            return as_text(next(iter(inputs.values())))
        return "\n".join(f"{key}: {as_text(value, pretty=False)}" for key, value in inputs.items())


class SummaryAgent(ConfiguredAgent):
    """Context: ``format`` (per input, default ``"{key}: {value}"``), ``separator``
    (default a blank line), ``skip_empty`` (default true); the Prompt is a header.

    This is the text-only summary: a digest of several upstream results for a
    report, an e-mail or the next LLM prompt. ``skip_empty`` is on by default
    because optional branches that did not run leave ``None`` fields, and a
    digest full of ``"key: "`` lines reads as broken.
    """

    def configure(self) -> None:
        name = self.name
        if self.context.get("llm"):
            raise bad_context(
                "summary",
                name,
                "llm",
                "asks for a summary written by an LLM, which this version cannot do: the "
                "summary agent has no LLM integration yet (it comes with the LLM agents). "
                "Remove 'llm' to join the inputs as text, or summarise with your own agent "
                "that declares LLMCapableAgent",
            )
        fmt = self.context.get("format", "{key}: {value}")
        if not isinstance(fmt, str):
            raise bad_context("summary", name, "format", f"must be text, got {type(fmt).__name__}")
        unknown = [p for p in placeholders(fmt) if p not in ("key", "value")]
        if unknown:
            raise bad_context(
                "summary",
                name,
                "format",
                f"uses {', '.join('{' + p + '}' for p in unknown)}; only {{key}} (the input "
                "name) and {value} (its value) are filled in (write {{ and }} for literal braces)",
            )
        separator = self.context.get("separator", "\n\n")
        if not isinstance(separator, str):
            raise bad_context(
                "summary", name, "separator", f"must be text, got {type(separator).__name__}"
            )
        skip_empty = flag("summary", name, "skip_empty", self.context.get("skip_empty", True))
        self._format = fmt
        self._separator = separator
        self._skip_empty = skip_empty

    def process(self, inputs: dict[str, Any]) -> Any:
        parts: list[str] = []
        if self.prompt:
            parts.append(render_prompt(self.prompt, inputs, node=self.name))
        for key, value in inputs.items():
            text = as_text(value)
            if self._skip_empty and not text.strip():
                continue
            parts.append(render_prompt(self._format, {"key": key, "value": text}, node=self.name))
        return self._separator.join(parts)
