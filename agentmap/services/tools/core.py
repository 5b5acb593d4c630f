"""Tools: plain typed Python functions a workflow offers to a model or calls from a ``tool`` node.

``@agentmap.tool`` only marks a function (it stays callable as before); the
schema is built when a workflow loads the tool, from the signature's type hints
through a pydantic model, so what the model is told (the JSON schema) and what
its arguments are checked against (the same model) cannot disagree. The
docstring's first paragraph is the tool's description, and a Google-style
``Args:`` section describes the parameters.

This module imports pydantic only when a schema is built: ``import agentmap``
(which exports ``tool``) stays cheap.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

__all__ = ["TOOL_MARK", "Tool", "ToolSchemaError", "build_tool", "result_text", "tool"]

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute ``@tool`` sets on a function: ``{"name": ..., "description": ...}``.
TOOL_MARK = "__agentmap_tool__"
#: A docstring's ``Args:`` section line: ``name: text`` or ``name (type): text``.
_ARG_LINE = re.compile(r"(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_ARG_SECTIONS = ("Args", "Arguments", "Parameters")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns?|Raises|Yields|Examples?)\s*:\s*$")


class ToolSchemaError(TypeError):
    """A function that cannot be offered as a tool (no type hint, ``*args``, a hint pydantic
    cannot describe); the message names the tool and the parameter."""


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...
def tool(
    func: F | None = None, /, *, name: str | None = None, description: str | None = None
) -> F | Callable[[F], F]:
    """Mark ``func`` as a tool: ``@tool`` or ``@tool(name="lookup", description="...")``.

    The function is returned unchanged (it can still be called and unit-tested
    as is); a ``Tool_Source`` without ``Available_Tools`` offers every function
    marked this way.
    """

    def mark(function: F) -> F:
        if not callable(function):
            raise TypeError(f"@tool decorates functions, not {type(function).__name__}")
        setattr(function, TOOL_MARK, {"name": name, "description": description})
        return function

    return mark(func) if func is not None else mark


@dataclass(frozen=True)
class Tool:
    """A loaded tool: its function, the JSON schema of its arguments, and how to call it."""

    name: str
    description: str
    func: Callable[..., Any]
    #: JSON schema of the arguments (an object schema).
    parameters: dict[str, Any]
    #: The pydantic model the arguments are validated with.
    model: Any = field(repr=False)
    is_async: bool = False

    def spec(self) -> dict[str, Any]:
        """The OpenAI / litellm ``tools`` entry."""
        function = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        return {"type": "function", "function": function}

    def arguments(self, raw: Mapping[str, Any] | str) -> dict[str, Any]:
        """Checked keyword arguments from a mapping or JSON text; ``ValueError`` says what is wrong."""
        from pydantic import ValidationError

        try:
            if isinstance(raw, str):
                checked = self.model.model_validate_json(raw or "{}")
            else:
                checked = self.model.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"bad arguments for tool {self.name!r}: {problems}") from None
        return {key: getattr(checked, key) for key in type(checked).model_fields}

    async def acall(self, kwargs: Mapping[str, Any]) -> Any:
        """Call the tool with checked arguments; a sync function runs in a worker thread."""
        if self.is_async:
            return await self.func(**kwargs)
        return await asyncio.to_thread(self.func, **kwargs)

    async def ainvoke(self, raw: Mapping[str, Any] | str) -> Any:
        """Check ``raw`` and call the tool."""
        return await self.acall(self.arguments(raw))


def result_text(value: Any) -> str:
    """A tool's result as the text sent to the model: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def build_tool(func: Callable[..., Any], name: str | None = None) -> Tool:
    """The ``Tool`` of ``func``: its name, description and argument schema from its hints."""
    from pydantic import ConfigDict, create_model

    mark = getattr(func, TOOL_MARK, None) or {}
    tool_name = name or mark.get("name") or getattr(func, "__name__", None) or ""
    if not tool_name.isidentifier():
        raise ToolSchemaError(f"tool name {tool_name!r} must be a Python identifier")
    summary, arg_docs = _docstring(inspect.getdoc(func) or "")
    description = mark.get("description") or summary or tool_name.replace("_", " ")
    try:
        signature = inspect.signature(func)
        hints = _hints(func)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolSchemaError(f"tool {tool_name!r}: cannot read its signature: {exc}") from None
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        where = f"tool {tool_name!r}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolSchemaError(f"{where}: *args and **kwargs cannot be described to a model")
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolSchemaError(f"{where}: positional-only parameters cannot be named by a model")
        if param.name not in hints:
            raise ToolSchemaError(f"{where} has no type hint; tools need typed parameters")
        from pydantic import Field

        default = ... if param.default is param.empty else param.default
        info = Field(default, description=arg_docs.get(param.name))
        fields[param.name] = (hints[param.name], info)
    try:
        model = create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        parameters = model.model_json_schema()
    except Exception as exc:  # pydantic's errors for hints it cannot describe
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ToolSchemaError(
            f"tool {tool_name!r}: no JSON schema for its arguments: {first}"
        ) from None
    parameters.pop("title", None)
    for prop in parameters.get("properties", {}).values():
        prop.pop("title", None)
    return Tool(
        tool_name,
        description,
        func,
        parameters,
        model,
        inspect.iscoroutinefunction(func),
    )


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(func, include_extras=True)


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(first paragraph, {parameter: its ``Args:`` text})."""
    first = doc.split("\n\n", 1)[0]
    summary = (
        "" if _SECTION.match(first.splitlines()[0] if first else "") else " ".join(first.split())
    )
    args: dict[str, str] = {}
    in_args, indent, current = False, -1, ""
    for line in doc.splitlines():
        section = _SECTION.match(line)
        if section:
            in_args, indent, current = section.group(1) in _ARG_SECTIONS, -1, ""
            continue
        stripped = line.strip()
        if not in_args or not stripped:
            continue
        level = len(line) - len(line.lstrip())
        if indent < 0:
            indent = level
        match = _ARG_LINE.match(stripped) if level == indent else None
        if match:
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current and level > indent:
            args[current] = f"{args[current]} {stripped}".strip()
    return summary, {k: v for k, v in args.items() if v}
