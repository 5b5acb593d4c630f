"""Service and capability protocols: the only contract between agents and services.

Two kinds of protocol live here:

- *Service* protocols (``LLMServiceProtocol``, ``CacheProtocol``, ...) describe
  what a backend offers. Backends satisfy them structurally; nothing inherits.
- *Capability* protocols (``LLMCapableAgent``, ...) are listed by an agent
  among its bases to *declare* that it wants a service. The agent factory
  injects a service only into agents that declare the matching capability, so
  an agent that never asked for an LLM never gets one (and a run without LLM
  nodes never imports litellm).

This module imports nothing but the standard library: agents, the runtime and
users' test code all import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentmap.runtime.checkpoint import RunStart, RunSummary, StepRecord, StoredRun, Waiting

__all__ = [
    "CacheCapableAgent",
    "CacheProtocol",
    "EncodingStateAdapter",
    "ExecutionTrackerProtocol",
    "LLMCapableAgent",
    "LLMReply",
    "LLMServiceProtocol",
    "LLMToolCall",
    "LoggerProtocol",
    "PromptCapableAgent",
    "PromptServiceProtocol",
    "StateAdapterProtocol",
    "StorageCapableAgent",
    "StorageServiceProtocol",
    "ToolCallingLLMService",
]


# --------------------------------------------------------------------------- services


@runtime_checkable
class LoggerProtocol(Protocol):
    """The part of a logger agents and the runner use (loguru and ``logging`` both fit)."""

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None: ...
    def info(self, message: str, *args: Any, **kwargs: Any) -> None: ...
    def warning(self, message: str, *args: Any, **kwargs: Any) -> None: ...
    def error(self, message: str, *args: Any, **kwargs: Any) -> None: ...


@runtime_checkable
class LLMServiceProtocol(Protocol):
    """Calls a language model and returns the reply text."""

    def call_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str: ...

    async def acall_llm(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        **kwargs: Any,
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class LLMToolCall:
    """One tool call a model asked for; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class LLMReply:
    """A reply of a tool-capable call: text, or the tools the model wants run first."""

    content: str = ""
    tool_calls: tuple[LLMToolCall, ...] = ()

    def message(self) -> dict[str, Any]:
        """The assistant message to send back with the tool results (OpenAI's shape)."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.content}
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in self.tool_calls
        ]
        return {"role": "assistant", "content": self.content or None, "tool_calls": calls}


@runtime_checkable
class ToolCallingLLMService(Protocol):
    """An LLM service that can offer tools to the model (a separate protocol, so a service
    written against ``LLMServiceProtocol`` alone stays valid).

    ``tools`` are OpenAI-style ``{"type": "function", "function": {name, description,
    parameters}}`` entries; the reply holds either text or the calls to run.
    """

    async def acall_llm_tools(
        self,
        provider: str | None = None,
        messages: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        temperature: float | None = None,
        *,
        tools: Sequence[Mapping[str, Any]],
        **kwargs: Any,
    ) -> LLMReply: ...


@runtime_checkable
class CacheProtocol(Protocol):
    """A key-value cache with optional per-entry time to live (seconds).

    Values are JSON-serialisable; ``get`` returns ``None`` for a missing or
    expired key, so ``None`` itself cannot be cached.
    """

    async def get(self, key: str) -> Any | None: ...
    async def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def clear(self) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class ExecutionTrackerProtocol(Protocol):
    """Receives the typed events of every run (see ``agentmap.runtime.events``).

    ``record`` is called on the runner's hot path, so it must be cheap and must
    not block: buffer and write in ``flush``.
    """

    def record(self, event: Any) -> None: ...
    def flush(self) -> None: ...


@runtime_checkable
class StateAdapterProtocol(Protocol):
    """Stores runs and their per-step checkpoints, so a run can be shown, resumed or forked.

    The records (``RunStart``, ``StepRecord``, ``StoredRun``...) and how they
    replay are in ``agentmap.runtime.checkpoint``; docs/durable-runs.md is the
    user's view. The runner saves the *delta* each step wrote rather than the
    whole state, so a long run costs O(steps), not O(steps x state size).
    Values handed to ``start_run``/``save_step`` belong to the adapter from
    then on: a caller must not mutate them afterwards (the memory adapter
    keeps references rather than copying every step).

    ``agentmap.testing.state_conformance`` is the suite every adapter must pass.
    An adapter that stores JSON also offers ``encode_delta`` (see
    ``EncodingStateAdapter``): the runner calls it as the node writes, so a
    value that cannot be stored fails that node, naming the field, before
    anything is stored.
    """

    async def open(self) -> None:
        """Connect and create the schema; an unreachable store fails here, before any node."""
        ...

    async def close(self) -> None: ...
    async def start_run(self, run: RunStart) -> None: ...
    async def save_step(self, run_id: str, step: StepRecord) -> None: ...
    async def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        """End (``completed``/``failed``) or suspend (with ``waiting``) a run; durable on return."""
        ...

    async def reopen_run(self, run_id: str, fingerprint: Mapping[str, Any] | None = None) -> None:
        """Mark a run ``running`` again for a resume (clears error and waiting); a new
        ``fingerprint`` replaces the stored one (a forced resume of a changed workflow)."""
        ...

    async def load_run(self, run_id: str) -> StoredRun | None: ...
    async def list_runs(
        self,
        *,
        status: str | None = None,
        graph: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs, newest first (by start time)."""
        ...

    async def fork_run(self, run_id: str, new_run_id: str, step: int) -> None:
        """Copy a run's start and its steps up to ``step`` as a new ``running`` run."""
        ...

    async def prune(self, older_than: float) -> int:
        """Delete runs last updated before ``older_than`` (epoch seconds); returns how many."""
        ...


