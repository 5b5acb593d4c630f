"""Batch benchmarks for scripts/bench (the budgets in docs/performance.md).

- 1,000 rows of a 3-node workflow whose middle node makes one LLM call of
  100 ms to the fake OpenAI server (another process) over HTTP, concurrency 50,
  with the litellm backend, the openai_http backend (plain aiohttp) and the
  official openai SDK (scripts/bench_openai_sdk.py), the last two interleaved:
  against the ideal (1,000 / 50 × 100 ms = 2 s), the same 1,000 calls made
  with the bare litellm Router (the floor of the litellm backend), and with
  plain aiohttp (the floor of HTTP itself); plus the same batch with the
  in-process fake LLM sleeping 100 ms, which isolates the batch engine.
- 100,000 rows through a 3-node workflow with no LLM node: rows/s, and peak
  RSS of a fresh process at 10k and at 100k rows (flat, if inputs and results
  stream), against the runner called in a plain loop over the same rows.
- The 1,000-row LLM job on a 2-worker Dask LocalCluster, next to the local executor.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ROWS_LLM, CONCURRENCY, LATENCY = 1000, 50, 0.1
IDEAL = ROWS_LLM / CONCURRENCY * LATENCY

LLM_FLOW = """GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next
Batch,Prep,echo,x,question,Question {x},Ask
Batch,Ask,llm,question,answer,,Post
Batch,Post,echo,answer,out,answer: {answer},
"""
PLAIN_FLOW = """GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next
Batch,Prep,echo,x,question,Question {x},Shape
Batch,Shape,echo,question,shaped,[{question}],Post
Batch,Post,echo,shaped,out,answer: {shaped},
"""

# Runs in a fresh interpreter, so that its peak RSS is this job's alone.
RSS_CHILD = """
import asyncio, json, sys, time
from containers import create_application
from agentmap.batch import arun_batch
rows, mode, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
app = create_application("test")
start = time.perf_counter()
if mode == "batch":
    summary = asyncio.run(arun_batch(app, folder + "/plain.csv", folder + f"/rows{rows}.jsonl",
                                     folder + f"/out{rows}.jsonl", concurrency=64))
    assert summary.completed == rows, summary.to_dict()
else:  # the runner alone, one row after another, inputs already parsed
    _, graph = app.load(folder + "/plain.csv")
    runner = app.runner(graph)
    states = [json.loads(line) for line in open(folder + f"/rows{rows}.jsonl")]
    async def loop():
        for state in states:
            await runner.arun(state)
    asyncio.run(loop())
