"""Checkpointing benchmarks for scripts/bench (`--only state`; issue #12, docs/performance.md).

- Added cost per step of a checkpoint: a 20-node chain of ``echo`` nodes, run
  warm in one event loop with no state adapter (the baseline) and with each
  store (memory; sqlite and postgres in ``sync``, ``async`` and ``exit``
  durability), all interleaved round by round; *added per step* is the per-run
  difference from the baseline of the same round, over 20. LangGraph runs the
  same chain in .bench-venv (a subprocess) with no checkpointer and with its
  savers: InMemorySaver, SqliteSaver (as shipped, and with the
  ``synchronous=NORMAL`` our sqlite file uses), AsyncSqliteSaver, PostgresSaver
  and AsyncPostgresSaver, in each of its three durability modes.
- Resume latency: a 1,000-node chain stored in sqlite (and postgres) whose
  last node failed; ``load_run`` + ``GraphRunner.aresume`` to completion (the
  replay of 999 steps and the one node run again), and the whole
  ``Application.aresume`` (which also loads and checks the CSV).
- 200 runs of 20 steps at once on postgres through the pool (asyncio.gather):
  steps/s, runs/s, and p95 of a step (one node's start to the next's, so it
  holds the node and its checkpoint write, waiting for a connection included).

Postgres is the server at BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/test);
everything goes to throwaway schemas dropped at the end. Without a server or
.bench-venv, those parts are skipped with a note.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentmap.agents.base_agent import BaseAgent

REPO = Path(__file__).resolve().parents[1]
BENCH_PYTHON = REPO / ".bench-venv" / "bin" / "python"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
STEPS, RESUME_STEPS, CONCURRENT = 20, 1000, 200
#: scripts/bench's ``report(measure, figure, budget="", note="")``.
Report = Callable[..., None]
#: label -> µs per step added, one figure per round.
Added = dict[str, list[float]]
FLOOR_TABLE = (
    "CREATE TABLE IF NOT EXISTS {table} "
    "(run_id TEXT, step INTEGER, delta TEXT, PRIMARY KEY (run_id, step))"
)


def chain_csv(n: int, agent: str = "echo", last: str | None = None) -> str:
    lines = ["GraphName,Node,AgentType,Input_Fields,Output_Field,Edge"]
    for i in range(n):
        kind = last if last and i == n - 1 else agent
        lines.append(f"Chain,N{i},{kind},x,x,{f'N{i + 1}' if i < n - 1 else ''}")
    return "\n".join(lines) + "\n"


def pg_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:  # no server, no driver: the postgres rows are skipped
        print(f"  (postgres skipped: {PG_URL} not reachable: {str(exc).splitlines()[0]})")
        return False
    return True


def drop_schemas(*schemas: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def added_per_round(samples: dict[str, list[float]], base: Callable[[str], str]) -> Added:
    """Per round: (per-run time with the store − without it, same round) / STEPS, in µs.

    ``"base"`` is the bare per-step time itself (of the sync baseline); a floor's is its own.
    """
    found = {
        label: [(t - b) / STEPS * 1e6 for t, b in zip(times, samples[base(label)], strict=True)]
        for label, times in samples.items()
        if not label.startswith(("none", "floor"))
    }
    found["base"] = [t / STEPS * 1e6 for t in samples[base("none")]]
    found.update(
        (label, [t / STEPS * 1e6 for t in times])
        for label, times in samples.items()
        if label.startswith("floor")
    )
    return found


def langgraph_added(tmp: Path, pg_schema: str | None, rounds: int) -> Added:
    """µs per step each LangGraph checkpointer adds, by ``saver|api|durability``."""
    if not BENCH_PYTHON.exists():
        return {}
    cfg = {
        "steps": STEPS,
        "rounds": rounds,
        "target": 0.05,
        "dir": str(tmp),
        "pg_url": PG_URL if pg_schema else None,
        "pg_schema": pg_schema,
    }
    proc = subprocess.run(
        [str(BENCH_PYTHON), str(REPO / "scripts" / "bench_state_langgraph.py"), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        print(f"  (LangGraph failed: {proc.stderr.strip().splitlines()[-1:]})")
        return {}
    samples = json.loads(proc.stdout)
    return added_per_round(
        samples, lambda label: "none|sync|-" if label == "none" else f"none|{label.split('|')[1]}|-"
    )


# --------------------------------------------------------------------------- AgentMap side


def stores(tmp: Path, pg_schema: str | None) -> dict[str, dict[str, Any]]:
    """The state settings of every store measured, by label."""
    found: dict[str, dict[str, Any]] = {"memory": {"backend": "memory"}}
    for durability in ("sync", "async", "exit"):
        path = tmp / f"am-{durability}.sqlite3"
        found[f"sqlite {durability}"] = {
            "backend": "sqlite",
            "path": str(path),
            "durability": durability,
        }
    if pg_schema is not None:
        for durability in ("sync", "async", "exit"):
            found[f"postgres {durability}"] = {
                "backend": "postgres",
                "url": PG_URL,
                "schema_name": pg_schema,
                "durability": durability,
            }
    return found


class FlakyAgent(BaseAgent):
    """Fails while ``failing`` is set: the last node of the run a resume goes on with."""

    run_inline = True
    failing = True

    def process(self, inputs: dict[str, Any]) -> Any:
        if FlakyAgent.failing:
            raise RuntimeError("the planned failure of the last node")
        return inputs["x"]


#: (the run's task, when a stamp node ran).
STAMPS: list[tuple[object, float]] = []


class StampAgent(BaseAgent):
    """Notes when it runs, by task (one task per run under asyncio.gather)."""

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        STAMPS.append((asyncio.current_task(), time.perf_counter()))
        return inputs["x"]


class _Done:
    success, error = True, None


class SqliteFloor:
    """A step-sized row INSERTed and committed per step, WAL and synchronous=NORMAL as ours:
    the least a checkpoint stored before the next node starts can cost in sqlite."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)  # each INSERT commits
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(FLOOR_TABLE.format(table="floor") + " WITHOUT ROWID")

    async def arun(self, state: dict[str, Any]) -> _Done:
        run_id = os.urandom(16).hex()
        for step in range(STEPS):
            self.conn.execute(
                "INSERT INTO floor VALUES (?, ?, ?)", (run_id, step, json.dumps(state))
            )
        return _Done()

    async def close(self) -> None:
        self.conn.close()


