"""Durable batches: every row's run under a run id that the next attempt of the batch finds.

With a durable state backend (``state.backend`` sqlite or postgres, and
``execution.checkpoint`` on) the runner stores a checkpoint after every step.
A batch makes use of that by naming each row's run ``<prefix>-<row>``, the
prefix a digest of the job's identity and the output file's path: rerunning
the same command computes the same ids, so it can ask the store what became of
a row that has no final line yet, instead of starting it over.

``DurableRows.line`` decides, for one such row, from what the store holds:

* nothing: run the row (a new run under its id);
* ``running`` (the batch was killed mid-row): resume it; its finished nodes
  are replayed from their checkpoints, not run again;
* ``suspended``: a suspended line, unless the output already says so;
* ``completed``/``failed`` (someone resumed a suspended row with ``agentmap
  resume``, or the batch died between storing the run and writing its line):
  the final line, read back from the store, nothing run.

The output file stays the record of what is done (a completed or failed line
is never revisited); the store is consulted only for the rows without one.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentmap.batch.inputs import InputRow
from agentmap.batch.results import run_result, step_usage, stored_result
from agentmap.errors import StateBackendError, StateError
from agentmap.runtime.fingerprint import describe_changes
from agentmap.runtime.result import RunResult

if TYPE_CHECKING:
    from agentmap.runtime.checkpoint import StoredRun
    from agentmap.services.protocols import StateAdapterProtocol
    from agentmap.settings import AgentMapSettings

__all__ = [
    "VIA_RESUME",
    "VIA_STORE",
    "DurableRows",
    "DurableRunner",
    "is_durable",
    "runs_prefix",
    "waiting_digest",
]

#: ``via`` of a line whose run this attempt resumed from its checkpoints (it was interrupted).
VIA_RESUME = "resume"
#: ``via`` of a line read back from the state store: the run had ended without this batch.
VIA_STORE = "store"

Note = Callable[[str, str], None]


class DurableRunner(Protocol):
    """What a durable batch needs of ``GraphRunner``."""

    @property
    def state_adapter(self) -> StateAdapterProtocol | None: ...

    @property
    def fingerprint(self) -> dict[str, Any]: ...

    async def arun(
        self, state: Mapping[str, Any] | None = None, *, run_id: str | None = None
    ) -> RunResult: ...

    async def aresume(
        self, stored: StoredRun, values: Mapping[str, Any] | None = None
    ) -> RunResult: ...


def is_durable(settings: AgentMapSettings) -> bool:
    """Whether runs outlive the batch's process, so that rows can be resumed."""
    return settings.state.backend != "memory" and settings.execution.checkpoint


def runs_prefix(tag: str, output: Path) -> str:
    """The run id prefix of a batch: the same for every attempt of one job into one file.

    The output's path is part of it: two output files of the same job (to
    compare runs, say) are two batches, and neither takes the other's runs.
    """
    key = json.dumps([tag, str(output.resolve())]).encode()
    return "batch-" + hashlib.sha256(key).hexdigest()[:16]


def waiting_digest(waiting: Mapping[str, Any] | None) -> int:
    """Where a suspended run waits (node, branch, visit), in 32 bits.

    A batch keeps this per suspended row rather than the whole line, so it can
    tell a run that waits where its line says from one that was resumed and
    then stopped at another question.
    """
    if not waiting:
        return 0
    where = [waiting.get("node"), waiting.get("branch") or "", waiting.get("visit") or 1]
    return zlib.crc32(json.dumps(where).encode())