wall = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of
# a big parent would report the parent's size.
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"wall": wall, "rss_mb": int(peak.split()[1]) / 1024}))
"""


def _rows(path: Path, count: int) -> None:
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps({"x": i, "note": f"row number {i}"}) + "\n")


def _fresh(path: Path) -> Path:
    if path.exists():
        path.unlink()
    return path


def _timed_batch(
    app: Any, tmp: Path, output: str, workflow: str = "llm.csv", **options: Any
) -> float:
    """Seconds for the 1,000-row batch into a fresh ``output``; every row must complete."""
    from agentmap.batch import run_batch

    start = time.perf_counter()
    summary = run_batch(
        app, tmp / workflow, tmp / "rows1000.jsonl", _fresh(tmp / output),
        concurrency=CONCURRENCY, **options,
    )  # fmt: skip
    wall = time.perf_counter() - start
    assert summary.completed == ROWS_LLM, summary.to_dict()
    return wall


def _llm_floors(url: str, router: Any) -> tuple[float, float]:
    """1,000 calls at concurrency 50: the bare litellm Router, and plain aiohttp."""
    import aiohttp

    messages = [{"role": "user", "content": "Question 1"}]

    async def measure() -> tuple[float, float]:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def via_router() -> None:
            async with slots:
                await router.acompletion(model="gpt-4o-mini", messages=messages)

        await via_router()
        t0 = time.perf_counter()
        await asyncio.gather(*(via_router() for _ in range(ROWS_LLM)))
        router_wall = time.perf_counter() - t0
        body = {"model": "gpt-4o-mini", "messages": messages}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

            async def via_aiohttp() -> None:
                async with slots, session.post(url + "/chat/completions", json=body) as reply:
                    await reply.json()

            await via_aiohttp()
            t0 = time.perf_counter()
            await asyncio.gather(*(via_aiohttp() for _ in range(ROWS_LLM)))
            return router_wall, time.perf_counter() - t0

    return asyncio.run(measure())


def bench_batch(report: Callable[..., None], server_factory: Callable[[float], Any]) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from agentmap.services.llm.fake import FakeLLMService
    from containers import create_application

    tmp = Path(tempfile.mkdtemp(prefix="agentmap-batch-"))
    (tmp / "llm.csv").write_text(LLM_FLOW)
    (tmp / "plain.csv").write_text(PLAIN_FLOW)
    _rows(tmp / "rows1000.jsonl", ROWS_LLM)
    print(
        f"\nBatch: {ROWS_LLM:,} rows × 3 nodes, one LLM call of {LATENCY * 1000:.0f} ms each, "
        f"concurrency {CONCURRENCY} (ideal {IDEAL:.1f} s)"
    )
    server = server_factory(LATENCY)
    settings = {"backend": "litellm", "api_base": server.base_url, "api_key": "sk-bench"}
    try:
        with create_application("test", llm=settings) as app:
            _, graph = app.load(tmp / "llm.csv")
            app.runner(graph).run({"x": 0})  # warm: litellm import, client, connections
            walls = [_timed_batch(app, tmp, "llm.jsonl") for _ in range(2)]
            router_wall, http_wall = _llm_floors(
                server.base_url, app.container.services.llm()._router
            )
        local = min(walls)
        verdict = "ok" if local <= 2.5 else "OVER BUDGET"
        report(
            "1,000-row LLM batch, local, litellm over HTTP",
            f"{local:.2f} s",
            "≤ 2.5 s",
            f"{verdict}; the same 1,000 calls: bare litellm Router {router_wall:.2f} s, "
            f"plain aiohttp {http_wall:.2f} s",
        )
        _lean_batches(report, tmp, {**settings, "backend": "openai_http"})
        engines = []
        for _ in range(3):  # best of 3: litellm's background threads linger after its run
            with (
                create_application("test") as app,
                app.use(llm=FakeLLMService(default="ok", latency=LATENCY)),
            ):
                engines.append(_timed_batch(app, tmp, "fake.jsonl"))
        engine = min(engines)
        report(
            "same batch, in-process fake LLM (100 ms sleep)",
            f"{engine:.2f} s",
            f"ideal {IDEAL:.1f} s",
            f"the batch engine's own overhead: {(engine - IDEAL) * 1000:.0f} ms",
        )
        _dask(report, tmp, settings, local)
    finally:
        server.close()
    _plain_rows(report, tmp)


def _lean_batches(report: Callable[..., None], tmp: Path, settings: dict[str, Any]) -> None:
    """The batch with openai_http and with the openai SDK (scripts/bench_openai_sdk.py).

    Three rounds, each running the three in turn, so the machine's load falls
    on all of them alike; best of 3 each, and its ratio to openai_http.
    """
    import contextlib

    from bench_openai_sdk import OpenAISDKService

    from agentmap.settings import LLMSettings
    from containers import create_application

    names = {
        "openai_http": None,
        "openai SDK, create()": "parsed",
        "openai SDK, post() raw JSON": "raw",
    }
    walls: dict[str, list[float]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        apps = {}
        for name, sdk in names.items():
            app = stack.enter_context(create_application("test", llm=settings))
            if sdk is not None:
                candidate = OpenAISDKService(LLMSettings(**settings), raw=sdk == "raw")
                stack.enter_context(app.use(llm=candidate))
            apps[name] = app
        for _ in range(3):
            for name, app in apps.items():
                walls[name].append(_timed_batch(app, tmp, "lean.jsonl"))
    lean = min(walls["openai_http"])
    for name, runs in walls.items():
        best = min(runs)
        report(
            "same batch, openai_http backend (no litellm)" if name == "openai_http"
            else f"  the same, {name}",
            f"{best:.2f} s",
            "≤ 2.5 s",
            f"{'ok' if best <= 2.5 else 'OVER BUDGET'}; best of 3 "
            f"({', '.join(f'{x:.2f}' for x in runs)} s); {best / lean:.2f}× openai_http; "
            f"ideal {IDEAL:.1f} s",
        )  # fmt: skip


def _dask(report: Callable[..., None], tmp: Path, settings: dict[str, Any], local: float) -> None:
    try:
        import distributed
    except ImportError:
        print("  (dask not installed: pip install 'agentmap[dask]')")
        return
    from containers import create_application

    def job(**where: Any) -> float:
        with create_application("test", llm=settings) as app:
            return _timed_batch(app, tmp, "dask.jsonl", executor="dask", **where)

    cold = job(workers=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        first = job(scheduler=cluster.scheduler_address, workers=2)
        warm = job(scheduler=cluster.scheduler_address, workers=2)
    report(
        "same LLM batch, Dask, 2 worker processes",
        f"{warm:.2f} s",
        "",
        f"workers warm; local executor {local:.2f} s; first job on new workers "
        f"(litellm import) {first:.2f} s; starting its own LocalCluster {cold:.2f} s",
    )


def _plain_rows(report: Callable[..., None], tmp: Path) -> None:
    print("\nBatch: 3-node workflow with no LLM node (test preset, concurrency 64)")
    figures: dict[tuple[int, str], dict[str, float]] = {}
    for rows, modes in (
        (10_000, ("batch", "loop")),
        (100_000, ("batch", "loop")),
        (200_000, ("batch",)),
    ):
        _rows(tmp / f"rows{rows}.jsonl", rows)
        for mode in modes:
            done = subprocess.run(
                [sys.executable, "-c", RSS_CHILD, str(rows), mode, str(tmp)],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                capture_output=True,
                text=True,
                check=True,
            )
            figures[rows, mode] = json.loads(done.stdout.strip().splitlines()[-1])
    big, loop = figures[100_000, "batch"], figures[100_000, "loop"]
    report(
        "100,000 rows, no LLM: rows/s",
        f"{100_000 / big['wall']:,.0f}",
        "",
        f"runner alone in a loop over parsed rows {100_000 / loop['wall']:,.0f} rows/s",
    )
    rss = [figures[n, "batch"]["rss_mb"] for n in (10_000, 100_000, 200_000)]
    growth = rss[2] - rss[1]
    report(
        "peak RSS at 10k → 100k → 200k rows",
        " → ".join(f"{mb:.0f}" for mb in rss) + " MB",
        "flat",
        f"{'ok' if growth < 5 else 'GROWS'} (100k → 200k: {growth:+.1f} MB; the test preset's "
        "MemoryTracker fills its 100,000-event cap by ~12k rows); the runner loop holding "
        f"the parsed rows: {figures[10_000, 'loop']['rss_mb']:.0f} → {loop['rss_mb']:.0f} MB",
    )
