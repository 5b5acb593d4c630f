"""`agentmap serve` benchmarks for scripts/bench (`--only server`; issue #13, docs/performance.md).

- ``POST /v1/runs`` (wait=true) of a 3-node echo chain against one
  ``agentmap serve`` process (uvicorn, ``--env test``: memory state store and
  tracker), from 1 client (a blocking keep-alive socket, one request after
  another) and from 50 concurrent clients (asyncio, one keep-alive connection
  each): requests/s, p50 and p99 latency; every answer is parsed and must say
  ``completed``.
- The server's added latency: p50 over HTTP at 1 client minus p50 of the same
  run in process (``app.runner(graph).arun``, the graph loaded once as the
  server does, same preset), measured in the same bench run.
- The load client's own cost, so the figures above can be read honestly: the
  same clients against a canned server (a bare asyncio protocol in another
  process that answers every request with a fixed JSON body): loopback + client
  latency at 1 client and its request rate at 50.
- Baseline: AgentMap 0.9.213's own ``agentmap serve`` (LangGraph-based,
  ``.bench-agentmap``, created by `make bench-env`) running the same graph:
  ``POST /execute/Echo3/Echo3`` ``{"inputs": {"x": 1}}`` with the CSV in its
  default repository ``agentmap_data/workflows/``, authentication off and
  logging at WARNING (its default logs every node at INFO), like ours.

The machine's noise (other processes, CPU frequency) is spread over all of
them: the servers run side by side and each round loads every target in turn;
a latency p50 or a request rate is the median of the rounds', a p99 is over
all rounds' requests together.

Budgets: added latency <= 1 ms p50 at 1 client; throughput >= 10x 0.9.213's.
Loopback only, fixed request counts, every server stopped at the end.
Standalone: ``.venv/bin/python scripts/bench_server.py [--quick] [--profile]``;
``--profile`` runs our server under cProfile for the 1- and 50-client loads and
prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_server_load import (  # scripts/bench_server_load.py (scripts/ is on sys.path)
    CANNED_SERVER,
    HOST,
    Target,
    cpu_seconds,
    free_port,
    many_clients,
    one_client,
    pct,
    post,
    process,
    status_completed,
)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OLD_AGENTMAP = REPO / ".bench-agentmap" / "bin" / "agentmap"  # AgentMap 0.9.213
GRAPH = "Echo3"
CONCURRENCY = 50
ADDED_BUDGET_MS, RATIO_BUDGET = 1.0, 10.0
#: scripts/bench's ``report(measure, figure, budget="", note="")``.
Report = Callable[..., None]

ECHO3_CSV = """GraphName,Node,AgentType,Input_Fields,Output_Field,Edge
Echo3,A,echo,x,x,B
Echo3,B,echo,x,x,C
Echo3,C,echo,x,x,
"""
# 0.9.213: auth on by default (off here, like ours on loopback without keys);
# logging at WARNING and no access log, like ours with --env test.
OLD_CONFIG = """authentication:
  enabled: false
logging:
  version: 1
  disable_existing_loggers: false
  handlers:
    console: {class: logging.StreamHandler, level: WARNING}
  root: {level: WARNING, handlers: [console]}
  loggers:
    uvicorn.access: {level: WARNING}
"""


def ours_command(port: int, workflows: Path, profile: Path | None = None) -> list[str]:
    serve = [str(BIN / "agentmap"), "serve", "--host", HOST, "--port", str(port)]
    serve += ["--workflows", str(workflows), "--env", "test"]
    if profile is None:
        return serve
    return [sys.executable, "-m", "cProfile", "-o", str(profile), *serve]


def workflows_folder(tmp: Path) -> Path:
    folder = tmp / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{GRAPH}.csv").write_text(ECHO3_CSV)
    return folder


def old_folder(tmp: Path) -> Path:
    folder = tmp / "old"
    (folder / "agentmap_data" / "workflows").mkdir(parents=True, exist_ok=True)
    (folder / "agentmap_data" / "workflows" / f"{GRAPH}.csv").write_text(ECHO3_CSV)
    (folder / "config.yaml").write_text(OLD_CONFIG)
    return folder


# --------------------------------------------------------------------------- measures


class InProcess:
    """The same run without HTTP: the loaded graph's runner (what the server calls)."""

    def __init__(self, workflows: Path) -> None:
        from containers import create_application

        self.path = workflows / f"{GRAPH}.csv"
        self.app = create_application("test")
        _, graph = self.app.load(self.path)
        self.runner = self.app.runner(graph)
        self.loop = asyncio.new_event_loop()
        self.runs(200)

    def _timed(self, call: Callable[[], Any], count: int) -> list[float]:
        async def timed() -> list[float]:
            samples = []
            for _ in range(count):
                t0 = time.perf_counter()
                result = await call()
                samples.append(time.perf_counter() - t0)
                assert result.success, result.error
            return samples

        return self.loop.run_until_complete(timed())

    def runs(self, count: int) -> list[float]:
        return self._timed(lambda: self.runner.arun({"x": 1}), count)

    def app_runs(self, count: int) -> list[float]:
        """``Application.arun``: loads and checks the CSV each time, then runs."""
        return self._timed(lambda: self.app.arun(self.path, {"x": 1}), count)

    def close(self) -> None:
        self.loop.close()
        self.app.close()


