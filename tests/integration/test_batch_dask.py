"""``run_batch(..., executor="dask")`` on a real LocalCluster of two worker processes.

The workflow (tests/integration/data/batch_dask/) runs two built-in agents
and a custom one that reports its process id and, for one marked row, kills
its own worker with SIGKILL the first time it runs. The module shares one
cluster (starting one costs about a second); one test lets
``run_on_dask`` start and close its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

import distributed

from agentmap.batch import BatchSummary, arun_batch, run_batch
from agentmap.batch.dask import run_shards, shared_factory
from agentmap.batch.dask_worker import ShardPlan, share_limits
from agentmap.batch.inputs import InputRow
from agentmap.batch.job import BatchJob
from agentmap.errors import MissingExtraError
from agentmap.settings import AgentMapSettings
from containers import Application, create_application

WORKFLOW = Path(__file__).parent / "data" / "batch_dask" / "workflow.csv"
#: Fields that differ between two runs of the same row, whatever the executor.
VOLATILE = {"run_id", "duration", "timings"}
#: Outputs of the custom agent that describe where and beside what a row ran.
PLACEMENT = {"pid", "overlap"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.WARNING,
    ) as local:
        yield local


@pytest.fixture
def app() -> Application:
    # Small shards, so a few dozen rows make several shards on both workers.
    return create_application("test", batch={"shard_size": 3, "concurrency": 4})


def write_inputs(path: Path, rows: list[dict[str, Any]], *, bad_after: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for number, row in enumerate(rows, 1):
            out.write(json.dumps(row) + "\n")
            if number == bad_after:
                out.write("{not json\n")
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_row(lines: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Lines keyed by row, without what legitimately differs between runs and executors."""
    result = {}
    for line in lines:
        kept = {k: v for k, v in line.items() if k not in VOLATILE}
        kept["output"] = {k: v for k, v in line["output"].items() if k not in PLACEMENT}
        result[line["row"]] = kept
    return result


