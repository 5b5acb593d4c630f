"""Storage agents benchmark for scripts/bench (`--only storage`; issue #14, docs/performance.md).

A 100-row CSV goes through ``csv_reader -> echo -> json_writer`` (the JSON
written in mode ``write``: a temporary file and a rename, under the file's
lock), and the same file is read with ``csv.DictReader`` and written with
``json.dump`` by a bare loop: the floor, measured in the same run,
interleaved round by round with the workflow so machine noise hits both. The
workflow runs warm, in one event loop, with the runner alone (no tracker, no
checkpoints) and with the ``test`` preset (memory tracker and checkpoints).

Budget: the workflow within 2x of the bare stdlib read and write.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: scripts/bench's ``report(measure, figure, budget="", note="")``.
Report = Callable[..., None]
ROWS = 100
WORKFLOW = """GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Edge
Store,Read,csv_reader,,items,items.csv,,Echo
Store,Echo,echo,items,items,,,Write
Store,Write,json_writer,items:data,written,items.json,"{""mode"": ""write""}",
"""


def _items_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "name", "category", "price", "quantity", "note"])
        for i in range(ROWS):
            note = f"item {i}, with a comma" if i % 3 else ""
            writer.writerow(
                [f"A-{i:04d}", f"Item number {i}", f"cat{i % 7}", f"{i * 1.25:.2f}", i % 13, note]
            )


def _bare(source: Path, target: Path) -> None:
    """The floor: the fastest plain-stdlib read and write of the same file, same JSON text.

    The whole file read at once and ``csv.reader`` rows zipped with the header
    (``csv.DictReader`` is ~1.5x slower per row), ``json.dumps`` and one
    ``write`` (``json.dump`` writes chunk by chunk, ~2x slower), into a new
    file: each choice keeps the floor low rather than flatter the agents.
    """
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(io.StringIO(f.read(), newline=""))
        header = next(reader)
        rows = [dict(zip(header, cells, strict=True)) for cells in reader]
    with target.open("w", encoding="utf-8") as f:
        f.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def _script(source: Path, target: Path) -> None:
    """What a script usually does: ``csv.DictReader`` and ``json.dump``."""
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with target.open("w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2, ensure_ascii=False)
        f.write("\n")


def bench_storage(report: Report, quick: bool) -> None:
    from agentmap.runtime.runner import GraphRunner, RunOptions
    from containers import create_application

    runs, rounds = (50, 5) if quick else (300, 11)
    print(
        f"\nStorage agents: {ROWS}-row CSV -> csv_reader -> echo -> json_writer "
        f"(warm, in process, median of {rounds} rounds x {runs} runs)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="agentmap-bench-storage-"))
    _items_csv(tmp / "items.csv")
    (tmp / "store.csv").write_text(WORKFLOW)
    with create_application("test", storage={"base_dir": tmp}) as app:
        _, graph = app.load(tmp / "store.csv")
        bare_runner = GraphRunner(
            graph, app.container.agents.factory(), options=RunOptions(checkpoint=False)
        )
        preset_runner = app.runner(graph)

        def workflow(runner: Any) -> float:
            async def many() -> None:
                for _ in range(runs):
                    result = await runner.arun({})
                    assert result.success, result.error

            t0 = time.perf_counter()
            asyncio.run(many())
            return (time.perf_counter() - t0) / runs

        def floor(fn: Callable[[Path, Path], None] = _bare) -> float:
            # Each run writes a new file: rewriting one in place (truncate) costs ~2 ms
            # more here (ext4 flushes a truncated file on close), which would flatter us.
            targets = [tmp / f"bare-{i}.json" for i in range(runs)]
            t0 = time.perf_counter()
            for target in targets:
                fn(tmp / "items.csv", target)
            seconds = (time.perf_counter() - t0) / runs
            for target in targets:
                target.unlink()
            return seconds

        workflow(bare_runner)  # warm up: imports, agents, the lock
        floor()
        samples: dict[str, list[float]] = {"floor": [], "script": [], "bare": [], "preset": []}
        for _ in range(rounds):
            samples["floor"].append(floor())
            samples["script"].append(floor(_script))
            samples["bare"].append(workflow(bare_runner))
            samples["preset"].append(workflow(preset_runner))
    _bare(tmp / "items.csv", tmp / "bare.json")
    assert json.loads((tmp / "items.json").read_text()) == json.loads(
        (tmp / "bare.json").read_text()
    )
    base = statistics.median(samples["floor"])
    report("stdlib csv read + json write (floor)", f"{base * 1e6:.0f} µs", "", "baseline")
    script = statistics.median(samples["script"])
    report("csv.DictReader + json.dump (a usual script)", f"{script * 1e6:.0f} µs", "", "baseline")
    for key, label in (("bare", "runner alone"), ("preset", "test preset")):
        seconds = statistics.median(samples[key])
        ratio = seconds / base
        verdict = "ok" if ratio <= 2.0 else "OVER BUDGET"
        report(
            f"csv_reader -> echo -> json_writer, {label}",
            f"{seconds * 1e6:.0f} µs",
            "≤ 2x floor",
            f"{verdict}; {ratio:.2f}x the floor, +{(seconds - base) * 1e6:.0f} µs",
        )
