"""What the configurable built-ins share: reading Context once, and how a bad key reads.

Built-in agents are constructed when a runner is built, before the first node
runs, so a Context mistake raised from ``configure`` stops a workflow (or a
batch) up front, with a message naming the agent type, the node and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from agentmap.agents.base_agent import BaseAgent

__all__ = ["ConfiguredAgent", "bad_context", "choice", "flag", "positive_int", "text"]


def bad_context(kind: str, node: str, key: str, message: str) -> ValueError:
    return ValueError(f"{kind} node {node!r}: Context key {key!r} {message}")


def choice(kind: str, node: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise bad_context(kind, node, key, f"must be one of {allowed}, got {value!r}")
    return str(value)


def positive_int(kind: str, node: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_context(kind, node, key, f"must be a whole number >= 1, got {value!r}")
    return value


def text(kind: str, node: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_context(kind, node, key, f"must be text, got {type(value).__name__}")
    return value


def flag(kind: str, node: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad_context(kind, node, key, f"must be true or false, got {value!r}")
    return value


class ConfiguredAgent(BaseAgent):
    """A built-in that parses its Context in ``configure``, once, when it is built.

    They do no blocking I/O, so they run inline on the event loop.
    """

    run_inline: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        prompt: str = "",
        context: Mapping[str, Any] | None = None,
        **services: Any,
    ) -> None:
        super().__init__(name, prompt, context, **services)
        self.configure()

    def configure(self) -> None:
        """Read and check ``self.context``; raise ``bad_context(...)`` on a bad key."""
