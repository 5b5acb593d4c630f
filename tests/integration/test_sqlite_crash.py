"""A process writing checkpoints is SIGKILLed mid-way: the sqlite file stays whole.

The writer is a real subprocess that starts runs and saves steps in a loop,
printing each step once ``save_step`` has returned. It is killed at a
different point in each round, and the file is reopened: every stored run
loads, its steps are 1..k with nothing missing and nothing half-written, and
in ``sync`` durability every step the writer saw acknowledged is there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentmap.runtime.checkpoint import RunSummary, StoredRun
from agentmap.services.state.sqlite import SqliteStateAdapter

STEPS_PER_RUN = 40

WRITER = textwrap.dedent(
    """
    import asyncio, hashlib, sys, time
    from agentmap.runtime.checkpoint import RunStart, StepRecord
    from agentmap.services.state.sqlite import SqliteStateAdapter

    path, durability, prefix, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def payload(run_id, n):
        seed = f"{run_id}/{n}".encode()
        return hashlib.sha256(seed).hexdigest() * (20 + n % 50)

    async def main():
        adapter = SqliteStateAdapter(path, durability=durability)
        await adapter.open()
        for index in range(10_000):
            run_id = f"{prefix}-{index}"
            await adapter.start_run(RunStart(run_id, "Crash", {"run": run_id, "n": 0}))
            for n in range(1, steps + 1):
                delta = {"n": n, "run": run_id, "payload": payload(run_id, n)}
                step = StepRecord(n, f"N{n}", delta, route=(f"N{n + 1}",), started_at=time.time())
                await adapter.save_step(run_id, step)
                print(run_id, n, flush=True)
                await asyncio.sleep(0)
            await adapter.finish_run(run_id, "completed")
            print(run_id, "done", flush=True)

    asyncio.run(main())
    """
)


def _payload(run_id: str, n: int) -> str:
    return hashlib.sha256(f"{run_id}/{n}".encode()).hexdigest() * (20 + n % 50)


def _write_until_killed(
    path: Path, durability: str, prefix: str, kill_after: int
) -> dict[str, int | str]:
    """Run the writer, SIGKILL it after ``kill_after`` acknowledged steps; what it acknowledged."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), durability, prefix, str(STEPS_PER_RUN)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: dict[str, int | str] = {}
    seen = 0
    try:
        assert process.stdout is not None
        for line in process.stdout:
            run_id, what = line.split()
            acknowledged[run_id] = what if what == "done" else int(what)
            if what != "done":
                seen += 1
            if seen >= kill_after:
                process.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(
                f"the writer ended early: {process.stderr.read() if process.stderr else ''}"
            )
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return acknowledged


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_a_killed_writer_leaves_every_run_whole(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "state.sqlite3"
    acknowledged: dict[str, int | str] = {}
    for round_number, kill_after in enumerate((57, 131, 8)):
        acknowledged.update(
            _write_until_killed(path, durability, f"round{round_number}", kill_after)
        )

        async def read_back() -> tuple[list[RunSummary], dict[str, StoredRun | None]]:
            adapter = SqliteStateAdapter(path)
            try:
                listed = await adapter.list_runs(graph="Crash")
                return listed, {s.run_id: await adapter.load_run(s.run_id) for s in listed}
            finally:
                await adapter.close()

        listed, runs = asyncio.run(read_back())
        assert runs, "nothing was stored"
        for summary in listed:
            run = runs[summary.run_id]
            assert run is not None
            numbers = [s.step for s in run.steps]
            assert numbers == list(range(1, len(numbers) + 1)), run.run_id  # a prefix, no gaps
            for step in run.steps:
                n = step.step
                assert step.delta == {
                    "n": n,
                    "run": run.run_id,
                    "payload": _payload(run.run_id, n),
                }
                assert (step.node, step.route) == (f"N{n}", (f"N{n + 1}",))
            assert run.state["n"] == len(numbers)
            assert (summary.steps, summary.last_node) == (
                len(numbers),
                f"N{len(numbers)}" if numbers else None,
            )
            if run.status == "completed":
                assert len(numbers) == STEPS_PER_RUN
            else:
                assert run.status == "running"
            said = acknowledged.get(run.run_id)
            if durability == "sync" and said is not None:
                # save_step returned: the step was committed before the kill.
                if said == "done":
                    assert run.status == "completed"
                else:
                    assert len(numbers) >= int(said), run.run_id
        if durability == "sync":
            assert set(acknowledged) <= set(runs)
