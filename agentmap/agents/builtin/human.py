"""``human``: stop the run until a person answers, then write the answer to the node's outputs.

The node renders its Prompt over its inputs as the question and calls
``interrupt(question, fields)`` for its Output_Field names: the run ends
``suspended`` and stores both. ``agentmap resume RUN_ID --set field=value``
(``Application.resume(run_id, values=...)``) runs the node again, and this time
``interrupt`` returns the values, which become the node's output: the value
itself for one Output_Field, a dict for several.

Context ``choices`` restricts the answers. An answer outside them fails the
node, naming the choices, rather than letting a typo ("yse") flow into the
branches that follow; with no Failure_Next the run fails there, and resuming
it asks the question again. An answer matches a choice as text, ignoring case
and surrounding spaces, and the node writes the choice as the CSV spells it,
so downstream ``branching`` rows compare against one spelling.

The agent does nothing before ``interrupt`` but render text, so running it
twice (once to ask, once with the answer) has no side effect to repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmap.agents.builtin._options import ConfiguredAgent, bad_context
from agentmap.agents.prompt_template import render_prompt
from agentmap.runtime.context import current_node
from agentmap.runtime.interrupts import interrupt
from agentmap.runtime.keys import ERROR_KEY

__all__ = ["HumanAgent"]

_KIND = "human"


def _norm(value: Any) -> str:
    return str(value).strip().casefold()


class HumanAgent(ConfiguredAgent):
    """Context: ``choices`` — a list (or ``"a|b"``) of the answers allowed for every
    field, or ``{field: [...]}`` per field."""

    #: Field -> allowed answers; the key ``""`` holds those for every field.
    _choices: dict[str, tuple[Any, ...]]

    def configure(self) -> None:
        raw = self.context.get("choices")
        self._choices = {}
        if raw is None:
            return
        if isinstance(raw, Mapping):
            for field, values in raw.items():
                self._choices[str(field)] = self._choice_list(f"choices.{field}", values)
        else:
            self._choices[""] = self._choice_list("choices", raw)

    def _choice_list(self, key: str, raw: Any) -> tuple[Any, ...]:
        if isinstance(raw, str):
            values: tuple[Any, ...] = tuple(v.strip() for v in raw.split("|") if v.strip())
        elif isinstance(raw, list | tuple):
            values = tuple(raw)
        else:
            raise bad_context(
                _KIND, self.name, key, f"must be a list of answers, got {type(raw).__name__}"
            )
        if not values:
            raise bad_context(_KIND, self.name, key, "must list at least one answer")
        return values

    def process(self, inputs: dict[str, Any]) -> Any:
        outputs = current_node().node.outputs
        if not outputs:
            return {
                ERROR_KEY: f"human node {self.name!r} has no Output_Field to write the answer to"
            }
        fields = tuple(f.state_key for f in outputs)
        unknown = [f for f in self._choices if f and f not in fields]
        if unknown:
            return {
                ERROR_KEY: f"human node {self.name!r}: Context choices name "
                f"{', '.join(repr(f) for f in unknown)}, which is not among its Output_Field "
                f"({', '.join(fields)})"
            }
        answer = interrupt(self._question(inputs, fields), fields)
        values: dict[str, Any] = {}
        for field in fields:
            if field not in answer:
                return {ERROR_KEY: f"human node {self.name!r} got no answer for {field!r}"}
            value, error = self._check(field, answer[field])
            if error:
                return {ERROR_KEY: error}
            values[field] = value
        if len(outputs) == 1:
            return values[fields[0]]
        return {f.name: values[f.state_key] for f in outputs}

    def _question(self, inputs: dict[str, Any], fields: tuple[str, ...]) -> str:
        if self.prompt:
            question = render_prompt(self.prompt, inputs, node=self.name)
        else:
            question = f"{self.name}: {', '.join(fields)}?"
        if "" in self._choices:
            return f"{question} [{'|'.join(str(c) for c in self._choices[''])}]"
        listed = [f"{f}: {'|'.join(str(c) for c in self._choices[f])}" for f in self._choices]
        return f"{question} [{'; '.join(listed)}]" if listed else question

    def _check(self, field: str, value: Any) -> tuple[Any, str]:
        """The answer as the matching choice, or an error naming the choices."""
        allowed = self._choices.get(field) or self._choices.get("")
        if allowed is None:
            return value, ""
        key = _norm(value)
        for choice in allowed:
            if _norm(choice) == key:
                return choice, ""
        return None, (
            f"human node {self.name!r}: {value!r} is not an answer for {field!r}; "
            f"the choices are {', '.join(repr(c) for c in allowed)}"
        )
