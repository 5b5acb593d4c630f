"""Prompt references in the Prompt column, resolved when a workflow is loaded.

A Prompt cell is literal text unless, once stripped, it starts with one of
three exact prefixes:

- ``prompt:name`` -- a named prompt from the prompt registry: every ``*.yaml``
  / ``*.yml`` file in the prompts folders (the configured ``paths.prompts`` and
  a ``prompts/`` folder beside the CSV). A registry file maps names to a
  template string or to a mapping with a ``template`` key (``description`` and
  other keys are allowed); a mapping without ``template`` is a group, whose
  prompts are named with dots (``prompt:support.triage``).
- ``file:path`` -- the text of a UTF-8 file.
- ``yaml:path#key.sub`` -- a string inside a YAML file, addressed by dotted keys
  (integers index lists: ``yaml:p.yaml#examples.0``).

Relative paths are tried beside the CSV, then in the prompts folders, then in
the working directory. Referenced text is stripped at both ends, like every
cell, and is not resolved again (a template may start with ``file:``).

Resolving is done once, at load time (``agentmap.services.prompt_graphs``), so a missing
prompt fails ``agentmap validate`` and ``agentmap run`` before any node runs,
with every bad reference of the graph reported at once. Files are parsed once
and re-read only when they change (modification time or size).

PyYAML is imported only when a YAML file is actually read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentmap.errors import AgentMapError
from agentmap.services._prompt_files import (
    _FileCache,
    _kind,
    _parse_yaml,
    _read_text,
    _show_dir,
    _Stamp,
    _stamp,
    _unique,
    _Unreadable,
)
from agentmap.workflow.spec import PROMPTS_FOLDER, beside_workflow
from agentmap.workflow.suggest import suggest

__all__ = [
    "PREFIXES",
    "PromptReferenceError",
    "PromptService",
    "is_reference",
]

#: The prefixes that make a Prompt cell a reference; anything else is literal text.
PREFIXES: tuple[str, ...] = ("prompt:", "file:", "yaml:")
_YAML_SUFFIXES = (".yaml", ".yml")
_NAMED, _FILE, _YAML = PREFIXES


class PromptReferenceError(AgentMapError):
    """A prompt reference that cannot be resolved.

    ``message`` says what is wrong (it starts with the reference); ``suggestion``
    is a corrected reference when one is close, for a did-you-mean hint.
    """

    exit_code = 2

    def __init__(self, reference: str, problem: str, *, suggestion: str | None = None) -> None:
        self.reference = reference
        self.message = f"prompt reference {reference!r}: {problem}"
        self.suggestion = suggestion
        text = self.message
        if suggestion:
            text += f" (did you mean {suggestion!r}?)"
        super().__init__(text)


def is_reference(text: str) -> bool:
    """Whether a Prompt cell is a reference (``prompt:``, ``file:`` or ``yaml:``) rather than text."""
    return text.strip().startswith(PREFIXES)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class _Entry:
    file: Path
    text: str | None
    #: Why the entry is not a usable prompt (then ``text`` is None).
    problem: str | None = None


@dataclass(slots=True)
class _Registry:
    files: list[Path]
    entries: dict[str, _Entry] = field(default_factory=dict)
    #: Names defined with different text, and the files that define them.
    conflicts: dict[str, list[Path]] = field(default_factory=dict)
    #: Mappings without ``template``: name -> the prompt names inside.
    groups: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, entry: _Entry) -> None:
        known = self.entries.get(name)
        if known is None:
            self.entries[name] = entry
        elif (known.text, known.problem) != (entry.text, entry.problem):
            files = self.conflicts.setdefault(name, [known.file])
            files.append(entry.file)

    def add_mapping(self, data: Mapping[Any, Any], prefix: str, file: Path) -> list[str]:
        names: list[str] = []
        for key, value in data.items():
            name = f"{prefix}{key}"
            if isinstance(value, str):
                self.add(name, _Entry(file, value))
            elif isinstance(value, Mapping):
                if "template" in value:
                    template = value["template"]
                    if isinstance(template, str):
                        self.add(name, _Entry(file, template))
                    else:
                        problem = f"has a template that is {_kind(template)}, not a string"
                        self.add(name, _Entry(file, None, problem))
                else:
                    inner = self.add_mapping(value, f"{name}.", file)
                    self.groups.setdefault(name, []).extend(inner)
                    names.extend(inner)
                    continue
            else:
                problem = (
                    f"is {_kind(value)}; a prompt is a string or a mapping with a 'template' key"
                )
                self.add(name, _Entry(file, None, problem))
            names.append(name)
        return names


# --------------------------------------------------------------------------- service


class PromptService:
    """Resolves prompt references (implements ``PromptServiceProtocol``).

    ``folders`` are the prompt registry folders, in order; ``base`` is the
    directory of the CSV whose references are resolved (relative paths are
    tried there first), or None. Text that is not a reference is returned
    unchanged, so an agent may pass any prompt to ``resolve_prompt``.
    """

    def __init__(self, folders: Sequence[Path] = (Path("prompts"),), *, base: Path | None = None):
        self.folders: tuple[Path, ...] = tuple(Path(f) for f in folders)
        self.base = base
        self._files = _FileCache()
        self._registry: tuple[tuple[tuple[Path, _Stamp | None], ...], _Registry] | None = None
        self._derived: dict[Path, PromptService] = {}

    # ------------------------------------------------------------------ public

    is_reference = staticmethod(is_reference)

    def for_workflow(self, csv: Path | None) -> PromptService:
        """The service for references in the CSV at ``csv``.

        It adds the ``prompts/`` folder beside the CSV (before this service's
        folders) and tries relative paths beside the CSV first. Parsed files are
        shared with this service. ``None`` is this service itself.
        """
        if csv is None:
            return self
        folder = csv.parent
        derived = self._derived.get(folder)
        if derived is None:
            own = beside_workflow(csv, PROMPTS_FOLDER)
            derived = PromptService((own, *self.folders), base=folder)
            derived._files = self._files
            self._derived[folder] = derived
        return derived

    def resolve_prompt(self, reference: str) -> str:
        """The text ``reference`` names; raises ``PromptReferenceError`` if it names nothing."""
        text = reference.strip()
        try:
            if text.startswith(_NAMED):
                return self._named(text, text[len(_NAMED) :].strip())
            if text.startswith(_FILE):
                return self._file(text, text[len(_FILE) :].strip())
            if text.startswith(_YAML):
                return self._yaml(text, text[len(_YAML) :].strip())
        except _Unreadable as exc:
            raise PromptReferenceError(text, str(exc)) from None
        return reference

    def prompt_names(self) -> list[str]:
        """Every name in the prompt registry, sorted (raises if a registry file is broken)."""
        try:
            return sorted(self._load_registry().entries)
        except _Unreadable as exc:
            raise PromptReferenceError("prompt:", str(exc)) from None

    # ------------------------------------------------------------------ prompt:name

    def _registry_files(self) -> list[Path]:
        files: list[Path] = []
        for folder in _unique(f for f in self.folders if f.is_dir()):
            files.extend(
                sorted(
                    p
                    for p in folder.iterdir()
                    if p.suffix.lower() in _YAML_SUFFIXES and p.is_file()
                )
            )
        return files

    def _load_registry(self) -> _Registry:
        files = self._registry_files()
        signature = tuple((path, _stamp(path)) for path in files)
        if self._registry is not None and self._registry[0] == signature:
            return self._registry[1]
        registry = _Registry(files)
        for path in files:
            data = self._files.get(path, "yaml", _parse_yaml)
            if data is None:
                continue
            if not isinstance(data, Mapping):
                raise _Unreadable(
                    f"{path}: a prompt registry file maps prompt names to templates, "
                    f"but its top level is {_kind(data)}"
                )
            registry.add_mapping(data, "", path)
        self._registry = (signature, registry)
        return registry

    def _named(self, reference: str, name: str) -> str:
        if not name:
            raise PromptReferenceError(reference, "name the prompt: prompt:<name>")
        registry = self._load_registry()
        conflict = registry.conflicts.get(name)
        if conflict:
            files = list(dict.fromkeys(str(f) for f in conflict))
            where = f"twice in {files[0]}" if len(files) == 1 else "in " + " and ".join(files)
            raise PromptReferenceError(
                reference,
                f"prompt {name!r} is defined {where} with different text; keep one definition",
            )
        entry = registry.entries.get(name)
        if entry is None:
            raise self._unknown_name(reference, name, registry)
        if entry.text is None:
            raise PromptReferenceError(
                reference, f"prompt {name!r} in {entry.file} {entry.problem}"
            )
        return entry.text.strip()

    def _unknown_name(self, reference: str, name: str, registry: _Registry) -> PromptReferenceError:
        if name in registry.groups:
            members = registry.groups[name]
            shown = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "")
            return PromptReferenceError(
                reference,
                f"{name!r} is a group of prompts, not a prompt; name one of: {shown or 'none'}",
                suggestion=f"{_NAMED}{members[0]}" if members else None,
            )
        folders = ", ".join(str(f) for f in self.folders) or "no folder"
        if not registry.files:
            return PromptReferenceError(
                reference,
                f"no prompt named {name!r}: no prompt registry found "
                f"(no *.yaml or *.yml file in {folders})",
            )
        close = suggest(name, registry.entries)
        files = ", ".join(str(f) for f in registry.files)
        return PromptReferenceError(
            reference,
            f"no prompt named {name!r} in the prompt registry ({files})",
            suggestion=f"{_NAMED}{close}" if close else None,
        )

    # ------------------------------------------------------------------ file: and yaml:

    def _bases(self) -> list[Path]:
        """Where relative paths are tried: beside the CSV, the prompts folders, the working dir."""
        bases = [self.base] if self.base is not None else []
        bases.extend(self.folders)
        bases.append(Path("."))
        return _unique(bases)

    def _locate(self, reference: str, raw: str, rebuild: Callable[[str], str]) -> Path:
        """The file ``raw`` names; ``rebuild(path)`` makes a reference for a did-you-mean."""
        if not raw:
            raise PromptReferenceError(reference, "name the file after the prefix")
        path = Path(raw)
        if path.is_absolute():
            candidates = [path]
        else:
            bases = self._bases()
            candidates = [base / path for base in bases]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        siblings: set[str] = set()
        for candidate in candidates:
            if candidate.parent.is_dir():
                siblings.update(p.name for p in candidate.parent.iterdir() if p.is_file())
        close = suggest(path.name, siblings)
        suggestion = rebuild(str(path.with_name(close))) if close else None
        if path.is_absolute():
            problem = f"file {raw} does not exist"
        else:
            looked = ", ".join(_show_dir(base) for base in bases)
            problem = f"file {raw!r} not found (looked in {looked})"
        raise PromptReferenceError(reference, problem, suggestion=suggestion)

    def _file(self, reference: str, raw: str) -> str:
        path = self._locate(reference, raw, lambda p: f"{_FILE}{p}")
        text: str = self._files.get(path, "text", _read_text)
        return text.strip()

    def _yaml(self, reference: str, target: str) -> str:
        raw, hash_sign, key_path = target.partition("#")
        raw, key_path = raw.strip(), key_path.strip()
        if not hash_sign or not key_path:
            raise PromptReferenceError(
                reference, "name the key of the text: yaml:path#key (dots for nested keys)"
            )
        keys = key_path.split(".")
        if any(not k.strip() for k in keys):
            raise PromptReferenceError(
                reference, f"bad key path {key_path!r}: keys are separated by single dots"
            )
        keys = [k.strip() for k in keys]
        path = self._locate(reference, raw, lambda p: f"{_YAML}{p}#{key_path}")
        data = self._files.get(path, "yaml", _parse_yaml)
        return _lookup(reference, path, raw, data, keys).strip()


def _lookup(reference: str, path: Path, raw: str, data: Any, keys: list[str]) -> str:
    """The string at ``keys`` in a YAML document; a clear error for every way it is not there."""
    current = data
    for depth, key in enumerate(keys):
        where = "the top level" if depth == 0 else repr(".".join(keys[:depth]))

        def rebuilt(fixed: str, depth: int = depth) -> str:
            return f"{_YAML}{raw}#{'.'.join([*keys[:depth], fixed])}"

        if isinstance(current, Mapping):
            found, value = _get(current, key)
            if not found:
                names = [str(k) for k in current]
                close = suggest(key, names)
                shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
                raise PromptReferenceError(
                    reference,
                    f"{path} has no key {key!r} at {where} (keys there: {shown or 'none'})",
                    suggestion=rebuilt(close) if close else None,
                )
            current = value
        elif isinstance(current, list):
            if not key.isdigit():
                raise PromptReferenceError(
                    reference,
                    f"{where} in {path} is a list; index it with an integer, not {key!r}",
                )
            index = int(key)
            if index >= len(current):
                raise PromptReferenceError(
                    reference,
                    f"index {index} is out of range: {where} in {path} is a list of "
                    f"{len(current)} item(s)",
                )
            current = current[index]
        else:
            raise PromptReferenceError(
                reference,
                f"{where} in {path} is {_kind(current)}, so it has no key {key!r}",
            )
    if not isinstance(current, str):
        suggestion = None
        if isinstance(current, Mapping) and isinstance(current.get("template"), str):
            suggestion = f"{_YAML}{raw}#{'.'.join([*keys, 'template'])}"
        raise PromptReferenceError(
            reference,
            f"{'.'.join(keys)!r} in {path} is {_kind(current)}, not a string",
            suggestion=suggestion,
        )
    return current


def _get(mapping: Mapping[Any, Any], key: str) -> tuple[bool, Any]:
    if key in mapping:
        return True, mapping[key]
    # YAML keys need not be strings: `1: text` or `-1: text` are integer keys.
    try:
        number = int(key)
    except ValueError:
        return False, None
    if number in mapping:
        return True, mapping[number]
    return False, None


# --------------------------------------------------------------------------- graphs