async def eventually(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def assert_one_line_per_row(lines: list[dict[str, Any]], total: int) -> None:
    rows = [line["row"] for line in lines]
    assert sorted(rows) == list(range(1, total + 1)), "a row is missing or written twice"


def test_killed_worker_reruns_its_shard_and_matches_a_local_run(
    cluster: distributed.LocalCluster, app: Application, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    rows: list[dict[str, Any]] = [{"name": f"user{n}"} for n in range(1, 31)]
    rows[6].update(kill_marker=str(marker), client_pid=os.getpid())  # row 7
    inputs = write_inputs(tmp_path / "rows.jsonl", rows, bad_after=10)  # row 11 is not JSON
    output = tmp_path / "dask.jsonl"

    summary = run_batch(
        app, WORKFLOW, inputs, output, executor="dask", scheduler=cluster.scheduler_address
    )

    assert marker.exists(), "the custom agent never killed its worker"
    killed_pid = int(marker.read_text())
    lines = read_lines(output)
    assert_one_line_per_row(lines, 31)
    statuses = {line["row"]: line["status"] for line in lines}
    assert statuses.pop(11) == "failed"
    assert set(statuses.values()) == {"completed"}
    assert (summary.ran, summary.completed, summary.failed) == (31, 30, 1)
    rerun = next(line for line in lines if line["row"] == 7)
    assert rerun["output"]["checked"] == "user7 ok"
    assert rerun["output"]["pid"] != killed_pid, "row 7 was not rerun in another process"
    pids = {line["output"]["pid"] for line in lines if line["status"] == "completed"}
    assert os.getpid() not in pids, "rows ran in the test process, not on the cluster"

    local = tmp_path / "local.jsonl"
    run_batch(app, WORKFLOW, inputs, local, executor="local")
    assert by_row(lines) == by_row(read_lines(local))


def test_resume_runs_only_the_rows_the_output_lacks(
    cluster: distributed.LocalCluster, app: Application, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "rows.jsonl", [{"name": f"u{n}"} for n in range(1, 25)])
    output = tmp_path / "out.jsonl"
    options: dict[str, Any] = {"executor": "dask", "scheduler": cluster.scheduler_address}
    first = run_batch(app, WORKFLOW, inputs, output, **options)
    assert first.ran == 24
    complete = output.read_bytes()

    again = run_batch(app, WORKFLOW, inputs, output, **options)
    assert (again.ran, again.resumed, again.done) == (0, 24, 24)
    assert output.read_bytes() == complete

    lines = complete.decode().splitlines(keepends=True)
    dropped = {json.loads(line)["row"] for line in lines[5:15]}
    output.write_text("".join(lines[:5] + lines[15:]), encoding="utf-8")
    partial = run_batch(app, WORKFLOW, inputs, output, **options)
    assert (partial.ran, partial.resumed) == (10, 14)
    after = read_lines(output)
    assert_one_line_per_row(after, 24)
    assert {line["row"] for line in after[14:]} == dropped


def test_without_a_scheduler_a_local_cluster_is_started_and_closed(
    app: Application, tmp_path: Path
) -> None:
    rows = [{"name": f"u{n}", "delay": 0.05} for n in range(1, 19)]
    inputs = write_inputs(tmp_path / "rows.jsonl", rows)
    output = tmp_path / "out.jsonl"

    summary = run_batch(app, WORKFLOW, inputs, output, executor="dask", workers=2)

    lines = read_lines(output)
    assert_one_line_per_row(lines, 18)
    assert summary.completed == 18
    pids = {line["output"]["pid"] for line in lines}
    assert len(pids) == 2, f"expected both worker processes to run rows, got {pids}"
    assert os.getpid() not in pids
    for pid in pids:  # the cluster was closed: its worker processes are gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_concurrency_is_the_total_over_the_cluster(
    cluster: distributed.LocalCluster, app: Application, tmp_path: Path
) -> None:
    rows = [{"name": f"u{n}", "delay": 0.1} for n in range(1, 13)]
    inputs = write_inputs(tmp_path / "rows.jsonl", rows)

    def peak(executor: str, **options: Any) -> int:
        output = tmp_path / f"{executor}.jsonl"
        run_batch(app, WORKFLOW, inputs, output, executor=executor, concurrency=2, **options)
        return max(line["output"]["overlap"] for line in read_lines(output))

    # Two single-thread workers share --concurrency 2: one row at a time on each.
    assert peak("dask", scheduler=cluster.scheduler_address) == 1
    assert peak("local") == 2  # the same measure sees a concurrency of 2


def test_workers_get_the_llm_limits_divided_through_the_application_factory(
    tmp_path: Path,
) -> None:
    limited = create_application("test", llm={"rpm": 100, "max_concurrency": 4})
    shared = shared_factory(limited.factory, None, 2)
    rebuilt = pickle.loads(pickle.dumps(shared))()  # as a worker builds it
    assert (rebuilt.settings.llm.rpm, rebuilt.settings.llm.max_concurrency) == (50.0, 2)
    assert rebuilt.settings.environment == "test"

    opaque = lambda: limited  # noqa: E731 - a factory that cannot take settings=
    with pytest.warns(RuntimeWarning, match="full llm rate and concurrency limits"):
        assert shared_factory(opaque, limited.settings, 2) is opaque
    unlimited = create_application("test").factory
    assert shared_factory(unlimited, None, 2) is unlimited  # nothing to divide


async def test_cancelling_the_batch_stops_its_shards_on_the_workers(
    cluster: distributed.LocalCluster, tmp_path: Path
) -> None:
    # Shards of 8 rows, 2 at a time on each worker: a shard runs for 0.8 s.
    app = create_application("test", batch={"shard_size": 8, "concurrency": 4})
    started = tmp_path / "started.log"
    rows = [{"name": f"u{n}", "delay": 0.2, "trace": str(started)} for n in range(1, 49)]
    inputs = write_inputs(tmp_path / "rows.jsonl", rows)
    output = tmp_path / "out.jsonl"
    options: dict[str, Any] = {"executor": "dask", "scheduler": cluster.scheduler_address}
    batch = asyncio.create_task(arun_batch(app, WORKFLOW, inputs, output, **options))
    assert await eventually(lambda: output.exists() and bool(output.read_text()), 30)
    batch.cancel()
    cancelled_at = time.perf_counter()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert time.perf_counter() - cancelled_at < 5
    written = read_lines(output)
    assert 0 < len(written) < 48

    assert await eventually(lambda: not cluster.scheduler.tasks, 10), (
        "shards of the cancelled batch are still scheduled"
    )
    # The workers stopped their shards: no row starts any more (a shard left
    # running would start a row every 0.1 s for most of a second).
    await asyncio.sleep(0.5)
    count = len(started.read_text().splitlines())
    await asyncio.sleep(1.0)
    assert len(started.read_text().splitlines()) == count, "a cancelled shard kept running"

    rest: BatchSummary = await arun_batch(app, WORKFLOW, inputs, output, **options)
    assert rest.ran == 48 - len(written)
    assert_one_line_per_row(read_lines(output), 48)


# --- without a cluster ------------------------------------------------------------------


def test_the_llm_limits_are_divided_between_worker_processes() -> None:
    settings = AgentMapSettings(
        llm={
            "max_concurrency": 5,
            "provider_concurrency": {"openai": 1},
            "rpm": 90,
            "provider_rpm": {"openai": 30},
        }
    )
    shared = share_limits(settings, 2)
    assert shared.llm.max_concurrency == 2  # rounded down: 2 + 2 <= 5
    assert shared.llm.provider_concurrency == {"openai": 1}  # never below 1
    assert shared.llm.rpm == 45.0
    assert shared.llm.provider_rpm == {"openai": 15.0}
    assert settings.llm.max_concurrency == 5, "the original settings were changed"
    assert share_limits(settings, 1) is settings
    assert share_limits(AgentMapSettings(), 4).llm == AgentMapSettings().llm


def test_a_missing_distributed_names_the_extra(
    app: Application, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = write_inputs(tmp_path / "rows.jsonl", [{"name": "a"}])
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingExtraError, match=r"agentmap\[dask\]"):
        run_batch(app, WORKFLOW, inputs, tmp_path / "out.jsonl", executor="dask")


class _DyingClient:
    """Stands in for a Client whose workers die on every shard holding ``poison``."""

    def __init__(self, poison: int) -> None:
        self.poison = poison
        self.shards: list[list[int]] = []

    def submit(
        self, fn: Any, factory: Any, job: Any, rows: list[InputRow], *args: Any, key: str
    ) -> Any:
        numbers = [row.row for row in rows]
        self.shards.append(numbers)

        async def outcome() -> list[dict[str, Any]]:
            if self.poison in numbers:
                raise distributed.KilledWorker(key, None, 3)  # type: ignore[arg-type]
            return [{"row": n, "status": "completed"} for n in numbers]

        return outcome()

    async def cancel(self, futures: list[Any]) -> None:
        pass


async def test_a_shard_that_keeps_killing_workers_is_split_down_to_the_row() -> None:
    rows = [InputRow(n, n, {"name": str(n)}) for n in range(1, 9)]
    job = BatchJob("w.csv", "Batch", Path("in.jsonl"), Path("out.jsonl"), ("x",), tag="t")
    client = _DyingClient(poison=3)
    emitted: list[dict[str, Any]] = []
    await run_shards(
        distributed,
        client,
        lambda: None,  # type: ignore[arg-type,return-value]
        job,
        ShardPlan("token", 2, 1),
        iter([rows[:4], rows[4:]]),
        emitted.append,
        in_flight=2,
    )
    assert sorted(line["row"] for line in emitted) == list(range(1, 9))
    failed = [line for line in emitted if line["status"] == "failed"]
    assert [line["row"] for line in failed] == [3]
    assert "died 4 times (KilledWorker)" in failed[0]["error"]
    for shard in ([1, 2], [3], [4]):  # split 1-4 into halves, then 3-4 into single rows
        assert shard in client.shards
