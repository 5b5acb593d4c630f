"""Errors a user can act on.

Every error that reaches a user from a mistake of theirs (a bad CSV, a bad
setting, an unknown agent) is an ``AgentMapError``: the CLI prints its message
and exits with a status code instead of showing a traceback. The message must
name where the problem is (file, line, column, node, field) because that is the
only thing a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmap.workflow.spec import NodeSpec

__all__ = [
    "AgentError",
    "AgentMapError",
    "ConfigurationError",
    "Diagnostic",
    "MissingExtraError",
    "ResumeError",
    "RunNotFoundError",
    "ShadowedPackageError",
    "StateBackendError",
    "StateError",
    "StateValueError",
    "StorageError",
    "WorkflowError",
]


class AgentMapError(Exception):
    """Base of every error caused by user input rather than by a bug."""

    #: Exit status the CLI uses for this kind of error.
    exit_code: int = 2


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem (or warning) found in a workflow file, with its location."""

    message: str
    file: Path | None = None
    line: int | None = None
    column: str | None = None
    node: str | None = None
    graph: str | None = None
    suggestion: str | None = None
    severity: str = "error"  # "error" or "warning"

    @classmethod
    def for_node(
        cls,
        node: NodeSpec,
        message: str,
        *,
        column: str | None = None,
        severity: str = "error",
        suggestion: str | None = None,
    ) -> Diagnostic:
        """A diagnostic located at ``node``'s row."""
        return cls(
            message,
            file=node.file,
            line=node.line,
            column=column,
            node=node.name,
            graph=node.graph,
            suggestion=suggestion,
            severity=severity,
        )

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            loc = str(self.file)
            if self.line is not None:
                loc += f":{self.line}"
            where.append(loc)
        if self.graph is not None:
            where.append(f"graph {self.graph!r}")
        if self.node is not None:
            where.append(f"node {self.node!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        return text


class WorkflowError(AgentMapError):
    """A workflow CSV that cannot be loaded or does not validate.

    Carries every error found (not just the first) so that a user fixes a file
    in one pass; ``str()`` lists them one per line.
    """

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


class ConfigurationError(AgentMapError):
    """Settings, presets or environment variables that cannot be used."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional library is not installed; the message names the extra."""

    def __init__(self, library: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the {library!r} package, which is not installed. "
            f"Install it with: pip install 'agentmap[{extra}]'"
        )
        self.library = library
        self.extra = extra


class ShadowedPackageError(ConfigurationError, ImportError):
    """A module of the user's named like one of AgentMap's packages is found first.

    AgentMap ships a top-level ``containers`` package; a ``containers.py`` beside
    a user's script comes earlier on ``sys.path`` and would be imported in its
    place, failing later in a way that names neither file.
    """

    def __init__(self, package: str, found: str, ours: str) -> None:
        super().__init__(
            f"{found} is imported as {package!r} instead of AgentMap's own {package!r} "
            f"package ({ours}), because its folder comes first on sys.path. "
            f"Rename your module (for example to my_{package}) and update its imports."
        )
        self.package = package
        self.found = found
        self.ours = ours


class AgentError(AgentMapError):
    """An agent that cannot be built for a node (unknown type, bad class, bad signature)."""


class StateError(AgentMapError):
    """Durable runs: a stored run that cannot be used as asked (see docs/durable-runs.md)."""


class RunNotFoundError(StateError):
    """No run with this id in the configured state backend."""


class ResumeError(StateError):
    """A run that cannot be resumed as asked: completed, changed workflow, wrong values."""


class StateValueError(StateError):
    """A state value that cannot be stored as JSON; names the node (or run input) and field.

    Raised when the node writes the value, before anything is stored, so the
    checkpoints already written stay as they were.
    """

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.field = field


class StateBackendError(StateError):
    """The state store cannot be reached, read or written (names the setting to check).

    Exit status 1: the user's input may be fine, the store is not.
    """

    exit_code = 1


class StorageError(AgentMapError):
    """A file the storage agents cannot use: outside the roots, missing, malformed.

    ``path`` is the collection as the user wrote it (or the resolved file); the
    storage agents prefix the node's name, so the message names both.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