@dataclass
class Figures:
    """One target's samples over the rounds (``cpu``: the server's CPU seconds per request)."""

    p50s: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    bad: int = 0

    def add(
        self, wall: float, latencies: list[float], bad: int = 0, cpu: float | None = None
    ) -> None:
        self.p50s.append(pct(latencies, 50))
        self.rates.append(len(latencies) / wall)
        self.latencies += latencies
        self.bad += bad
        if cpu is not None:
            self.cpu.append(cpu / len(latencies))
            self.busy.append(cpu / wall)

    @property
    def p50(self) -> float:
        return statistics.median(self.p50s)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def p99(self) -> float:
        return pct(self.latencies, 99)

    def cpu_note(self) -> str:
        """The server's CPU per request, and how much of one core it got (< 1: CPU-starved)."""
        if not self.cpu:
            return ""
        return (
            f"; server CPU {statistics.median(self.cpu) * 1e6:.0f} µs/req, "
            f"{statistics.median(self.busy):.2f} of a core"
        )


@dataclass(frozen=True)
class Served:
    """A target, the pid of the process serving it, and its request counts."""

    target: Target
    pid: int
    one: int
    many: int

    def one_client(self) -> tuple[float, list[float], int, float | None]:
        before = cpu_seconds(self.pid)
        wall, latencies = one_client(self.target, self.one, 0)
        return wall, latencies, 0, _spent(self.pid, before)

    def many_clients(self) -> tuple[float, list[float], int, float | None]:
        before = cpu_seconds(self.pid)
        wall, latencies, bad = many_clients(self.target, self.many, CONCURRENCY, 2)
        return wall, latencies, bad, _spent(self.pid, before)


def _spent(pid: int, before: float | None) -> float | None:
    after = cpu_seconds(pid)
    return None if before is None or after is None else after - before


@dataclass(frozen=True)
class Sizes:
    rounds: int
    one: int
    many: int
    old_one: int
    old_many: int

    @property
    def ours(self) -> tuple[int, int]:
        return self.one, self.many


QUICK = Sizes(rounds=2, one=500, many=2000, old_one=40, old_many=200)
FULL = Sizes(rounds=3, one=2000, many=6000, old_one=200, old_many=600)