class PostgresFloor:
    """The same through one psycopg async connection in autocommit: a round trip and, with
    ``synchronous_commit`` on (the server's default), a WAL flush per step."""

    def __init__(self, schema: str, synchronous_commit: bool) -> None:
        self.table, self.sync = f"{schema}.floor", synchronous_commit
        self.conn: Any = None

    async def arun(self, state: dict[str, Any]) -> _Done:
        import psycopg

        if self.conn is None:
            options = "" if self.sync else "-c synchronous_commit=off"
            self.conn = await psycopg.AsyncConnection.connect(
                PG_URL, autocommit=True, options=options
            )
            await self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.table.split('.')[0]}")
            await self.conn.execute(FLOOR_TABLE.format(table=self.table))
        run_id = os.urandom(16).hex()
        for step in range(STEPS):
            await self.conn.execute(
                f"INSERT INTO {self.table} VALUES (%s, %s, %s)", (run_id, step, json.dumps(state))
            )
        return _Done()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class Bench:
    """One event loop for the whole section: a postgres pool belongs to the loop that opened it."""

    def __init__(self, tmp: Path, pg_schema: str | None) -> None:
        from containers import create_application

        self.tmp, self.pg_schema = tmp, pg_schema
        self.loop = asyncio.new_event_loop()
        self.apps = {
            label: create_application("test", state=state, execution={"max_steps": 5000})
            for label, state in stores(tmp, pg_schema).items()
        }
        self.floors: dict[str, Any] = {"floor sqlite": SqliteFloor(tmp / "floor.sqlite3")}
        if pg_schema is not None:
            self.floors["floor postgres"] = PostgresFloor(pg_schema, True)
            self.floors["floor postgres, synchronous_commit off"] = PostgresFloor(pg_schema, False)
        for app in self.apps.values():
            registry = app.container.agents.registry()
            registry.register("flaky", FlakyAgent)
            registry.register("stamp", StampAgent)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        for store in [app.state_store for app in self.apps.values()] + [*self.floors.values()]:
            self.run(store.close())
        self.loop.close()

    def runners(
        self, csv: str, name: str, labels: tuple[str, ...] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """A bare runner (no tracker, no store) and one per store, for the same graph."""
        from agentmap.runtime.runner import GraphRunner, RunOptions

        path = self.tmp / name
        path.write_text(csv)
        options = RunOptions(max_steps=5000)
        base_app = self.apps["memory"]
        _, graph = base_app.load(path)
        factory = base_app.container.agents.factory()
        base = GraphRunner(graph, factory, options=options)
        return base, {
            label: GraphRunner(graph, factory, state_adapter=app.state_store, options=options)
            for label, app in self.apps.items()
            if labels is None or label in labels
        }

    async def _per_run(self, runner: Any, runs: int) -> float:
        t0 = time.perf_counter()
        for _ in range(runs):
            result = await runner.arun({"x": 1})
        assert result.success, result.error
        return (time.perf_counter() - t0) / runs

    def added(self, rounds: int) -> Added:
        """µs per step each store adds over the bare runner, rounds interleaved."""
        base, runners = self.runners(chain_csv(STEPS), "chain20.csv")
        variants = {"none": base, **runners, **self.floors}
        runs = {}
        for label, runner in variants.items():
            self.run(self._per_run(runner, 5))  # warm: schema, pool, caches
            runs[label] = max(5, math.ceil(0.05 / self.run(self._per_run(runner, 5))))
        samples: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(rounds):
            for label, runner in variants.items():
                samples[label].append(self.run(self._per_run(runner, runs[label])))
        return added_per_round(samples, lambda label: "none")


# --------------------------------------------------------------------------- reporting


#: AgentMap store -> the LangGraph savers it is compared with (same backend, same durability).
def _peers(label: str) -> list[tuple[str, str]]:
    backend, _, durability = label.partition(" ")
    if backend == "memory":
        return [("InMemorySaver", "memory|sync|sync")]
    if backend == "sqlite":
        return [
            ("SqliteSaver", f"sqlite|sync|{durability}"),
            ("SqliteSaver NORMAL", f"sqlite-normal|sync|{durability}"),
            ("AsyncSqliteSaver", f"sqlite|async|{durability}"),
        ]
    return [
        ("PostgresSaver", f"postgres|sync|{durability}"),
        ("AsyncPostgresSaver", f"postgres|async|{durability}"),
    ]


BUDGETS = {"sqlite sync": 150.0, "postgres sync": 1000.0}


def report_added(report: Report, ours: dict[str, float], theirs: dict[str, float]) -> None:
    for label, added in ours.items():
        budget = BUDGETS.get(label)
        notes = []
        if budget is not None:
            notes.append("ok" if added <= budget else "OVER BUDGET")
        peers = [(name, theirs[key]) for name, key in _peers(label) if key in theirs]
        if peers:
            ratios = ", ".join(f"{name} {lg:.0f} µs = {lg / added:.1f}x" for name, lg in peers)
            best = min(lg for _, lg in peers) / added
            if label != "memory":
                notes.append(f"{'≥ 3x ok' if best >= 3 else '≥ 3x NOT MET'} ({best:.1f}x)")
            notes.append(f"LangGraph {ratios}")
        report(
            f"checkpoint, {label}",
            f"{added:.1f} µs/step",
            f"≤ {budget:g} µs" if budget else "",
            "; ".join(notes),
        )


# --------------------------------------------------------------------------- resume


async def _resume_once(bench: Bench, label: str, count: int) -> dict[str, list[float]]:
    """Times ``count`` resumes of failed 1,000-step runs each way, interleaved (ms)."""
    from agentmap.runtime.resume import check_resumable

    app = bench.apps[label]
    store = app.state_store
    # Postgres stores of every durability share one schema: the failed runs are written
    # in exit mode (one transaction each), and resumed by the sync store like anywhere else.
    writer = "postgres exit" if label.startswith("postgres") else label
    csv = chain_csv(RESUME_STEPS, last="flaky")
    _, runners = bench.runners(csv, "chain1000.csv", (label, writer))
    runner = runners[label]
    FlakyAgent.failing = True
    failed = []
    for _ in range(2 * count + 2):
        result = await runners[writer].arun({"x": 1})
        assert result.status == "failed", result
        assert len(result.path) == RESUME_STEPS, result
        failed.append(result.run_id)
    FlakyAgent.failing = False
    times: dict[str, list[float]] = {"load_run": [], "core": [], "app": []}
    for i in range(count + 1):  # the first pair warms up, unmeasured
        t0 = time.perf_counter()
        stored = await store.load_run(failed[2 * i])
        t1 = time.perf_counter()
        check_resumable(stored, runner.fingerprint, None)
        result = await runner.aresume(stored)
        t2 = time.perf_counter()
        assert result.success, result
        assert result.state["x"] == 1, result
        by_app = await app.aresume(failed[2 * i + 1])
        t3 = time.perf_counter()
        assert by_app.success, by_app
        if i:
            times["load_run"].append((t1 - t0) * 1e3)
            times["core"].append((t2 - t0) * 1e3)
            times["app"].append((t3 - t2) * 1e3)
    return times


def bench_resume(report: Report, bench: Bench, count: int) -> None:
    print(
        f"\nResume: a {RESUME_STEPS:,}-step run whose last node failed, to completion "
        f"(median of {count})"
    )
    for label in ("sqlite sync", "postgres sync"):
        if label not in bench.apps:
            continue
        times = bench.run(_resume_once(bench, label, count))
        core, load = statistics.median(times["core"]), statistics.median(times["load_run"])
        backend = label.split()[0]
        budget = 20.0 if backend == "sqlite" else None
        verdict = ("ok" if core <= budget else "OVER BUDGET") + "; " if budget else ""
        report(
            f"resume on {backend}: load_run + aresume",
            f"{core:.1f} ms",
            f"≤ {budget:g} ms" if budget else "",
            f"{verdict}load_run {load:.1f} ms, replay and last node {core - load:.1f} ms",
        )
        report(
            "  Application.aresume (+ CSV load, check)",
            f"{statistics.median(times['app']):.1f} ms",
        )


# --------------------------------------------------------------------------- concurrency


async def _gather(runner: Any) -> tuple[float, list[float], list[float]]:
    """One gather of CONCURRENT runs: wall seconds; seconds from each node's start to the
    next's (its checkpoint written, in sync mode); from the last node's start to the run's end
    (the last checkpoint and the run's end stored: a barrier in every mode)."""
    ends: dict[object, float] = {}

    async def one() -> None:
        result = await runner.arun({"x": 1})
        ends[asyncio.current_task()] = time.perf_counter()
        assert result.success, result.error

    STAMPS.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    wall = time.perf_counter() - t0
    by_run: dict[object, list[float]] = defaultdict(list)
    for task, stamp in STAMPS:
        by_run[task].append(stamp)
    steps, last = [], []
    for task, stamps in by_run.items():
        assert len(stamps) == STEPS, len(stamps)
        steps += [b - a for a, b in itertools.pairwise(stamps)]
        last.append(ends[task] - stamps[-1])
    return wall, steps, last


def _ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1e3


def bench_concurrent(report: Report, bench: Bench, repeats: int) -> None:
    labels = ("postgres sync", "postgres async")
    if not all(label in bench.apps for label in labels):
        return
    size = bench.apps["postgres sync"].settings.state.pool_max_size
    print(
        f"\n{CONCURRENT} runs of {STEPS} steps at once (asyncio.gather, one process), "
        f"postgres pool of {size} connections; median of {repeats}"
    )
    base, runners = bench.runners(chain_csv(STEPS, agent="stamp"), "stamp20.csv", labels)
    variants = {"no store": base, **runners}
    walls: dict[str, list[float]] = defaultdict(list)
    steps: dict[str, list[float]] = defaultdict(list)
    last: dict[str, list[float]] = defaultdict(list)
    for runner in variants.values():  # warm: the pool fills up
        bench.run(_gather(runner))
    for _ in range(repeats):
        for label, runner in variants.items():
            wall, each, end = bench.run(_gather(runner))
            walls[label].append(wall)
            steps[label] += each
            last[label] += end
    for label in variants:
        wall = statistics.median(walls[label])
        report(
            f"{CONCURRENT} concurrent runs, {label}",
            f"{CONCURRENT * STEPS / wall:,.0f} steps/s",
            "",
            f"{CONCURRENT / wall:,.0f} runs/s; a step p50 / p95 {_ms(steps[label], 50):.2f} / "
            f"{_ms(steps[label], 95):.2f} ms; the last step + the run's end p95 "
            f"{_ms(last[label], 95):.1f} ms",
        )


# --------------------------------------------------------------------------- entry


def bench_state(report: Report, quick: bool) -> None:
    rounds, blocks = (5, 1) if quick else (8, 2)
    print(
        f"\nCheckpointing: µs added per step, {STEPS}-node echo chain, warm, in process "
        f"(median over {rounds * blocks} interleaved rounds; LangGraph in .bench-venv)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="agentmap-state-"))
    suffix = os.urandom(4).hex()
    pg = pg_reachable()
    am_schema, lg_schema = (f"bench_am_{suffix}", f"bench_lg_{suffix}") if pg else (None, None)
    if lg_schema is not None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {lg_schema}")
    bench = Bench(tmp, am_schema)
    try:
        ours: Added = defaultdict(list)
        theirs: Added = defaultdict(list)
        for _ in range(blocks):  # LangGraph's rounds and ours take turns
            for label, values in langgraph_added(tmp, lg_schema, rounds).items():
                theirs[label] += values
            for label, values in bench.added(rounds).items():
                ours[label] += values
        if not theirs:
            print("  (LangGraph skipped: run `make bench-env` to create .bench-venv)")
        mine = {label: statistics.median(v) for label, v in ours.items()}
        lg = {label: statistics.median(v) for label, v in theirs.items()}
        note = f"LangGraph {lg['base']:.0f} µs/step" if "base" in lg else ""
        report("runner with no store (baseline)", f"{mine.pop('base'):.1f} µs/step", "", note)
        lg.pop("base", None)
        for label in [label for label in mine if label.startswith("floor")]:
            what = label.replace("floor ", "floor: a bare INSERT + commit per step, ")
            report(what, f"{mine.pop(label):.1f} µs/step", "", "baseline")
        report_added(report, mine, lg)
        bench_resume(report, bench, 5 if quick else 15)
        bench_concurrent(report, bench, 1 if quick else 3)
    finally:
        bench.close()
        if pg:
            drop_schemas(*(s for s in (am_schema, lg_schema) if s))
