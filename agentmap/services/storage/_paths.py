"""Where a collection lives: resolved against ``base_dir`` and confined to the roots.

A workflow CSV names files, and a CSV may come from someone else; so a
collection that climbs out with ``..``, an absolute path elsewhere on the
machine, or a symlink inside a root that points outside it is refused before
any byte is read or written. Symlinks are followed by ``Path.resolve`` and the
*resolved* path is the one checked and used for I/O, so what is checked is what
is opened.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePath

from agentmap.errors import StorageError

__all__ = ["PathPolicy"]


class PathPolicy:
    """Resolves collection names to files inside ``roots`` (default: ``base_dir`` alone)."""

    def __init__(self, base_dir: Path | None = None, roots: Sequence[Path] = ()) -> None:
        if base_dir is None:
            # The test preset's folder: private to the process and removed at exit.
            base_dir = Path(tempfile.mkdtemp(prefix="agentmap-storage-"))
            atexit.register(shutil.rmtree, base_dir, ignore_errors=True)
        self.base_dir = Path(base_dir).expanduser().resolve()
        chosen = [Path(r).expanduser().resolve() for r in roots] or [self.base_dir]
        self.roots: tuple[Path, ...] = tuple(chosen)
        # resolve() runs for every read and write: plain strings and os.path
        # (what Path.resolve calls) cost a quarter of pathlib's objects.
        self._base = str(self.base_dir)
        self._prefixes = tuple(
            (str(r), str(r) if str(r).endswith(os.sep) else str(r) + os.sep) for r in chosen
        )

    def resolve(self, collection: str, suffix: str = "") -> Path:
        """The file ``collection`` names; ``suffix`` (``.csv``) is added when it has none.

        Raises ``StorageError`` naming the collection for an empty name, a ``..``
        part, or a path (after following symlinks) outside every root.
        """
        if not isinstance(collection, str) or not collection.strip():
            raise StorageError(f"no collection (file path) given: {collection!r}")
        name = collection.strip()
        pure = PurePath(name)
        if ".." in pure.parts:
            raise StorageError(
                f"path {name!r} contains '..'; name a file inside the storage roots "
                f"({self._roots_text()})",
                path=name,
            )
        if suffix and not pure.suffix:
            name += suffix
        candidate = os.path.expanduser(name)
        if not os.path.isabs(candidate):
            candidate = os.path.join(self._base, candidate)
        resolved = os.path.realpath(candidate)
        if not any(
            resolved == root or resolved.startswith(inside) for root, inside in self._prefixes
        ):
            how = " (through a symlink)" if resolved != os.path.abspath(candidate) else ""
            raise StorageError(
                f"path {collection.strip()!r} resolves to {resolved!r}{how}, outside the "
                f"storage roots ({self._roots_text()}); set storage.roots "
                "(AGENTMAP_STORAGE__ROOTS) to allow it",
                path=collection.strip(),
            )
        return Path(resolved)

    def _roots_text(self) -> str:
        return ", ".join(str(r) for r in self.roots)
