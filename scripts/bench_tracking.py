"""Tracker section of scripts/bench: what the OTel tracker adds per node over the ``null`` one.

A linear chain of 100 echo nodes runs warm, in process, without checkpoints,
with three trackers built the way the container builds them:

- ``null`` (the baseline): the runner recognises it and builds no per-node event;
- ``otel`` with a ``SimpleSpanProcessor``: each span is exported as it ends, on
  the run's own thread, so every µs of the tracker is on the clock;
- ``otel`` with a ``BatchSpanProcessor`` (what the OTLP setup uses): spans are
  queued and exported by the SDK's thread; the timing includes a
  ``force_flush`` after every repeat, so the export is paid for too.

Both export to the SDK's ``InMemorySpanExporter``, cleared after every run: a
real exporter keeps spans only until they are sent, and a list holding a
million spans would time the garbage collector, not the tracker. The added
cost includes building the node events (``NodeStarted``/``NodeFinished``),
which the ``null`` run skips. Samples alternate between trackers (round
robin) so a busy machine slows all of them alike; each figure is the median.
The floor is the SDK alone: one bare span (no attribute) started and ended per
node through the same simple processor and exporter, which no tracker built on
the SDK can beat. The note gives the same difference in CPU time (``time.process_time``), which
a busy machine inflates less than wall time: the two together tell load from
cost.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Report = Callable[..., None]

NODES = 100
BUDGET_US = 30.0


def _chain(n: int) -> str:
    lines = ["GraphName,Node,AgentType,Input_Fields,Output_Field,Edge"]
    lines += [f"Chain,N{i},echo,x,x,{f'N{i + 1}' if i < n - 1 else ''}" for i in range(n)]
    return "\n".join(lines) + "\n"


def bench_tracking(report: Report, quick: bool) -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        print("\nOTel tracker: skipped (pip install 'agentmap[otel]')")
        return
    from agentmap.runtime.runner import GraphRunner, RunOptions
    from agentmap.services.tracking.null import NullTracker
    from agentmap.services.tracking.otel import OtelTracker
    from containers import create_application

    print(f"\nOTel tracker: added cost per node, chain of {NODES} echo nodes, vs the null tracker")
    path = Path(tempfile.mkdtemp(prefix="agentmap-bench-")) / "chain.csv"
    path.write_text(_chain(NODES))
    runs = 20 if quick else 100
    repeats = 3 if quick else 9
    exporter = InMemorySpanExporter()
    simple = TracerProvider()
    simple.add_span_processor(SimpleSpanProcessor(exporter))
    batched = TracerProvider()
    # A queue that never drops a span: dropped spans would cost less than exported ones.
    batched.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=runs * (NODES + 1)))
    trackers: dict[str, tuple[Any, Any]] = {
        "null": (NullTracker(), None),
        "SimpleSpanProcessor": (OtelTracker(simple), None),
        "BatchSpanProcessor": (OtelTracker(batched), batched),
    }
    samples: dict[str, list[float]] = {label: [] for label in trackers}
    cpu: dict[str, list[float]] = {label: [] for label in trackers}
    with create_application("test") as app:
        _, graph = app.load(path)
        factory = app.container.agents.factory()
        runners = {
            label: GraphRunner(
                graph, factory, tracker=tracker, options=RunOptions(checkpoint=False)
            )
            for label, (tracker, _) in trackers.items()
        }

        async def many(runner: GraphRunner, provider: Any, count: int) -> None:
            for _ in range(count):
                await runner.arun({"x": 1})
                exporter.clear()  # what the batch processor exported so far
            if provider is not None:
                provider.force_flush()
                exporter.clear()

        for label, runner in runners.items():  # warm up
            asyncio.run(many(runner, trackers[label][1], 3))
        for _ in range(repeats):
            for label, runner in runners.items():
                t0, c0 = time.perf_counter(), time.process_time()
                asyncio.run(many(runner, trackers[label][1], runs))
                samples[label].append((time.perf_counter() - t0) / runs / NODES * 1e6)
                cpu[label].append((time.process_time() - c0) / runs / NODES * 1e6)
    tracer = simple.get_tracer("bench")
    root = tracer.start_span("root")
    parent = trace.set_span_in_context(root)

    def bare_spans() -> None:
        for _ in range(runs):
            for _ in range(NODES):
                tracer.start_span("node", context=parent, start_time=1).end(2)
            exporter.clear()

    floor = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare_spans()
        floor.append((time.perf_counter() - t0) / runs / NODES * 1e6)
    null = statistics.median(samples["null"])
    null_cpu = statistics.median(cpu["null"])
    report(
        f"chain of {NODES}, null tracker",
        f"{null:.2f} µs/node",
        "",
        f"baseline; cpu {null_cpu:.2f} µs/node",
    )
    for label in ("SimpleSpanProcessor", "BatchSpanProcessor"):
        total = statistics.median(samples[label])
        added = total - null
        verdict = "ok" if added <= BUDGET_US else "OVER BUDGET"
        report(
            f"otel tracker added, {label}",
            f"{added:.2f} µs/node",
            f"≤ {BUDGET_US:g} µs",
            f"{verdict}; {total:.2f} µs/node in all, {total / null:.1f}x null; "
            f"cpu +{statistics.median(cpu[label]) - null_cpu:.2f} µs/node",
        )
    report(
        "OTel SDK floor: one bare span per node",
        f"{statistics.median(floor):.2f} µs/node",
        "",
        "SimpleSpanProcessor, no attribute, no event",
    )
    simple.shutdown()
    batched.shutdown()
