"""``llm`` and its provider variants: send the node's Prompt and inputs to a model.

How the messages are built (one rule, documented in docs/agents.md):

1. The Prompt is rendered over the inputs (``{field}`` placeholders; a
   placeholder with no input fails the node).
2. The inputs the Prompt does not mention (and not the memory field) are the
   node's *own* inputs: one is sent as its value, several as ``name: value``
   lines.
3. ``prompt_role`` decides where the rendered Prompt goes. ``auto`` (the
   default): to the **system** message when there are own inputs left to be
   the user message (an AgentMap-style ``You are a helpful assistant`` Prompt
   with a ``user_input`` field), else to the **user** message (a template such
   as ``Summarise: {text}`` that uses every input). ``system`` and ``user``
   force one or the other; with ``user`` only the Prompt is sent. With no
   Prompt the own inputs are the user message.
4. Context ``system`` comes first in the system message.
5. Messages: [system] + the remembered conversation + [user].

A node with tools (``Tool_Source`` / ``Available_Tools``) offers them to the
model, runs the calls it asks for and sends the results back, until it
answers without tool calls or ``max_tool_rounds`` (Context, default 5) rounds
have passed: ``agentmap.services.tools.calling``. Only the final reply is
remembered in memory, not the tool messages.

Memory lives in the run state, never on the agent (agents are shared by every
run of a runner): the conversation is read from the state field ``memory_key``
(or from an input of that name) and the updated one is returned under the
reserved ``__state__`` key, with the reply under ``__value__`` so that the
Output_Field still receives just the reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from agentmap.agents.builtin._llm import (
    Message,
    llm_options,
    parse_json_reply,
)
from agentmap.agents.builtin._options import (
    ConfiguredAgent,
    bad_context,
    choice,
    positive_int,
    text,
)
from agentmap.agents.builtin.formatting import as_text
from agentmap.agents.prompt_template import placeholders, render_prompt
from agentmap.runtime.context import current_node, current_node_or_none
from agentmap.runtime.keys import RESERVED_KEYS, STATE_KEY, VALUE_KEY
from agentmap.services.protocols import LLMCapableAgent, LLMReply
from agentmap.services.tools.calling import DEFAULT_MAX_TOOL_ROUNDS, tool_loop
from agentmap.services.tools.core import Tool
from agentmap.services.tools.loading import node_tools

__all__ = [
    "AnthropicAgent",
    "GoogleAgent",
    "LLMAgent",
    "OpenAIAgent",
    "inputs_text",
    "wrap_result",
]

#: Keys of a returned mapping the runner acts on; a model's JSON must not reach them.
_ACTIVE_KEYS = RESERVED_KEYS
_ROLES = ("auto", "system", "user")
_FORMATS = ("text", "json")
DEFAULT_MAX_MEMORY = 20


def inputs_text(inputs: Mapping[str, Any]) -> str:
    """One input as its text; several as ``name: value`` lines (nested values as one-line JSON)."""
    if len(inputs) == 1:
        return as_text(next(iter(inputs.values())))
    return "\n".join(f"{key}: {as_text(value, pretty=False)}" for key, value in inputs.items())


def wrap_result(value: Any, state: Mapping[str, Any] | None = None) -> Any:
    """The agent's result for ``value`` (a reply), plus extra state writes.

    A reply is data: it must not fail the node (``error``), route it
    (``__next__``) or write other fields (``__state__``). So a mapping holding
    any of those keys, or a result with state writes, goes out as
    ``{"__state__": ..., "__value__": value}``, which the runner unwraps.
    """
    if state or (isinstance(value, Mapping) and any(key in value for key in _ACTIVE_KEYS)):
        return {STATE_KEY: dict(state or {}), VALUE_KEY: value}
    return value


class LLMAgent(ConfiguredAgent, LLMCapableAgent):
    """Context: ``provider``, ``model``, ``temperature``, ``max_tokens``, ``response_format``
    (``"text"``/``"json"``), ``system``, ``prompt_role`` (``"auto"``/``"system"``/``"user"``),
    ``cache``, ``memory_key``, ``max_memory_messages`` (default 20), ``max_tool_rounds``
    (default 5; only for a node with tools).
    """

    #: The agent type named in error messages.
    kind: ClassVar[str] = "llm"
    #: The provider a variant always uses (``openai``, ...); None: Context ``provider``.
    fixed_provider: ClassVar[str | None] = None

    def configure(self) -> None:
        kind, name, ctx = self.kind, self.name, self.context
        fixed = self.fixed_provider
        options = llm_options(
            kind,
            name,
            ctx,
            fixed_provider=None if fixed is None else (fixed, f"AgentType {kind!r}"),
        )
        fmt = choice(kind, name, "response_format", ctx.get("response_format", "text"), _FORMATS)
        self._options = replace(options, json=True) if fmt == "json" else options
        self._prompt_role = choice(
            kind, name, "prompt_role", ctx.get("prompt_role", "auto"), _ROLES
        )
        system = ctx.get("system")
        self._system = text(kind, name, "system", system).strip() if system is not None else ""
        memory_key = ctx.get("memory_key")
        if memory_key is not None and (not isinstance(memory_key, str) or not memory_key.strip()):
            raise bad_context(kind, name, "memory_key", f"must be a field name, got {memory_key!r}")
        self._memory_key: str | None = memory_key.strip() if memory_key else None
        self._max_memory = positive_int(
            kind, name, "max_memory_messages", ctx.get("max_memory_messages", DEFAULT_MAX_MEMORY)
        )
        self._used = frozenset(placeholders(self.prompt)) if self.prompt else frozenset()
        self._max_tool_rounds = positive_int(
            kind, name, "max_tool_rounds", ctx.get("max_tool_rounds", DEFAULT_MAX_TOOL_ROUNDS)
        )
        self._tools: tuple[Tool, ...] | None = None

    def configure_tools(self, tools: Sequence[Tool]) -> None:
        """The tools offered to the model (the node's Tool_Source / Available_Tools)."""
        self._tools = tuple(tools)

    def tools(self) -> tuple[Tool, ...]:
        """The node's tools: as configured, else loaded from the running node's columns."""
        if self._tools is None:
            ctx = current_node_or_none()
            self._tools = node_tools(ctx.node) if ctx is not None else ()
        return self._tools

    # ------------------------------------------------------------------ the call

    async def process(self, inputs: dict[str, Any]) -> Any:
        history = self._history(inputs) if self._memory_key is not None else []
        system, user = self.compose(inputs)
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        messages += history
        messages.append({"role": "user", "content": user})
        tools = self.tools()
        if tools:
            reply = await self._ask_with_tools(messages, tools)
        else:
            reply = await self._options.call(self.llm_service, messages)
        value = parse_json_reply(self.kind, self.name, reply) if self._options.json else reply
        if self._memory_key is None:
            return wrap_result(value)
        conversation = _trim(
            [*history, messages[-1], {"role": "assistant", "content": reply}], self._max_memory
        )
        return wrap_result(value, {self._memory_key: conversation})

    async def _ask_with_tools(self, messages: list[Message], tools: tuple[Tool, ...]) -> str:
        specs = [tool.spec() for tool in tools]
        service, options = self.llm_service, self._options

        async def ask(conversation: list[dict[str, Any]]) -> LLMReply:
            return await options.call_tools(service, conversation, specs)

        where = f"{self.kind} node {self.name!r}"
        return await tool_loop(ask, messages, tools, self._max_tool_rounds, where=where)

    def compose(self, inputs: Mapping[str, Any]) -> tuple[str, str]:
        """(system text, user text) for ``inputs``, by the rule in the module docstring."""
        own = {
            key: value
            for key, value in inputs.items()
            if key not in self._used and key != self._memory_key
        }
        system = [self._system] if self._system else []
        if not self.prompt:
            user = inputs_text(own) if own else ""
        else:
            rendered = render_prompt(self.prompt, inputs, node=self.name)
            role = self._prompt_role
            if role == "auto":
                role = "system" if own else "user"
            if role == "system":
                system.append(rendered)
                user = inputs_text(own) if own else ""
            else:
                user = rendered
        if not user.strip():
            raise ValueError(self._nothing_to_send(inputs, own))
        return "\n\n".join(part for part in system if part.strip()), user

    def _nothing_to_send(self, inputs: Mapping[str, Any], own: Mapping[str, Any]) -> str:
        where = f"{self.kind} node {self.name!r}: the user message is empty"
        if own:
            return f"{where}: input(s) {', '.join(own)} have no value"
        if self.prompt and self._prompt_role == "system":
            return (
                f"{where}: prompt_role 'system' sends the Prompt as the system message and the "
                "inputs the Prompt does not use as the user message, and there are none; add an "
                "Input_Fields item, or use prompt_role 'user'"
            )
        if not inputs:
            return f"{where}: the node has no Prompt and no Input_Fields"
        return f"{where}: the Prompt renders to blank text"

    # ------------------------------------------------------------------ memory

    def _history(self, inputs: Mapping[str, Any]) -> list[Message]:
        """The run's conversation so far: from an input of that name, else the run state."""
        key = self._memory_key
        assert key is not None
        try:
            ctx = current_node()
        except LookupError:
            ctx = None  # a plain unit test calling process(): no run, no memory
        if ctx is not None and key in ctx.node.output_names:
            raise ValueError(
                f"{self.kind} node {self.name!r}: memory_key {key!r} is also its Output_Field; "
                "the reply would overwrite the conversation. Use another field for one of them"
            )
        if key in inputs:
            raw = inputs[key]
        else:
            state = None if ctx is None else ctx.state
            raw = None if state is None else state.get(key)
        if raw is None:
            return []
        problem = _not_a_conversation(raw)
        if problem:
            raise ValueError(
                f"{self.kind} node {self.name!r}: memory field {key!r} must be a list of "
                f"{{'role': ..., 'content': ...}} messages, got {problem}"
            )
        messages = [
            {"role": m["role"], "content": m["content"]} for m in raw if m["role"] != "system"
        ]
        return _trim(messages, self._max_memory)


def _trim(messages: list[Message], limit: int) -> list[Message]:
    """The last ``limit`` messages, starting with a user message (providers expect that)."""
    kept = messages[-limit:]
    while kept and kept[0]["role"] != "user":
        kept = kept[1:]
    return kept


def _not_a_conversation(value: Any) -> str:
    """What is wrong with a remembered conversation; ``""`` when nothing is."""
    if not isinstance(value, list | tuple):
        return type(value).__name__
    for index, message in enumerate(value):
        if not (
            isinstance(message, Mapping)
            and isinstance(message.get("role"), str)
            and "content" in message
        ):
            shown = repr(message)
            shown = shown if len(shown) <= 60 else shown[:60] + "..."
            return f"item {index}: {shown}"
    return ""


class OpenAIAgent(LLMAgent):
    """``openai`` / ``gpt``: ``llm`` with provider ``openai``."""

    kind: ClassVar[str] = "openai"
    fixed_provider: ClassVar[str | None] = "openai"


class AnthropicAgent(LLMAgent):
    """``anthropic`` / ``claude``: ``llm`` with provider ``anthropic``."""

    kind: ClassVar[str] = "anthropic"
    fixed_provider: ClassVar[str | None] = "anthropic"


class GoogleAgent(LLMAgent):
    """``google`` / ``gemini``: ``llm`` with provider ``google``."""

    kind: ClassVar[str] = "google"
    fixed_provider: ClassVar[str | None] = "google"