class DurableRows:
    """Runs, resumes or reads back one row's run, by its deterministic run id.

    ``fresh_since`` (epoch seconds): the output was started anew then (it did
    not exist, or ``force`` set it aside), so a run stored before is an earlier
    batch's and a row starts a new one under its id, replacing it. Runs stored
    since (a Dask shard run again after its worker died) are this batch's and
    are used. ``once``: every row comes once in this batch (the local
    executor), so on a fresh output a row without a line has nothing of this
    batch stored and is not looked up: the first attempt of a batch costs the
    store no read per row. ``note(kind, text)`` hears of rows left as they
    were, for the summary.
    """

    def __init__(
        self,
        runner: DurableRunner,
        prefix: str,
        *,
        fields: Sequence[str],
        job: str,
        fresh_since: float | None = None,
        once: bool = False,
        note: Note | None = None,
    ) -> None:
        store = runner.state_adapter
        if store is None:
            raise ValueError("a durable batch needs a runner with a state adapter")
        self.runner = runner
        self.store = store
        self.prefix = prefix
        self.fields = tuple(fields)
        self.job = job
        self.fresh_since = fresh_since
        self.once = once
        self._note = note or (lambda kind, text: None)
        self._opened = False

    def run_id(self, row: int) -> str:
        return f"{self.prefix}-{row}"

    async def line(
        self, row: InputRow, waiting_at: int | None, started: float
    ) -> dict[str, Any] | None:
        """The row's next line, or None when its line stands (it is still suspended).

        ``waiting_at`` is the ``waiting_digest`` of the row's suspended line,
        None for a row without a line.
        """
        run_id = self.run_id(row.row)
        fresh = self.fresh_since
        if fresh is not None and self.once and waiting_at is None:
            return await self._start(row, run_id, started)
        stored = await self._load(run_id)
        if stored is not None and fresh is not None and stored.created_at < fresh:
            stored = None  # an earlier batch's run: this one started over
        if stored is None:
            if waiting_at is None:
                return await self._start(row, run_id, started)
            self._note(
                "missing",
                f"row {row.row} stays suspended: its run {run_id} is not in the state "
                "store (pruned, or state.path / state.url is not the one the batch ran with)",
            )
            return None
        status = stored.status
        if waiting_at is not None:
            if status == "running":
                self._note(
                    "running",
                    f"row {row.row} stays suspended: its run {run_id} is running again (an "
                    f"`agentmap resume` under way, or one that was killed); finish it with "
                    f"`agentmap resume {run_id}`, then rerun the batch",
                )
                return None
            if status == "suspended" and waiting_at == _digest_of(stored):
                return None
        elif status == "running":
            return await self._resume(row, stored, started)
        return stored_result(row, stored, self.fields, self.job)

    async def _start(self, row: InputRow, run_id: str, started: float) -> dict[str, Any]:
        """Run the row from its start, under its id (replacing any run stored there)."""
        result = await self.runner.arun(row.state, run_id=run_id)
        return run_result(row, result, self.fields, time.perf_counter() - started, self.job)

    async def _load(self, run_id: str) -> StoredRun | None:
        """The stored run, or None; a store that fails is a ``StateBackendError`` (it stops
        the batch: a row must not fail for the store's sake)."""
        try:
            if not self._opened:  # the runner opens the store to start a run, not to load one
                await self.store.open()
                self._opened = True
            return await self.store.load_run(run_id)
        except StateError:
            raise
        except Exception as exc:
            raise StateBackendError(
                f"could not read run {run_id} from the state store: {type(exc).__name__}: {exc}"
            ) from exc

    async def _resume(self, row: InputRow, stored: StoredRun, started: float) -> dict[str, Any]:
        """Go on with an interrupted run; one of a changed workflow starts over instead.

        The job's identity pins the CSV's bytes, but not the prompt files,
        subgraphs or preset the fingerprint covers: replaying steps recorded
        under another workflow would not be that workflow's run.
        """
        changes = describe_changes(stored.fingerprint, self.runner.fingerprint)
        if changes is not None:
            self._note(
                "restarted",
                f"row {row.row}: its interrupted run {stored.run_id} started over, because "
                f"the workflow changed since it ran ({changes})",
            )
            return await self._start(row, stored.run_id, started)
        result = await self.runner.aresume(stored)
        return run_result(
            row,
            result,
            self.fields,
            time.perf_counter() - started,
            self.job,
            earlier=step_usage(stored.steps),
            via=VIA_RESUME,
        )


def _digest_of(stored: StoredRun) -> int:
    return waiting_digest(stored.waiting.to_dict() if stored.waiting is not None else None)
