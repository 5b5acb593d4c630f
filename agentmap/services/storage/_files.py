"""Reading and atomically replacing files, with errors a user can act on.

Every write goes to a temporary file in the target's own folder (so the rename
never crosses file systems) and then ``os.replace``s the target: a reader, or a
run that is killed mid-write, sees the old file or the new one, never half of
one. The temporary file is removed when writing fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from agentmap.errors import StorageError

__all__ = ["atomic_write", "decode", "read_bytes"]


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask sets it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The mode a plain open() would give a new file (mkstemp creates 0600 files).
_NEW_FILE_MODE = 0o666 & ~_umask()


def read_bytes(path: Path, shown: str) -> bytes:
    """The file's bytes; ``StorageError`` naming ``shown`` and the file when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StorageError(f"file not found: {shown!r} ({path})", path=shown) from None
    except IsADirectoryError:
        raise StorageError(f"{shown!r} is a folder, not a file ({path})", path=shown) from None
    except OSError as exc:
        raise StorageError(f"cannot read {shown!r} ({path}): {exc.strerror}", path=shown) from None


def decode(data: bytes, encoding: str, shown: str) -> str:
    """``data`` as text; a wrong encoding names the byte offset and line of the first bad byte."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StorageError(
            f"{shown!r} is not valid {encoding} text: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} (line {line}) cannot be decoded; save the file as {encoding} or set "
            "the node's Context encoding",
            path=shown,
        ) from None
    except LookupError:
        raise StorageError(f"unknown encoding {encoding!r} for {shown!r}", path=shown) from None
    return text.removeprefix("\ufeff")


def atomic_write(path: Path, data: bytes, shown: str) -> None:
    """Replace ``path`` by ``data`` at once (temp file in the same folder + ``os.replace``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StorageError(f"cannot write {shown!r} ({path}): {exc.strerror}", path=shown) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write {shown!r} ({path}): {exc.strerror or exc}", path=shown
            ) from None
        raise
