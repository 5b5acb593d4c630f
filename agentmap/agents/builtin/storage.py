"""Storage agents: csv_reader, csv_writer, json_reader, json_writer, file_reader, file_writer.

Names and inputs follow AgentMap 0.9: the collection (a file path) is the
Prompt or an input named ``collection``; ``document_id`` (or ``id``) picks one
record; ``query`` filters (field equals value); writers take ``data`` and a
``mode`` (``append``, ``write``, ``update``). Inputs override the Context keys
of the same name, so one node can be driven from the state.

They declare ``StorageCapableAgent``, so the agent factory injects the storage
service (``LocalStorageService``: paths confined to the roots, atomic writes,
a lock per file). They do file I/O, so they run in worker threads, not inline.
A failure raises ``StorageError`` naming the node and the path; it is a user
mistake (missing file, malformed line), so it is not retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, choice, text
from agentmap.agents.prompt_template import placeholders, render_prompt
from agentmap.errors import StorageError
from agentmap.services.protocols import StorageCapableAgent

__all__ = [
    "STORAGE_AGENTS",
    "CSVReaderAgent",
    "CSVWriterAgent",
    "FileReaderAgent",
    "FileWriterAgent",
    "JSONReaderAgent",
    "JSONWriterAgent",
]

_FORMATS = {
    "csv": ("records", "dict"),
    "json": ("raw", "records", "dict"),
    "file": ("text", "lines"),
}
_MODES: dict[str, tuple[str, ...]] = {
    "csv": ("append", "write", "update"),
    "json": ("append", "write", "update"),
    "file": ("append", "write"),
}
#: Inputs that steer the operation rather than being written.
_CONTROL = frozenset(
    {"collection", "document_id", "query", "mode", "format", "id_field", "encoding", "path", "data"}
)


class _StorageAgent(ConfiguredAgent, StorageCapableAgent):
    """Reads the Context once; ``process`` resolves the collection and calls the service."""

    run_inline: ClassVar[bool] = False
    kind: ClassVar[str] = "file"
    agent_type: ClassVar[str] = ""

    def configure(self) -> None:
        ctx, name, kind = self.context, self.name, self.agent_type
        fmt = ctx.get("format")
        self._format = (
            None if fmt is None else choice(kind, name, "format", fmt, _FORMATS[self.kind])
        )
        self._id_field = text(kind, name, "id_field", ctx.get("id_field", "id"))
        enc = ctx.get("encoding")
        self._encoding = None if enc is None else text(kind, name, "encoding", enc)
        query = ctx.get("query")
        if query is not None and not isinstance(query, Mapping):
            raise bad_context(kind, name, "query", "must be a mapping of field: value")
        self._query = query
        collection = ctx.get("collection")
        self._collection = (
            None if collection is None else text(kind, name, "collection", collection)
        )

    def collection(self, inputs: Mapping[str, Any]) -> str:
        """The ``collection`` input, else the Prompt (rendered over the inputs), else Context."""
        value = inputs.get("collection")
        if value in (None, "") and self.prompt.strip():
            value = render_prompt(self.prompt.strip(), inputs, node=self.name)
        if value in (None, ""):
            value = self._collection
        if not isinstance(value, str) or not value.strip():
            raise StorageError(
                f"{self.agent_type} node {self.name!r}: no collection; put the file path in the "
                "Prompt, the Context key 'collection' or an input named 'collection'"
            )
        return value

    def option(self, inputs: Mapping[str, Any], key: str, default: Any) -> Any:
        value = inputs.get(key)
        return default if value is None or value == "" else value

    def process(self, inputs: dict[str, Any]) -> Any:
        collection = self.collection(inputs)
        try:
            return self.run(collection, inputs)
        except StorageError as exc:
            raise StorageError(
                f"{self.agent_type} node {self.name!r}: {exc}", path=exc.path or collection
            ) from None

    def run(self, collection: str, inputs: Mapping[str, Any]) -> Any:
        raise NotImplementedError


class _Reader(_StorageAgent):
    def run(self, collection: str, inputs: Mapping[str, Any]) -> Any:
        document_id = self.option(inputs, "document_id", None)
        if document_id is None:
            document_id = self.option(inputs, "id", None)
        return self.storage_service.read(
            collection,
            document_id,
            kind=self.kind,
            query=self.option(inputs, "query", self._query),
            format=self.option(inputs, "format", self._format),
            id_field=self.option(inputs, "id_field", self._id_field),
            encoding=self.option(inputs, "encoding", self._encoding),
        )


class _Writer(_StorageAgent):
    #: Input names that are never data (json_writer, like 0.9, also takes ``id``).
    control: ClassVar[frozenset[str]] = _CONTROL

    def configure(self) -> None:
        super().configure()
        # Inputs the Prompt's path uses ({day} in log/{day}.txt) are not data.
        self._path_fields = frozenset(placeholders(self.prompt))
        mode = self.context.get("mode", "append")
        self._mode = choice(self.agent_type, self.name, "mode", mode, _MODES[self.kind])

    def data(self, inputs: Mapping[str, Any]) -> Any:
        """``data`` if given; else the single other input's value, or a dict of them all.

        Control inputs (``mode``, ``collection``...) and the Prompt's placeholders are left out.
        """
        if inputs.get("data") is not None:
            return inputs["data"]
        skip = self.control | self._path_fields
        rest = {k: v for k, v in inputs.items() if k not in skip}
        if not rest:
            raise StorageError(
                f"{self.agent_type} node {self.name!r}: nothing to write; list the value in "
                "Input_Fields (as 'data', or the fields of the row)"
            )
        if len(rest) == 1:
            only = next(iter(rest.values()))
            if self.kind != "csv" or isinstance(only, Mapping | list):
                return only
        return rest

    def run(self, collection: str, inputs: Mapping[str, Any]) -> Any:
        document_id = self.option(inputs, "document_id", None)
        if document_id is None and "id" in self.control:
            document_id = self.option(inputs, "id", None)
        return self.storage_service.write(
            collection,
            self.data(inputs),
            document_id,
            kind=self.kind,
            mode=self.option(inputs, "mode", self._mode),
            id_field=self.option(inputs, "id_field", self._id_field),
            encoding=self.option(inputs, "encoding", self._encoding),
        )


class CSVReaderAgent(_Reader):
    """Rows of a CSV file: a list of dicts (``format: dict``: keyed by ``id_field``)."""

    kind = "csv"
    agent_type = "csv_reader"


class CSVWriterAgent(_Writer):
    """Appends (or writes, or updates by ``id_field``) rows of a CSV file."""

    kind = "csv"
    agent_type = "csv_writer"


class JSONReaderAgent(_Reader):
    """A JSON document, one record of it (``document_id``) or the records a query keeps."""

    kind = "json"
    agent_type = "json_reader"


class JSONWriterAgent(_Writer):
    """Writes a JSON document, appends to its list, or updates a record by id."""

    kind = "json"
    agent_type = "json_writer"
    control = _CONTROL | {"id"}


class FileReaderAgent(_Reader):
    """A text file's content (``format: lines``: a list of lines)."""

    kind = "file"
    agent_type = "file_reader"


class FileWriterAgent(_Writer):
    """Writes or appends text (collections become JSON text)."""

    kind = "file"
    agent_type = "file_writer"


STORAGE_AGENTS: dict[str, type[BaseAgent]] = {
    "csv_reader": CSVReaderAgent,
    "csv_writer": CSVWriterAgent,
    "json_reader": JSONReaderAgent,
    "json_writer": JSONWriterAgent,
    "file_reader": FileReaderAgent,
    "file_writer": FileWriterAgent,
}
