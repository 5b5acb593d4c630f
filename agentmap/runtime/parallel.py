"""Running a fan-out: branches as asyncio tasks, joins, and the rule for when a join runs.

The rule (docs/running.md, "Parallel branches and joins"): a node that several
live branches can reach runs once, when every branch has either arrived at it
or can no longer reach it from where it stands. Only this coordinator moves
branches between "running", "waiting at a join" and "finished"; a branch's
task runs nodes and reports back, so the join rule is checked in one place,
after every change, and a wait that can never end is found (no task running,
no join releasable) instead of hanging.

Where a branch goes after a node is not decided here: the step function (the
runner, through ``agentmap.runtime.routing``) returns the next nodes, and this
module only starts, parks, joins and ends branches accordingly. A run without
a fan-out never gets here: the runner's sequential loop is the fast path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agentmap.runtime.branches import Branch, Reachability, fork, merge

__all__ = ["SUSPENDED", "ParallelRun", "StepFn"]

#: The "error" a step returns when its node called ``interrupt()``: not a failure.
#: The branch parks at that node (it still counts for joins it could reach) while
#: the others run on as far as they can; then the run suspends. Compared by identity.
SUSPENDED = "suspended: a node waits for input"

#: Runs ``branch.at`` on the branch; returns (next nodes, unhandled error or None).
StepFn = Callable[[Branch], Awaitable[tuple[tuple[str, ...], str | None]]]
_Report = tuple[Branch, tuple[str, ...], str | None, BaseException | None]


class ParallelRun:
    """One fan-out and everything after it, until every branch has finished."""

    def __init__(self, step: StepFn, reach: Reachability, warn: Callable[[str], None]) -> None:
        self._step = step
        self._reach = reach
        self._warn = warn
        self._live: list[Branch] = []
        self._waiting: dict[str, list[Branch]] = {}
        self._tasks: dict[Branch, asyncio.Task[None]] = {}
        self._reports: asyncio.Queue[_Report] = asyncio.Queue()
        self.finished: list[Branch] = []
        #: The branch whose unhandled failure ended the run.
        self.failed: Branch | None = None
        #: Branches parked at a node that waits for input (``interrupt()``).
        self.parked: list[Branch] = []

    @property
    def branches(self) -> list[Branch]:
        """Every branch, finished or not, in listed order (for the run's final state)."""
        return sorted([*self.finished, *self._live], key=lambda b: b.key)

    async def run(self, parent: Branch, targets: tuple[str, ...]) -> str | None:
        """Run the fan-out of ``parent`` to ``targets``; return an unhandled error or None."""
        try:
            self._fork(parent, targets)
            while self._tasks or self._waiting:
                if not self._tasks:
                    if not self._release():
                        return SUSPENDED if self.parked else self._deadlock()
                    continue
                branch, next_nodes, error, exc = await self._reports.get()
                del self._tasks[branch]
                if exc is not None:
                    raise exc
                if error is SUSPENDED:
                    # Stays live, not running, at its node: joins it may reach wait.
                    self.parked.append(branch)
                    self._release()
                    continue
                if error is not None:
                    self.failed = branch
                    return error
                if not next_nodes:
                    self._live.remove(branch)
                    self.finished.append(branch)
                elif len(next_nodes) == 1:
                    branch.at = next_nodes[0]
                    self._arrive(branch)
                else:
                    self._live.remove(branch)
                    self._fork(branch, next_nodes)
                self._release()
            return SUSPENDED if self.parked else None
        finally:
            await self._cancel()

    # ------------------------------------------------------------------ moves

    def _fork(self, parent: Branch, targets: tuple[str, ...]) -> None:
        children = fork(parent, targets)
        self._live.extend(children)  # all live before any arrives: siblings count
        for child in children:
            self._arrive(child)

    def _arrive(self, branch: Branch) -> None:
        if branch.at in self._waiting or self._others_reach(branch, branch.at):
            self._waiting.setdefault(branch.at, []).append(branch)
        else:
            self._start(branch)

    def _others_reach(self, branch: Branch | list[Branch], target: str) -> bool:
        skip = branch if isinstance(branch, list) else [branch]
        can_reach = self._reach.can_reach
        return any(can_reach(b, target) for b in self._live if b not in skip)

    def _release(self) -> bool:
        """Run every join no other branch can still reach; True if one was released."""
        released = False
        for at, group in list(self._waiting.items()):
            if self._others_reach(group, at):
                continue
            del self._waiting[at]
            for branch in group:
                self._live.remove(branch)
            joined = group[0] if len(group) == 1 else merge(group, at, self._warn)
            self._live.append(joined)
            self._start(joined)
            released = True
        return released

    def _start(self, branch: Branch) -> None:
        branch.running = True
        self._tasks[branch] = asyncio.create_task(self._drive(branch))

    async def _drive(self, branch: Branch) -> None:
        """A branch's task: run nodes while no other branch could join them."""
        next_nodes: tuple[str, ...] = ()
        error: str | None = None
        try:
            while True:
                branch.running = True
                next_nodes, error = await self._step(branch)
                branch.running = False
                if error is not None or len(next_nodes) != 1 or self._waiting:
                    break
                if self._others_reach(branch, next_nodes[0]):
                    break
                branch.at = next_nodes[0]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a service failure: the coordinator re-raises it
            self._reports.put_nowait((branch, (), None, exc))
            return
        self._reports.put_nowait((branch, next_nodes, error, None))

    async def _cancel(self) -> None:
        """Cancel the branches still running and wait for them, leaving no task behind."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _deadlock(self) -> str:
        waits = []
        for at, group in self._waiting.items():
            blockers = sorted(
                {b.at for b in self._live if b not in group and self._reach.can_reach(b, at)}
            )
            waits.append(
                f"{'+'.join(b.label for b in group)} wait{'s' if len(group) == 1 else ''} "
                f"at {at!r} for branches at "
                f"{', '.join(repr(name) for name in blockers)}"
            )
        return (
            "parallel branches wait for each other forever: "
            + "; ".join(waits)
            + " (each of these nodes can be reached from the other, so neither join can run)"
        )
