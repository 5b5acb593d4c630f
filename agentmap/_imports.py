"""Importing a user's Python file (a router module, a tool source) by its path.

Each file is executed once per process, under a unique module name, and kept
by its resolved path: a workflow's runners, validate and the agent factory
may all ask for it, and running its top-level code twice would give two
copies of its state. A file that fails to import leaves nothing behind in
``sys.modules``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

__all__ = ["import_file"]

_lock = threading.RLock()
_modules: dict[Path, ModuleType] = {}


def import_file(path: Path, prefix: str) -> ModuleType:
    """The module of the ``.py`` file at ``path``, named ``{prefix}_{n}_{stem}`` on first import."""
    key = path.resolve()
    with _lock:
        module = _modules.get(key)
        if module is not None:
            return module
        name = f"{prefix}_{len(_modules)}_{key.stem}"
        spec = importlib.util.spec_from_file_location(name, key)
        if spec is None or spec.loader is None:  # pragma: no cover - .py files always load
            raise ImportError(f"cannot load {key} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _modules[key] = module
        return module
