"""Errors of a batch as a whole (a row's failure is a result line, never an exception)."""

from __future__ import annotations

from agentmap.errors import AgentMapError

__all__ = ["BatchError", "OutputMismatchError"]


class BatchError(AgentMapError):
    """A batch that cannot start: missing inputs, bad options, an unusable output file."""


class OutputMismatchError(BatchError):
    """The output file holds results of another workflow or input set (``--force`` to replace)."""
