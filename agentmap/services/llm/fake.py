"""A scripted, deterministic LLM service for tests and the ``test`` preset.

A reply is chosen, in order, from: ``nodes`` (the reply, or the next of a
list of replies, for the node making the call); the first of ``patterns``
(regex -> reply) that matches the last message's text; the next unused item
of ``responses``; ``default``. When none applies the call fails loudly instead of inventing
text, because a test that silently got a made-up answer proves nothing.
A scripted reply may be an exception instance instead of text: the call
raises it, so a test scripts a provider failure the way a real backend
reports it, e.g. ``FakeLLMService([LLMRateLimitError("m", "slow down",
retry_after=1), "ok"])`` (the classes of ``agentmap.services.llm.errors``).
A scripted reply may also ask for tools: ``tool_calls(("add", {"a": 1}),
("now", {}))`` is an ``LLMReply`` that ``acall_llm_tools`` returns as is
(a plain ``acall_llm`` gets its text). Every call is recorded in ``calls`` for assertions, and reported to the run
like a real call (word counts as tokens, no cost), so ``--json`` shows it.

Built ``from_settings`` with ``llm.rpm`` / ``max_concurrency`` (or their
per-provider forms) set, it paces its calls through the same ``CallLimits``
as the litellm backend, so a batch test in the ``test`` preset sees the
limits production would apply. Only the ``provider`` argument of a call
selects per-provider limits: the fake knows no model's provider.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentmap.runtime.context import current_node_or_none
from agentmap.runtime.usage import LLMUsage, report_llm_call
from agentmap.services.llm.limits import CallLimits
from agentmap.services.protocols import LLMReply, LLMToolCall

if TYPE_CHECKING:
    from agentmap.settings import LLMSettings

__all__ = ["FakeLLMCall", "FakeLLMExhaustedError", "FakeLLMService", "tool_calls"]

_call_ids = itertools.count(1)


def tool_calls(*calls: tuple[str, Mapping[str, Any]] | LLMToolCall, text: str = "") -> LLMReply:
    """A scripted reply asking for tools: ``tool_calls(("add", {"a": 1, "b": 2}), ("now", {}))``."""
    made = tuple(
        call
        if isinstance(call, LLMToolCall)
        else LLMToolCall(f"call_fake{next(_call_ids)}", call[0], json.dumps(dict(call[1])))
        for call in calls
    )
    return LLMReply(text, made)


class FakeLLMExhaustedError(RuntimeError):
    """The fake LLM was called once more than it has replies for.

    A mistake in the test's script, not a provider failure: it is not an
    ``LLMError``, and ``retryable`` is False, so node retries do not repeat it.
    """

    retryable = False


#: What a script holds for one call: the reply text, a reply asking for tools, or an
#: exception the call raises.
Scripted = str | LLMReply | BaseException


@dataclass
class FakeLLMCall:
    provider: str | None
    model: str | None
    messages: list[dict[str, Any]]
    temperature: float | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: The node that made the call (None outside a run).
    node: str | None = None
    #: The reply given, or None when the call raised.
    reply: str | None = None
    #: The scripted exception the call raised, if it did.
    error: BaseException | None = None
    #: The tools the reply asked for (a tool-calling reply).
    tool_calls: tuple[LLMToolCall, ...] = ()

    @property
    def prompt(self) -> str:
        """Text of the last message (what ``patterns`` are matched against)."""
        return _message_text(self.messages[-1]) if self.messages else ""


class FakeLLMService:
    def __init__(
        self,
        responses: Sequence[Scripted] = (),
        *,
        patterns: Mapping[str, Scripted] | None = None,
        default: Scripted | None = None,
        latency: float = 0.0,
        nodes: Mapping[str, Scripted | Sequence[Scripted]] | None = None,
        limits: CallLimits | None = None,
    ) -> None:
        #: Concurrency and rate limits every call goes through; None for none.
        self.limits = limits
        self._nodes: dict[str, Scripted | deque[Scripted]] = {}
        self._add_nodes(nodes)
        self._responses = deque(responses)
        self._patterns = [(re.compile(regex), reply) for regex, reply in (patterns or {}).items()]
        self.default = default
        self.latency = latency
        self.calls: list[FakeLLMCall] = []
        self._lock = threading.Lock()  # sync agents call from worker threads

    @classmethod
    def from_settings(cls, llm_settings: LLMSettings) -> FakeLLMService:
        limits = CallLimits.from_settings(llm_settings)
        return cls(
            llm_settings.fake_responses,
            default=llm_settings.fake_default,
            nodes=llm_settings.fake_nodes,
            patterns=llm_settings.fake_patterns,
            limits=limits if limits.enabled else None,
        )

    def _add_nodes(self, nodes: Mapping[str, Scripted | Sequence[Scripted]] | None) -> None:
        for name, replies in (nodes or {}).items():
            if isinstance(replies, str | LLMReply | BaseException):
                self._nodes[name] = replies  # the same reply for every call of the node
            else:
                self._nodes[name] = deque(replies)

    def script(
        self,
        *responses: Scripted,
        patterns: Mapping[str, Scripted] | None = None,
        default: Scripted | None = None,
        nodes: Mapping[str, Scripted | Sequence[Scripted]] | None = None,
    ) -> FakeLLMService:
        """Add replies after construction (the ``fake_llm`` fixture hands out an empty fake)."""
        with self._lock:
            self._add_nodes(nodes)
            self._responses.extend(responses)
            self._patterns.extend((re.compile(rx), reply) for rx, reply in (patterns or {}).items())
            if default is not None:
                self.default = default
        return self

    @property
    def last_call(self) -> FakeLLMCall | None:
        return self.calls[-1] if self.calls else None

    def call_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        with self.limits.slot(provider) if self.limits else nullcontext():
            if self.latency > 0:
                time.sleep(self.latency)
            return self._answer(provider, messages, model, temperature, kwargs).content

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str:
        async with self.limits.aslot(provider) if self.limits else nullcontext():
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return self._answer(provider, messages, model, temperature, kwargs).content

    async def acall_llm_tools(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        *,
        tools: Sequence[Mapping[str, Any]],
        **kwargs: Any,
    ) -> LLMReply:
        """As ``acall_llm``; the reply may ask for tools (``calls[-1].kwargs["tools"]`` holds the offer)."""
        kwargs["tools"] = [dict(t) for t in tools]
        async with self.limits.aslot(provider) if self.limits else nullcontext():
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return self._answer(provider, messages, model, temperature, kwargs)

    def _answer(
        self,
        provider: str | None,
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        temperature: float | None,
        kwargs: dict[str, Any],
    ) -> LLMReply:
        ctx = current_node_or_none()
        node = ctx.node.name if ctx is not None else None
        call = FakeLLMCall(provider, model, [dict(m) for m in messages], temperature, kwargs, node)
        with self._lock:
            self.calls.append(call)
            picked = self._pick(call.prompt, node)
            if isinstance(picked, BaseException):
                call.error = picked
            elif isinstance(picked, LLMReply):
                call.reply, call.tool_calls = picked.content, picked.tool_calls
            else:
                call.reply = picked
            answered = sum(1 for earlier in self.calls if earlier.reply is not None)
        if call.error is not None:  # a scripted failure; raised afresh each time
            raise call.error.with_traceback(None)
        if call.reply is None:
            raise FakeLLMExhaustedError(
                f"The fake LLM has no reply for call #{len(self.calls)} "
                f"({answered} call(s) answered): add replies with the `responses`, "
                "`patterns` or `default` arguments, or the settings "
                "`llm.fake_responses` / `llm.fake_default` (for example "
                'AGENTMAP_LLM__FAKE_DEFAULT="ok").'
            )
        report_llm_call(
            LLMUsage(
                model=model or "fake",
                provider=provider or "fake",
                latency=self.latency,
                prompt_tokens=sum(len(_message_text(m).split()) for m in messages),
                completion_tokens=len(call.reply.split()),
                cost=0.0,
            )
        )
        return LLMReply(call.reply, call.tool_calls)

    def _pick(self, prompt: str, node: str | None) -> Scripted | None:
        by_node = self._nodes.get(node) if node is not None else None
        if isinstance(by_node, str | LLMReply | BaseException):
            return by_node
        if by_node:
            return by_node.popleft()
        for regex, reply in self._patterns:
            if regex.search(prompt):
                return reply
        if self._responses:
            return self._responses.popleft()
        return self.default


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style parts: [{"type": "text", "text": ...}]
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)
