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
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "CacheCapableAgent",
    "CacheProtocol",
    "ExecutionTrackerProtocol",
    "LLMCapableAgent",
    "LLMServiceProtocol",
    "LoggerProtocol",
    "PromptCapableAgent",
    "PromptServiceProtocol",
    "StateAdapterProtocol",
    "StorageCapableAgent",
    "StorageServiceProtocol",
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
    """Persists run state so that a run can be inspected or resumed later.

    The runner saves the *delta* each step wrote rather than the whole state,
    so a long run costs O(steps), not O(steps x state size). Values handed to
    ``start_run``/``save_step`` belong to the adapter from then on: a caller
    must not mutate them afterwards (the memory adapter keeps references rather
    than copying every step). ``agentmap.testing.state_conformance`` is the
    test suite every adapter must pass.
    """

    async def start_run(
        self, run_id: str, graph: str, initial_state: Mapping[str, Any]
    ) -> None: ...
    async def save_step(
        self, run_id: str, step: int, node: str, delta: Mapping[str, Any]
    ) -> None: ...
    async def finish_run(self, run_id: str, status: str, error: str | None) -> None: ...
    async def load_run(self, run_id: str) -> RunSnapshot | None: ...


@runtime_checkable
class RunSnapshot(Protocol):
    """What a state adapter returns for a stored run."""

    run_id: str
    graph: str
    status: str
    state: dict[str, Any]
    path: list[str]
    error: str | None


@runtime_checkable
class StorageServiceProtocol(Protocol):
    """Reads and writes named documents (files, tables); backends come later."""

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
