"""The runner's execution settings, a plain copy of ``settings.execution``.

A dataclass of its own, so the runtime needs no pydantic and a Dask worker
receives a small picklable object rather than the settings model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentmap.runtime.backoff import RETRY_BASE_DELAY, RETRY_MAX_DELAY

__all__ = ["RunOptions"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Execution settings the runner needs (a plain copy of ``settings.execution``)."""

    max_steps: int = 1000
    retry_base_delay: float = RETRY_BASE_DELAY
    retry_max_delay: float = RETRY_MAX_DELAY
    checkpoint: bool = True
    #: ``handled``, ``all_nodes``, ``final_node`` or ``critical_nodes`` (see outcome.py).
    success_policy: str = "handled"
    critical_nodes: tuple[str, ...] = ()
    #: Folders ``func:`` routers load from; ``functions/`` beside the CSV is added.
    functions_paths: tuple[Path, ...] = ()
    #: Worker threads for sync agents, shared by every runner of the process.
    max_threads: int = 64