def bench_server(report: Report, quick: bool) -> None:
    sizes = QUICK if quick else FULL
    old = OLD_AGENTMAP.exists()
    print(
        f"\nagentmap serve: POST /v1/runs (wait=true), 3-node echo chain, one uvicorn process "
        f"(--env test); {sizes.rounds} rounds of 1 client x {sizes.one} requests and "
        f"{CONCURRENCY} clients x {sizes.many // CONCURRENCY}"
        + (f" (0.9.213: {sizes.old_one} and {sizes.old_many})" if old else "")
    )
    tmp = Path(tempfile.mkdtemp(prefix="agentmap-serve-bench-"))
    workflows = workflows_folder(tmp)
    with ExitStack() as stack:
        targets: dict[str, Served] = {}
        port = free_port()
        canned_cmd = [sys.executable, "-c", CANNED_SERVER, str(port)]
        pid = stack.enter_context(process(canned_cmd, port, "/", tmp)).pid
        canned = Target("canned", port, post(port, "/", {}), lambda code, body: code == 200)
        targets["canned"] = Served(canned, pid, sizes.one, sizes.many)
        port = free_port()
        pid = stack.enter_context(process(ours_command(port, workflows), port, "/healthz", tmp)).pid
        health = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        healthz = Target("healthz", port, health, lambda code, body: code == 200)
        targets["healthz"] = Served(healthz, pid, sizes.one, 0)
        run = post(port, "/v1/runs", {"graph": GRAPH, "state": {"x": 1}, "wait": True})
        targets["ours"] = Served(Target("ours", port, run, status_completed), pid, *sizes.ours)
        if old:
            port = free_port()
            command = [str(OLD_AGENTMAP), "serve", "--host", HOST, "--port", str(port)]
            command += ["--config", "config.yaml"]
            pid = stack.enter_context(process(command, port, "/health", old_folder(tmp))).pid
            request = post(port, f"/execute/{GRAPH}/{GRAPH}", {"inputs": {"x": 1}})
            old_target = Target("0.9.213", port, request, status_completed)
            targets["old"] = Served(old_target, pid, sizes.old_one, sizes.old_many)
        inproc = InProcess(workflows)
        stack.callback(inproc.close)
        one = {name: Figures() for name in [*targets, "inproc", "app"]}
        many = {name: Figures() for name in targets}
        for name, served in targets.items():  # warm up: caches, lazy imports, the old bundle
            one_client(served.target, 0, 200 if name != "old" else 20)
        for _ in range(sizes.rounds):
            t0 = time.perf_counter()
            samples = inproc.runs(sizes.one)
            one["inproc"].add(time.perf_counter() - t0, samples)
            t0 = time.perf_counter()
            samples = inproc.app_runs(max(50, sizes.one // 10))
            one["app"].add(time.perf_counter() - t0, samples)
            for name, served in targets.items():
                one[name].add(*served.one_client())
            for name, served in targets.items():
                if served.many:
                    many[name].add(*served.many_clients())
    _report(report, one, many)


def _report(report: Report, one: dict[str, Figures], many: dict[str, Figures]) -> None:
    report(
        "in process: runner.arun (graph loaded once)",
        f"{one['inproc'].p50:.3f} ms",
        "",
        "baseline, p50",
    )
    report("in process: Application.arun (loads the CSV)", f"{one['app'].p50:.3f} ms", "", "p50")
    floor = one["canned"].p50
    report(
        "load client + loopback (canned server)",
        f"{floor:.3f} ms",
        "",
        f"1 client p50, the client's own floor; {CONCURRENCY} clients "
        f"{many['canned'].rate:,.0f} req/s",
    )
    report(
        "GET /healthz, 1 client",
        f"{one['healthz'].p50:.3f} ms",
        "",
        f"p50: uvicorn + FastAPI, no run{one['healthz'].cpu_note()}",
    )
    _report_target(report, "AgentMap serve", one["ours"], many["ours"])
    added = one["ours"].p50 - one["inproc"].p50
    verdict = "ok" if added <= ADDED_BUDGET_MS else "OVER BUDGET"
    report(
        "added latency p50 (HTTP - in process), 1 client",
        f"{added:.3f} ms",
        f"≤ {ADDED_BUDGET_MS:g} ms",
        f"{verdict}; load client + loopback are {floor:.3f} ms of it",
    )
    if "old" not in one:
        print(
            "  (AgentMap 0.9.213 baseline skipped: run `make bench-env` to create .bench-agentmap)"
        )
        return
    _report_target(report, "AgentMap 0.9.213 serve", one["old"], many["old"], baseline=True)
    for label, mine, theirs in (
        ("1 client", one["ours"].rate, one["old"].rate),
        (f"{CONCURRENCY} clients", many["ours"].rate, many["old"].rate),
    ):
        ratio = mine / theirs
        verdict = "ok" if ratio >= RATIO_BUDGET else "UNDER BUDGET"
        report(f"throughput vs 0.9.213, {label}", f"{ratio:.1f}x", f"≥ {RATIO_BUDGET:g}x", verdict)


def _report_target(
    report: Report, who: str, one: Figures, many: Figures, baseline: bool = False
) -> None:
    tag = "baseline; " if baseline else ""
    report(
        f"{who}, 1 client",
        f"{one.rate:,.0f} req/s",
        "",
        f"{tag}p50 {one.p50:.3f} ms, p99 {one.p99:.3f} ms{one.cpu_note()}",
    )
    bad = f"; {many.bad} BAD ANSWERS" if many.bad else ""
    report(
        f"{who}, {CONCURRENCY} clients",
        f"{many.rate:,.0f} req/s",
        "",
        f"{tag}p50 {many.p50:.2f} ms, p99 {many.p99:.2f} ms{bad}{many.cpu_note()}",
    )


# --------------------------------------------------------------------------- profile


def profile_server(quick: bool, top: int = 35) -> None:
    """Our server under cProfile through both loads; its hottest functions."""
    sizes = QUICK if quick else FULL
    tmp = Path(tempfile.mkdtemp(prefix="agentmap-serve-profile-"))
    workflows = workflows_folder(tmp)
    out = tmp / "serve.prof"
    port = free_port()
    command = ours_command(port, workflows, profile=out)
    with process(command, port, "/healthz", tmp, stop=signal.SIGINT):
        run = post(port, "/v1/runs", {"graph": GRAPH, "state": {"x": 1}, "wait": True})
        target = Target("ours", port, run, status_completed)
        _, one = one_client(target, sizes.one, 200)
        many_wall, many, bad = many_clients(target, sizes.many, CONCURRENCY, 2)
    print(
        f"under cProfile: 1 client p50 {pct(one, 50):.3f} ms, {CONCURRENCY} clients "
        f"{len(many) / many_wall:,.0f} req/s ({bad} bad answers); profile in {out}"
    )
    for order in ("tottime", "cumulative"):
        print(f"\n--- by {order}")
        pstats.Stats(str(out)).sort_stats(order).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    parser.add_argument("--profile", action="store_true", help="cProfile our server under load")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.profile:
        profile_server(args.quick)
        return

    def report(measure: str, figure: str, budget: str = "", note: str = "") -> None:
        print(f"  {measure:<46} {figure:>14}   {budget:<12} {note}", flush=True)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    bench_server(report, args.quick)


if __name__ == "__main__":
    main()
