"""``BaseAgent``: the class users subclass to write an agent.

The constructor signature is the one AgentMap users already write against, so
existing agents (and their unit tests, which build agents with ``Mock()``
services) work unchanged. The runner, not the agent, reads inputs from the
state and writes outputs back: an agent only implements ``process``.

``BaseAgent`` deliberately never assigns attributes named after services
(``llm_service``, ``cache_service``...). User subclasses often expose those as
read-only properties over a private attribute; assigning them here would
raise ``AttributeError`` in such subclasses. Private defaults live on the
class instead, and the ``configure_*`` methods set the private names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, overload

from agentmap.services.protocols import (
    CacheProtocol,
    ExecutionTrackerProtocol,
    LLMServiceProtocol,
    LoggerProtocol,
    PromptServiceProtocol,
    StateAdapterProtocol,
    StorageServiceProtocol,
)

__all__ = ["BaseAgent", "ServiceNotConfiguredError"]

_S = TypeVar("_S")


class ServiceNotConfiguredError(AttributeError):
    """An agent used a service it never declared (or that a test never configured)."""


class _ServiceSlot(Generic[_S]):
    """``agent.llm_service`` and friends: read the private slot, fail clearly if empty.

    A data descriptor with a setter, so both styles users write keep working:
    ``self.llm_service = svc`` in ``configure_llm_service`` (stored in the private
    slot), and a subclass that overrides the name with its own read-only property.
    """

    def __init__(self, capability: str) -> None:
        self.capability = capability
        self.public = ""
        self.private = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.public = name
        self.private = f"_{name}"

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _ServiceSlot[_S]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> _S: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        value = getattr(obj, self.private, None)
        if value is None:
            name = getattr(obj, "name", type(obj).__name__)
            raise ServiceNotConfiguredError(
                f"agent {name!r} ({type(obj).__name__}) has no {self.public}: list "
                f"{self.capability} among its base classes so the agent factory injects "
                f"one, or call configure_{self.public}() in a test"
            )
        return value

    def __set__(self, obj: object, value: _S) -> None:
        setattr(obj, self.private, value)


class BaseAgent:
    """Base of every agent: a name, a prompt, a context dict and logging helpers.

    Set ``run_inline = True`` on a subclass whose sync ``process`` does no
    blocking I/O, so the runner calls it on the event loop instead of paying
    for a worker thread. An ``async def process`` always runs on the loop.
    """

    #: Call a sync ``process`` directly on the event loop (no worker thread).
    run_inline: ClassVar[bool] = False

    _llm_service: LLMServiceProtocol | None = None
    _cache_service: CacheProtocol | None = None
    _storage_service: StorageServiceProtocol | None = None
    _prompt_service: PromptServiceProtocol | None = None

    def __init__(
        self,
        name: str,
        prompt: str = "",
        context: Mapping[str, Any] | None = None,
        *,
        logger: LoggerProtocol | None = None,
        execution_tracker_service: ExecutionTrackerProtocol | None = None,
        state_adapter_service: StateAdapterProtocol | None = None,
    ) -> None:
        self.name = name
        self.prompt = prompt or ""
        self.context: dict[str, Any] = dict(context) if context is not None else {}
        self._logger = logger
        self._execution_tracker_service = execution_tracker_service
        self._state_adapter_service = state_adapter_service

    # ------------------------------------------------------------------ the agent's work

    def process(self, inputs: dict[str, Any]) -> Any:
        """Return the node's output for ``inputs`` (Input_Fields, as named for the agent).

        Return a mapping with a truthy ``"error"`` key, or raise, to fail the node.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement process(inputs)")

    # ------------------------------------------------------------------ services

    llm_service: _ServiceSlot[LLMServiceProtocol] = _ServiceSlot("LLMCapableAgent")
    cache_service: _ServiceSlot[CacheProtocol] = _ServiceSlot("CacheCapableAgent")
    storage_service: _ServiceSlot[StorageServiceProtocol] = _ServiceSlot("StorageCapableAgent")
    prompt_service: _ServiceSlot[PromptServiceProtocol] = _ServiceSlot("PromptCapableAgent")

    @property
    def logger(self) -> LoggerProtocol | None:
        return self._logger

    @property
    def execution_tracker_service(self) -> ExecutionTrackerProtocol | None:
        return self._execution_tracker_service

    @property
    def state_adapter_service(self) -> StateAdapterProtocol | None:
        return self._state_adapter_service

    # ------------------------------------------------------------------ capability hooks
    # Only agents that list the matching capability protocol among their bases are
    # configured by the agent factory; these default implementations just store it.

    def configure_llm_service(self, llm_service: LLMServiceProtocol) -> None:
        self._llm_service = llm_service

    def configure_cache_service(self, cache_service: CacheProtocol) -> None:
        self._cache_service = cache_service

    def configure_storage_service(self, storage_service: StorageServiceProtocol) -> None:
        self._storage_service = storage_service

    def configure_prompt_service(self, prompt_service: PromptServiceProtocol) -> None:
        self._prompt_service = prompt_service

    # ------------------------------------------------------------------ logging helpers

    def _log(self, level: str, message: str, *args: Any, **kwargs: Any) -> None:
        logger = self._logger
        if logger is None:
            return
        getattr(logger, level)(f"[{self.name}] {message}", *args, **kwargs)

    def log_debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._log("debug", message, *args, **kwargs)

    def log_info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._log("info", message, *args, **kwargs)

    def log_warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._log("warning", message, *args, **kwargs)

    def log_error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._log("error", message, *args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
