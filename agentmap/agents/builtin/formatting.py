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

``summary`` with ``llm`` in its Context has the model write the summary
(:class:`LLMSummaryAgent`); only then does the node declare ``LLMCapableAgent``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmap.agents.builtin._llm import llm_options
from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, flag, text
from agentmap.agents.builtin.core import passthrough
from agentmap.agents.prompt_template import placeholders, render_prompt
from agentmap.services.protocols import LLMCapableAgent

__all__ = ["FormatterAgent", "LLMSummaryAgent", "SummaryAgent", "as_text", "wants_llm"]


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


def wants_llm(context: Mapping[str, Any] | None) -> bool:
    """Whether a ``summary`` Context asks for a summary written by an LLM.

    ``llm`` true (or a provider name, as in AgentMap: ``"llm": "openai"``), or a
    ``model`` / ``provider`` given while ``llm`` is not false.
    """
    if not context:
        return False
    llm = context.get("llm")
    if llm is False:
        return False
    return bool(llm) or context.get("model") is not None or context.get("provider") is not None


DEFAULT_SUMMARY_INSTRUCTION = (
    "Summarize the following content concisely. Keep the important facts, names and "
    "numbers, and do not add anything that is not in the content."
)


class SummaryAgent(ConfiguredAgent):
    """Context: ``format`` (per input, default ``"{key}: {value}"``), ``separator``
    (default a blank line), ``skip_empty`` (default true); the Prompt is a header.
    ``llm`` (or ``model`` / ``provider``) makes it an :class:`LLMSummaryAgent`.

    The text summary is a digest of several upstream results for a report, an
    e-mail or the next LLM prompt. ``skip_empty`` is on by default because
    optional branches that did not run leave ``None`` fields, and a digest full
    of ``"key: "`` lines reads as broken.

    Why ``__new__`` picks the class: the agent factory injects the LLM service
    into agents whose class declares ``LLMCapableAgent``, and building that
    service may import litellm. Only a summary whose Context asks for an LLM
    may declare it, so ``SummaryAgent(...)`` returns an ``LLMSummaryAgent``
    exactly then, and a workflow of text summaries never builds the service.
    """

    def __new__(
        cls,
        name: str,
        prompt: str = "",
        context: Mapping[str, Any] | None = None,
        **services: Any,
    ) -> SummaryAgent:
        if cls is SummaryAgent and wants_llm(context):
            return super().__new__(LLMSummaryAgent)
        return super().__new__(cls)

    def configure(self) -> None:
        name = self.name
        if wants_llm(self.context) and not isinstance(self, LLMSummaryAgent):
            raise bad_context(
                "summary",
                name,
                "llm",
                f"asks for a summary written by an LLM, but {type(self).__name__} is a "
                "text-only summary; derive it from LLMSummaryAgent instead",
            )
        fmt = text("summary", name, "format", self.context.get("format", "{key}: {value}"))
        unknown = [p for p in placeholders(fmt) if p not in ("key", "value")]
        if unknown:
            raise bad_context(
                "summary",
                name,
                "format",
                f"uses {', '.join('{' + p + '}' for p in unknown)}; only {{key}} (the input "
                "name) and {value} (its value) are filled in (write {{ and }} for literal braces)",
            )
        separator = text("summary", name, "separator", self.context.get("separator", "\n\n"))
        skip_empty = flag("summary", name, "skip_empty", self.context.get("skip_empty", True))
        self._format = fmt
        self._separator = separator
        self._skip_empty = skip_empty

    def items(self, inputs: dict[str, Any]) -> list[str]:
        """One text per input, by ``format``, leaving out empty ones with ``skip_empty``."""
        parts: list[str] = []
        for key, value in inputs.items():
            text = as_text(value)
            if self._skip_empty and not text.strip():
                continue
            parts.append(render_prompt(self._format, {"key": key, "value": text}, node=self.name))
        return parts

    def process(self, inputs: dict[str, Any]) -> Any:
        parts = self.items(inputs)
        if self.prompt:
            parts.insert(0, render_prompt(self.prompt, inputs, node=self.name))
        return self._separator.join(parts)


class LLMSummaryAgent(SummaryAgent, LLMCapableAgent):
    """``summary`` with ``llm``: the inputs joined as text (``format``, ``separator``,
    ``skip_empty`` as without an LLM, no header), summarised by the model.

    The Prompt, rendered over the inputs, is the instruction (the system
    message); without one, :data:`DEFAULT_SUMMARY_INSTRUCTION`. The joined text
    is the user message. Context: ``llm`` (true, or a provider name),
    ``provider``, ``model``, ``temperature``, ``max_tokens``, ``cache``.
    Nothing to summarise gives ``""`` without calling the model.
    """

    def configure(self) -> None:
        super().configure()
        name = self.name
        llm = self.context.get("llm")
        if llm is not None and not isinstance(llm, bool | str):
            raise bad_context(
                "summary", name, "llm", f"must be true, false or a provider name, got {llm!r}"
            )
        fixed = None
        if isinstance(llm, str):
            if not llm.strip():
                raise bad_context("summary", name, "llm", "must be true or a provider name, got ''")
            fixed = (llm.strip(), f"Context key 'llm' ({llm.strip()!r})")
        self._options = llm_options("summary", name, self.context, fixed_provider=fixed)

    async def process(self, inputs: dict[str, Any]) -> Any:
        text = self._separator.join(self.items(inputs))
        if not text.strip():
            return ""
        instruction = (
            render_prompt(self.prompt, inputs, node=self.name)
            if self.prompt
            else DEFAULT_SUMMARY_INSTRUCTION
        )
        messages = [
            {"role": "system", "content": instruction},
            {"role": "user", "content": text},
        ]
        return await self._options.call(self.llm_service, messages)
