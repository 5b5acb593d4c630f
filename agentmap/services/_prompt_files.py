"""Reading the files prompt references point at: text, YAML, and a cache that notices changes.

Private to ``agentmap.services.prompts``; split out so that module is about
references, not about file handling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from agentmap._yaml import YAMLSyntaxError, parse_yaml


class _Unreadable(Exception):
    """A file that cannot be read or parsed; the service adds the reference."""


_Stamp = tuple[int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise _Unreadable(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_yaml(path: Path) -> Any:
    try:
        return parse_yaml(_read_text(path), path)
    except YAMLSyntaxError as exc:
        raise _Unreadable(str(exc)) from None


class _FileCache:
    """Parsed files, shared by a service and the per-workflow services derived from it."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, Path], tuple[_Stamp, Any]] = {}

    def get(self, path: Path, kind: str, parse: Callable[[Path], Any]) -> Any:
        stamp = _stamp(path)
        key = (kind, path.resolve())
        cached = self._entries.get(key)
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        value = parse(path)
        if stamp is not None:
            self._entries[key] = (stamp, value)
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return f"a {type(value).__name__}"


def _show_dir(folder: Path) -> str:
    return "the working directory" if str(folder) == "." else str(folder)


def _unique(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without repeats (by resolved path), first occurrence kept."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out
