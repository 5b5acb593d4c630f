"""``branching``: succeed or fail on a field's value, so the CSV's success/failure columns route."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from agentmap.agents.base_agent import BaseAgent
from agentmap.runtime.keys import ERROR_KEY

__all__ = ["BranchingAgent"]

#: Strings that read as false although they are non-empty (CSV and LLM output is text).
_FALSE_WORDS = frozenset({"", "false", "no", "n", "0", "off", "fail", "failed", "failure", "none"})


def _norm(value: Any) -> str:
    return str(value).strip().lower()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return _norm(value) not in _FALSE_WORDS
    return bool(value)


def _values(raw: Any) -> frozenset[str] | None:
    if raw is None:
        return None
    items: Iterable[Any] = raw if isinstance(raw, list | tuple | set | frozenset) else [raw]
    return frozenset(_norm(v) for v in items)


class BranchingAgent(BaseAgent):
    """Context: ``success_field`` (default: the first input), ``success_values``,
    ``failure_values`` (default: the field's truthiness, where strings such as
    "false", "no" and "0" count as false)."""

    run_inline: ClassVar[bool] = True

    def process(self, inputs: dict[str, Any]) -> Any:
        field = self.context.get("success_field")
        if field is None:
            if not inputs:
                return {ERROR_KEY: f"branching node {self.name!r} has no Input_Fields to test"}
            field = next(iter(inputs))
        if field not in inputs:
            return {
                ERROR_KEY: f"branching node {self.name!r}: success_field {field!r} is not "
                f"among its Input_Fields ({', '.join(inputs)})"
            }
        value = inputs[field]
        succeed = _values(self.context.get("success_values"))
        fail = _values(self.context.get("failure_values"))
        key = _norm(value)
        if succeed is not None and key in succeed:
            ok = True
        elif fail is not None and key in fail:
            ok = False
        elif succeed is not None or fail is not None:
            ok = succeed is None  # listed only failures: anything else succeeds
        else:
            ok = _truthy(value)
        if ok:
            return value
        return {ERROR_KEY: f"{field}={value!r}"}
