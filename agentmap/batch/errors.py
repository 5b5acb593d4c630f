"""Errors of a batch as a whole (a row's failure is a result line, never an exception).

``agentmap.batch`` is a library first: its messages name the options of
``run_batch`` as Python spells them (``row_timeout``, ``force=True``). A front
end that spells them otherwise (the ``agentmap batch`` command has
``--row-timeout`` and ``--force``) words the same error in its own terms with
``BatchError.spelled``, without parsing the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from agentmap.errors import AgentMapError

__all__ = ["BatchError", "OutputMismatchError"]

#: How ``str(error)`` names an option when not just by its ``run_batch`` parameter.
_PYTHON: Mapping[str, str] = {"force": "force=True"}


class _Spelling(dict[str, str]):
    """``names[option]``, or the option as Python names it when ``names`` has none."""

    def __missing__(self, option: str) -> str:
        return _PYTHON.get(option, option)


class BatchError(AgentMapError):
    """A batch that cannot start: missing inputs, bad options, an unusable output file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        #: The message with each option written ``{option[name]}``; None if it names none.
        self.template: str | None = None
        self.values: dict[str, Any] = {}

    @classmethod
    def naming(cls, template: str, /, **values: Any) -> Self:
        """An error whose message names options of the batch.

        ``template`` is a ``str.format`` string: an option is written
        ``{option[row_timeout]}`` (its parameter's name) and any other field is
        one of ``values``. Paths and other text the user wrote go in as values,
        never into the template, so their braces are not read as fields.
        """
        error = cls(template.format(option=_Spelling({}), **values))
        error.template = template
        error.values = values
        return error

    def spelled(self, names: Mapping[str, str]) -> str:
        """The message with options named as in ``names`` (option -> spelling).

        An option ``names`` lacks keeps its Python name; a message naming no
        option is returned as it is.
        """
        if self.template is None:
            return str(self)
        return self.template.format(option=_Spelling(names), **self.values)


class OutputMismatchError(BatchError):
    """The output file holds results of another workflow or input set (``force`` replaces it)."""