@runtime_checkable
class EncodingStateAdapter(Protocol):
    """A state adapter that serialises state: it checks and encodes a delta as a node writes it."""

    def encode_delta(self, node: str, delta: Mapping[str, Any]) -> str:
        """JSON text of ``delta``; ``StateValueError`` naming ``node`` and the field otherwise."""
        ...


@runtime_checkable
class StorageServiceProtocol(Protocol):
    """Reads and writes named documents: ``LocalStorageService`` (CSV, JSON, text files).

    ``collection`` names the document (a path relative to the storage folder);
    the storage agents pass ``kind`` (``csv``, ``json``, ``file``), ``query``,
    ``format``, ``id_field`` and ``encoding`` to ``read``, and ``kind``,
    ``mode`` (``append``, ``write``, ``update``), ``id_field`` and ``encoding``
    to ``write``. Problems a user can fix (a path outside the roots, a missing
    or malformed file) raise ``agentmap.errors.StorageError``.
    ``agentmap.testing.storage_conformance`` is the suite a backend must pass.
    """

    def read(self, collection: str, document_id: str | None = None, **kwargs: Any) -> Any: ...
    def write(
        self, collection: str, data: Any, document_id: str | None = None, **kwargs: Any
    ) -> Any: ...


@runtime_checkable
class PromptServiceProtocol(Protocol):
    """Resolves ``prompt:name``, ``file:path`` and ``yaml:path#key`` references."""

    def resolve_prompt(self, reference: str) -> str: ...


# --------------------------------------------------------------------------- capabilities
# An agent lists one of these among its bases to declare that it needs the service.


@runtime_checkable
class LLMCapableAgent(Protocol):
    def configure_llm_service(self, llm_service: LLMServiceProtocol) -> None: ...


@runtime_checkable
class CacheCapableAgent(Protocol):
    def configure_cache_service(self, cache_service: CacheProtocol) -> None: ...


@runtime_checkable
class StorageCapableAgent(Protocol):
    def configure_storage_service(self, storage_service: StorageServiceProtocol) -> None: ...


@runtime_checkable
class PromptCapableAgent(Protocol):
    def configure_prompt_service(self, prompt_service: PromptServiceProtocol) -> None: ...
