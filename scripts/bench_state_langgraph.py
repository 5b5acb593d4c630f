"""LangGraph's side of scripts/bench_state.py: run by .bench-venv's python, prints JSON.

The 20-node chain of ``echo``-like nodes with no checkpointer (sync and async
API) and with each saver LangGraph ships for memory, SQLite and Postgres, in
each of its durability modes (``sync``, ``async``, ``exit``). Every variant is
opened once, warmed, then all are run round-robin; the output is seconds per
run, one figure per round, by ``saver|api|durability``. SqliteSaver runs as
shipped (WAL, the sqlite default ``synchronous=FULL``) and with
``synchronous=NORMAL``, which AgentMap's sqlite file uses. The argument is a
JSON object: steps, rounds, target (seconds a sample lasts), dir (for the
sqlite files), pg_url and pg_schema (an existing schema; no postgres if null).
"""

import asyncio
import json
import math
import os
import sqlite3
import sys
import time
import uuid
from typing import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

cfg = json.loads(sys.argv[1])
N, loop, closers = cfg["steps"], asyncio.new_event_loop(), []


class S(TypedDict):
    x: int


def build(is_async, saver):
    g = StateGraph(S)
    for i in range(N):
        if is_async:  # async nodes under ainvoke: a sync node would go to a thread

            async def f(s):
                return {"x": s["x"]}
        else:

            def f(s):
                return {"x": s["x"]}

        g.add_node(f"N{i}", f)
    g.add_edge(START, "N0")
    for i in range(N - 1):
        g.add_edge(f"N{i}", f"N{i + 1}")
    g.add_edge(f"N{N - 1}", END)
    return g.compile(checkpointer=saver)


def sqlite_conn(name, *pragmas):
    conn = sqlite3.connect(os.path.join(cfg["dir"], name), check_same_thread=False)
    for pragma in pragmas:
        conn.execute(pragma)
    closers.append(conn.close)
    return conn


def opened(coro):  # async savers bind to the loop that makes them
    saver = loop.run_until_complete(coro)
    closers.append(lambda: loop.run_until_complete(saver.conn.close()))
    return saver


async def async_sqlite():
    import aiosqlite

    return AsyncSqliteSaver(await aiosqlite.connect(os.path.join(cfg["dir"], "lg-async.sqlite3")))


def savers():
    yield "none", False, None
    yield "none", True, None
    yield "memory", False, InMemorySaver()
    yield "sqlite", False, SqliteSaver(sqlite_conn("lg.sqlite3"))
    normal = sqlite_conn(
        "lg-normal.sqlite3", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"
    )
    yield "sqlite-normal", False, SqliteSaver(normal)
    yield "sqlite", True, opened(async_sqlite())
    if not cfg["pg_url"]:
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row

    kw = dict(
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={cfg['pg_schema']}",
    )  # what from_conn_string sets, + schema
    conn = psycopg.Connection.connect(cfg["pg_url"], **kw)
    closers.append(conn.close)
    saver = PostgresSaver(conn)
    saver.setup()
    yield "postgres", False, saver

    async def async_postgres():
        saver = AsyncPostgresSaver(await psycopg.AsyncConnection.connect(cfg["pg_url"], **kw))
        await saver.setup()
        return saver

    yield "postgres", True, opened(async_postgres())


def per_run(app, is_async, durability, runs):
    kw = {"durability": durability} if durability else {}

    def config():  # a new thread per run, as AgentMap starts a new run
        c = {"recursion_limit": N + 10}
        if durability:
            c["configurable"] = {"thread_id": uuid.uuid4().hex}
        return c

    t0 = time.perf_counter()
    if is_async:

        async def many():
            for _ in range(runs):
                assert (await app.ainvoke({"x": 1}, config(), **kw))["x"] == 1

        loop.run_until_complete(many())
    else:
        for _ in range(runs):
            assert app.invoke({"x": 1}, config(), **kw)["x"] == 1
    return (time.perf_counter() - t0) / runs


def main():
    variants = {}
    for name, is_async, saver in savers():
        app = build(is_async, saver)
        for durability in ("sync", "async", "exit") if saver is not None else (None,):
            label = f"{name}|{'async' if is_async else 'sync'}|{durability or '-'}"
            variants[label] = (app, is_async, durability)
    runs = {}
    for label, v in variants.items():  # warm, then runs per sample for ~target seconds
        per_run(*v, 2)
        runs[label] = max(2, math.ceil(cfg["target"] / per_run(*v, 3)))
    samples = {label: [] for label in variants}
    for _ in range(cfg["rounds"]):
        for label, v in variants.items():
            samples[label].append(per_run(*v, runs[label]))
    return samples


try:
    print(json.dumps(main()))
finally:
    for close in reversed(closers):
        close()
