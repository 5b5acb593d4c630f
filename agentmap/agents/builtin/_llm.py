"""What the LLM built-ins (``llm`` and its provider variants, ``summary``, ``orchestrator``) share.

Reading the model options from Context once, when the agent is built, so a
typo such as ``{"temperature": "hot"}`` stops the workflow before any node
runs; and one way of calling the service, so every agent passes the same
arguments in the same shape (``acall_llm(provider=..., messages=...,
model=..., temperature=..., max_tokens=..., response_format=..., cache=...)``).

The agents are written only against ``LLMServiceProtocol``. They never catch
the service's exceptions: a rate limit, a timeout or a 4xx must fail the node
(so ``retries`` and ``Failure_Next`` apply), never become a successful result
that carries an error string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentmap.agents.builtin._options import bad_context, flag, positive_int
from agentmap.services.protocols import LLMReply, LLMServiceProtocol, ToolCallingLLMService

__all__ = ["LLMOptions", "Message", "llm_options", "parse_json_reply"]

Message = dict[str, Any]

#: How much of a reply an error message shows.
_SHOWN = 200
#: A reply wrapped in a Markdown code fence: ```json ... ``` (models add them even in JSON mode).
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LLMOptions:
    """The arguments of one LLM call that come from Context."""

    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    #: Ask for a JSON object (``response_format={"type": "json_object"}``).
    json: bool = False
    #: Context ``cache``, passed through as given (None: not given).
    cache: bool | None = None

    def extra(self) -> dict[str, Any]:
        """The keyword arguments beyond provider/model/temperature; only those that are set."""
        extra: dict[str, Any] = {}
        if self.max_tokens is not None:
            extra["max_tokens"] = self.max_tokens
        if self.json:
            extra["response_format"] = {"type": "json_object"}
        if self.cache is not None:
            extra["cache"] = self.cache
        return extra

    async def call(self, service: LLMServiceProtocol, messages: Sequence[Message]) -> str:
        """Ask the service; its exceptions propagate and fail the node."""
        return await service.acall_llm(
            provider=self.provider,
            messages=list(messages),
            model=self.model,
            temperature=self.temperature,
            **self.extra(),
        )

    async def call_tools(
        self,
        service: LLMServiceProtocol,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
    ) -> LLMReply:
        """Ask the service, offering ``tools``; a service that cannot is a clear error."""
        if not isinstance(service, ToolCallingLLMService):
            raise TypeError(
                f"the LLM service {type(service).__name__} cannot offer tools to a model "
                "(it has no acall_llm_tools); use llm.backend litellm or openai_http"
            )
        return await service.acall_llm_tools(
            provider=self.provider,
            messages=list(messages),
            model=self.model,
            temperature=self.temperature,
            tools=tools,
            **self.extra(),
        )


def _text(kind: str, node: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_context(kind, node, key, f"must be non-empty text, got {value!r}")
    return value.strip()


def llm_options(
    kind: str,
    node: str,
    context: Mapping[str, Any],
    *,
    fixed_provider: tuple[str, str] | None = None,
    temperature: float | None = None,
) -> LLMOptions:
    """Read ``provider``, ``model``, ``temperature``, ``max_tokens`` and ``cache``.

    ``fixed_provider`` is (provider, what fixes it), e.g. ``("openai", "AgentType
    'openai'")``: a Context ``provider`` that names another one is refused.
    ``temperature`` is the default when Context has none (None: the service's).
    """
    provider = _text(kind, node, "provider", context.get("provider"))
    if fixed_provider is not None:
        fixed, why = fixed_provider
        if provider is not None and provider.lower() != fixed.lower():
            raise bad_context(
                kind,
                node,
                "provider",
                f"is {provider!r}, but {why} already sets the provider {fixed!r}; "
                "remove one of the two (AgentType llm takes any provider from Context)",
            )
        provider = fixed
    model = _text(kind, node, "model", context.get("model"))

    raw = context.get("temperature", temperature)
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 2:
            raise bad_context(
                kind, node, "temperature", f"must be a number from 0 to 2, got {raw!r}"
            )
        temperature = float(raw)

    max_tokens = context.get("max_tokens")
    if max_tokens is not None:
        max_tokens = positive_int(kind, node, "max_tokens", max_tokens)
    cache = context.get("cache")
    if cache is not None:
        cache = flag(kind, node, "cache", cache)
    return LLMOptions(provider, model, temperature, max_tokens, cache=cache)


def parse_json_reply(kind: str, node: str, reply: str) -> Any:
    """The reply as JSON; a Markdown code fence around it is ignored.

    Anything else raises ``ValueError`` naming the node and showing the start
    of the reply, so the node fails and its retries / Failure_Next apply. It is
    marked ``retryable`` (unlike other ValueErrors, which node retries skip by
    default): a retry asks the model again, and it may answer differently.
    """
    text = reply.strip()
    fenced = _FENCE.fullmatch(text)
    if fenced is not None:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        shown = reply if len(reply) <= _SHOWN else reply[:_SHOWN] + "..."
        error = ValueError(
            f"{kind} node {node!r}: the reply is not valid JSON ({exc.msg}: line {exc.lineno} "
            f"column {exc.colno}): {shown!r}"
        )
        error.retryable = True  # type: ignore[attr-defined]  # see agentmap.runtime.policies
        raise error from None
