"""``validator``: check a node's inputs against rules from its Context, so a flow can branch on bad data.

Why an agent and not a loader check: the data only exists at run time (user
input, an API reply), and a failed check should route like any other failure
(``Failure_Next`` to a "please fix" node) instead of stopping the run.

How it decides:

- The rule schema is checked and regexes compiled once, in ``__init__``: agents
  are built before the run starts, so a typo such as ``"minimum"`` or a broken
  pattern stops the workflow with a message naming the node and the Context key,
  instead of failing (or worse, passing) on every row of a batch.
- Every problem is collected before failing, because a person fixing a form
  wants the whole list, not one complaint per retry.
- A rule's field is found among the inputs, else inside the only input that is a
  mapping (``user_input`` holding ``age`` and ``email``), else by a dotted path
  (``user_input.age``). A name that resolves to nothing is reported as a
  configuration problem rather than silently skipped, since a misspelt rule that
  never fires looks exactly like valid data.
- Values are not converted: ``"18"`` is not an ``int``. The runner hands over
  the state's values as they are, and guessing conversions would let
  ``"18abc"``-style input through in surprising ways.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from agentmap.agents.builtin._options import ConfiguredAgent, bad_context
from agentmap.agents.builtin.core import passthrough
from agentmap.runtime.keys import ERROR_KEY

__all__ = ["ValidatorAgent"]

_RULE_KEYS = ("type", "min", "max", "min_length", "max_length", "pattern", "one_of")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Type name -> (check, what to call it in a message). ``bool`` is never an int or a number.
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "text (str)"),
    "int": (_is_int, "a whole number (int)"),
    "float": (_is_number, "a number (float or int)"),
    "number": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false (bool)"),
    "list": (lambda v: isinstance(v, list | tuple), "a list"),
    "dict": (lambda v: isinstance(v, Mapping), "a mapping (dict)"),
}


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any, limit: int = 40) -> str:
    """A short ``repr`` for messages: long values are cut, not dumped into the state."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_missing(value: Any) -> bool:
    """None, blank text, or an empty collection: what "required" rejects."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset | Mapping):
        return len(value) == 0
    return False


@dataclass(frozen=True, slots=True)
class _Rule:
    field: str
    type: str | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    one_of: tuple[Any, ...] | None = None


class _Unresolved(Exception):
    """A rule or required name that no input can provide: a configuration problem."""


class ValidatorAgent(ConfiguredAgent):
    """Context: ``required`` (default: every input), ``fields`` ({field: rules})."""

    def configure(self) -> None:
        self._required = self._parse_required(self.context.get("required"))
        self._rules = self._parse_fields(self.context.get("fields"))

    # ------------------------------------------------------------------ Context parsing

    def _bad(self, key: str, message: str) -> ValueError:
        return bad_context("validator", self.name, key, message)

    def _parse_required(self, raw: Any) -> tuple[str, ...] | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list | tuple) or not all(isinstance(x, str) and x for x in raw):
            raise self._bad("required", f"must be a list of field names, got {_show(raw)}")
        return tuple(raw)

    def _parse_fields(self, raw: Any) -> tuple[_Rule, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping):
            raise self._bad(
                "fields",
                f"must map field names to rules, e.g. "
                f'{{"age": {{"type": "int", "min": 18}}}}, got {_show(raw)}',
            )
        return tuple(self._parse_rule(str(field), spec) for field, spec in raw.items())

    def _parse_rule(self, field: str, spec: Any) -> _Rule:
        def bad(message: str) -> ValueError:
            return self._bad("fields", f"-> {field!r}: {message}")

        if not isinstance(spec, Mapping):
            raise bad(f'the rules must be a mapping such as {{"type": "str"}}, got {_show(spec)}')
        for key in spec:
            if key not in _RULE_KEYS:
                raise bad(
                    f"unknown rule {key!r}{_suggest(str(key), _RULE_KEYS)}; "
                    f"rules are: {', '.join(_RULE_KEYS)}"
                )

        type_name = spec.get("type")
        if type_name is not None and type_name not in _TYPES:
            raise bad(
                f"unknown type {type_name!r}{_suggest(str(type_name), list(_TYPES))}; "
                f"types are: {', '.join(_TYPES)}"
            )

        bounds: dict[str, float | None] = {}
        for key in ("min", "max"):
            value = spec.get(key)
            if value is not None and not _is_number(value):
                raise bad(f"{key!r} must be a number, got {_show(value)}")
            bounds[key] = value
        lengths: dict[str, int | None] = {}
        for key in ("min_length", "max_length"):
            value = spec.get(key)
            if value is not None and (not _is_int(value) or value < 0):
                raise bad(f"{key!r} must be a whole number >= 0, got {_show(value)}")
            lengths[key] = value
        for low, high, values in (("min", "max", bounds), ("min_length", "max_length", lengths)):
            lo, hi = values[low], values[high]
            if lo is not None and hi is not None and lo > hi:
                raise bad(f"{low!r} ({lo}) is greater than {high!r} ({hi})")

        pattern = spec.get("pattern")
        compiled: re.Pattern[str] | None = None
        if pattern is not None:
            if not isinstance(pattern, str):
                raise bad(f"'pattern' must be a regular expression string, got {_show(pattern)}")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise bad(
                    f"'pattern' {pattern!r} is not a valid regular expression: {exc}"
                ) from None

        one_of = spec.get("one_of")
        if one_of is not None and (not isinstance(one_of, list | tuple) or not one_of):
            raise bad(f"'one_of' must be a non-empty list of allowed values, got {_show(one_of)}")

        return _Rule(
            field=field,
            type=type_name,
            min=bounds["min"],
            max=bounds["max"],
            min_length=lengths["min_length"],
            max_length=lengths["max_length"],
            pattern=compiled,
            one_of=None if one_of is None else tuple(one_of),
        )

    # ------------------------------------------------------------------ checking

    def process(self, inputs: dict[str, Any]) -> Any:
        problems: list[str] = []
        required = self._required if self._required is not None else tuple(inputs)
        for field in required:
            try:
                value = _lookup(field, inputs)
            except _Unresolved as exc:
                problems.append(str(exc))
                continue
            if is_missing(value):
                problems.append(f"{field} is required")
        for rule in self._rules:
            try:
                value = _lookup(rule.field, inputs)
            except _Unresolved as exc:
                problems.append(str(exc))
                continue
            if not is_missing(
                value
            ):  # a missing optional field passes; `required` catches the rest
                problems.extend(_check(rule, value))
        if problems:
            problems = list(dict.fromkeys(problems))  # a name in `required` and `fields` once
            return {
                ERROR_KEY: f"validator node {self.name!r}: validation failed: {'; '.join(problems)}",
                "problems": problems,
            }
        return passthrough(inputs)


def _lookup(name: str, inputs: Mapping[str, Any]) -> Any:
    """The value ``name`` refers to; ``None`` when absent; ``_Unresolved`` when it names nothing."""
    if name in inputs:
        return inputs[name]
    head, dot, rest = name.partition(".")
    if dot and head in inputs:
        value: Any = inputs[head]
        path = head
        for part in rest.split("."):
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise _Unresolved(
                    f"{name} cannot be checked: {path} is {type(value).__name__}, not a mapping"
                )
            value = value.get(part)
            path = f"{path}.{part}"
        return value
    mappings = [key for key, value in inputs.items() if isinstance(value, Mapping)]
    if len(mappings) == 1:
        return inputs[mappings[0]].get(name)
    known = ", ".join(inputs) or "none"
    if len(mappings) > 1:
        raise _Unresolved(
            f"{name} is not an input and several inputs are mappings ({', '.join(mappings)}); "
            f"name it with a path such as {mappings[0]}.{name}"
        )
    if any(value is None for value in inputs.values()):
        return None  # the mapping it would live in is itself missing; `required` reports that
    raise _Unresolved(
        f"{name} is not among the inputs ({known}){_suggest(name, list(inputs))} "
        "and no input is a mapping to look it up in"
    )


def _check(rule: _Rule, value: Any) -> list[str]:
    field = rule.field
    shown = _show(value)
    if rule.type is not None:
        accepts, wanted = _TYPES[rule.type]
        if not accepts(value):
            # Range and length checks on a value of the wrong type would only add noise.
            return [f"{field} must be {wanted}, got {type(value).__name__} {shown}"]
    problems: list[str] = []
    if rule.min is not None or rule.max is not None:
        if not _is_number(value):
            problems.append(f"{field} must be a number to compare with min/max, got {shown}")
        elif rule.min is not None and value < rule.min:
            problems.append(f"{field} must be at least {rule.min}, got {shown}")
        elif rule.max is not None and value > rule.max:
            problems.append(f"{field} must be at most {rule.max}, got {shown}")
    if rule.min_length is not None or rule.max_length is not None:
        if isinstance(value, Sized):
            size = len(value)
            unit = "characters" if isinstance(value, str) else "items"
            if rule.min_length is not None and size < rule.min_length:
                problems.append(f"{field} must have at least {rule.min_length} {unit}, got {size}")
            elif rule.max_length is not None and size > rule.max_length:
                problems.append(f"{field} must have at most {rule.max_length} {unit}, got {size}")
        else:
            problems.append(f"{field} has no length to check, got {type(value).__name__} {shown}")
    if rule.pattern is not None:
        if not isinstance(value, str):
            problems.append(
                f"{field} must be text to match pattern {rule.pattern.pattern!r}, "
                f"got {type(value).__name__} {shown}"
            )
        elif rule.pattern.fullmatch(value) is None:
            problems.append(f"{field} does not match pattern {rule.pattern.pattern!r}: {shown}")
    if rule.one_of is not None and value not in rule.one_of:
        allowed = ", ".join(_show(v) for v in rule.one_of)
        problems.append(f"{field} must be one of {allowed}, got {shown}")
    return problems
