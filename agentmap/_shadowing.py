"""Refuse a user's ``containers`` module that would be imported in place of ours.

AgentMap's wiring lives in a top-level ``containers`` package, installed beside
``agentmap``. ``containers`` is a common name: a ``containers.py`` (or package)
beside a user's script sits in ``sys.path[0]``, ahead of site-packages, and
Python would import it instead, failing much later with an error that names
neither file. ``import agentmap`` therefore checks where ``containers`` would come
from, and the pytest plugin checks again once pytest has added test folders to
``sys.path``.

The check imports nothing (it asks the import system's finders where the module
is, or reads ``sys.modules`` if it is already imported) and costs a few tens of
microseconds, so the CLI's start-up does not notice it.
"""

from __future__ import annotations

import os
import sys

from agentmap.errors import ShadowedPackageError

__all__ = ["check_containers"]

PACKAGE = "containers"

#: ``containers/`` as the wheel installs it: in the folder that holds ``agentmap/``.
_OURS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)


def _locate(name: str) -> str | None:
    """The file (or folder) ``import name`` uses, without importing it; None if not found."""
    module = sys.modules.get(name)
    if module is not None:
        spec = module.__spec__
    else:
        # What importlib.util.find_spec does for a top-level name, minus importing
        # importlib.util (not otherwise loaded by ``import agentmap``).
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, None) if find_spec is not None else None
            if spec is not None:
                break
    if spec is None:
        return None
    if spec.origin and spec.has_location:
        return spec.origin
    # A namespace package: only folders, no file.
    return os.pathsep.join(spec.submodule_search_locations or ()) or None


def _is_ours(found: str) -> bool:
    folder = os.path.dirname(found)  # .../containers/__init__.py -> .../containers
    return folder == _OURS or os.path.realpath(folder) == os.path.realpath(_OURS)


def check_containers() -> None:
    """Raise ``ShadowedPackageError`` if ``containers`` is not the package beside ``agentmap``.

    A missing ``containers`` is left to the import that needs it: that error is
    already clear, and a broken install is not a name clash.
    """
    found = _locate(PACKAGE)
    if found is None or _is_ours(found):
        return
    raise ShadowedPackageError(PACKAGE, found, os.path.join(_OURS, "__init__.py"))


def is_agentmap_command() -> bool:
    """True in the ``agentmap`` console script, whose error handler is not running yet.

    The script imports ``agentmap.cli.main`` and so this package before its
    ``main()`` can catch anything; ``agentmap/__init__`` uses this to end such a
    process the way the CLI ends on any ``AgentMapError`` (one line, exit 2).
    """
    script = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    # bin/agentmap on POSIX; agentmap.exe/__main__.py (a zipped launcher) on Windows.
    return os.path.basename(script) == "agentmap" or script.endswith(
        os.path.join("agentmap.exe", "__main__.py")
    )
