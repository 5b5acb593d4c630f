"""LLM benchmarks for scripts/bench: every LLM backend and candidate client, interleaved.

Split from scripts/bench to keep each file readable; ``LLMServer`` (the fake
OpenAI-compatible server in its own process) is shared with scripts/bench_batch.py.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: scripts/bench's ``report(measure, figure, budget="", note="")``.
Report = Callable[..., None]

LLM_WIDTH, LLM_WAIT, CALL_WAIT = 50, 0.2, 0.02


def llm_fanout_csv(width: int) -> str:
    nodes = [f"L{i}" for i in range(width)]
    lines = ["GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Success_Next"]
    lines.append(f"Fan,Split,echo,x,x,,{'|'.join(nodes)}")
    lines += [f"Fan,{n},llm,x,r{i},Answer {{x}} for branch {i},Join" for i, n in enumerate(nodes)]
    lines.append(f"Fan,Join,aggregator,{'|'.join(f'r{i}' for i in range(width))},joined,,")
    return "\n".join(lines) + "\n"


class LLMServer:
    """scripts/fake-llm-server in its own process, so its CPU is not the client's."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "fake-llm-server"), "--latency", str(latency)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


#: The LLM backends and candidates bench_llm runs side by side, interleaved in one loop:
#: name -> (settings over the common ones, a service to put in their place, or None).
LLM_VARIANTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "litellm": ({"backend": "litellm"}, None),
    # litellm's transport: aiohttp is its default; this is DISABLE_AIOHTTP_TRANSPORT=True.
    "litellm, httpx transport": ({"backend": "litellm", "api_key": "sk-bench-httpx"}, None),
    # litellm's own lean provider: BaseLLMAIOHTTPHandler, no OpenAI SDK underneath.
    "litellm, aiohttp_openai/ model": (
        {"backend": "litellm", "model": "aiohttp_openai/gpt-4o-mini"},
        None,
    ),
    "openai_http": ({"backend": "openai_http"}, None),
    # The official SDK (scripts/bench_openai_sdk.py), aiohttp transport, its own retries.
    "openai SDK, create()": ({"backend": "openai_http"}, "parsed"),
    "openai SDK, post() raw JSON": ({"backend": "openai_http"}, "raw"),
}


def bench_llm(report: Report, repeats: int) -> None:
    """Every backend and candidate of LLM_VARIANTS on the same server, interleaved.

    Each round runs the workflow once with every variant, and the bare litellm
    Router once, in turn, so load from elsewhere on the machine falls on all of
    them alike; medians per variant, and ratios against ``openai_http``.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import contextlib

    from bench_openai_sdk import OpenAISDKService  # scripts/bench_openai_sdk.py

    from agentmap.settings import LLMSettings
    from containers import create_application

    print(
        f"\nLLM calls over HTTP to the local fake OpenAI server in another process "
        f"(median of {repeats} fan-outs / {30 if repeats < 5 else 100} single calls, "
        "all variants interleaved)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="agentmap-llm-"))
    (tmp / "fan.csv").write_text(llm_fanout_csv(LLM_WIDTH))
    (tmp / "one.csv").write_text(
        "GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt\nOne,Ask,llm,x,y,Say {x}\n"
    )
    messages = [{"role": "user", "content": "Say 1"}]
    # One event loop for everything: litellm's aiohttp_openai/ provider keeps one
    # aiohttp session for the process, and it fails on the next loop ("Event loop is
    # closed"), so both workflows are measured in one asyncio.run, each with its server.
    servers = {"fan.csv": LLMServer(LLM_WAIT), "one.csv": LLMServer(CALL_WAIT)}
    try:
        with contextlib.ExitStack() as stack:
            runners: dict[str, dict[str, Any]] = {}
            routers: dict[str, Any] = {}
            for workflow, server in servers.items():
                runners[workflow] = {}
                for name, (overrides, sdk) in LLM_VARIANTS.items():
                    common = {"api_base": server.base_url, "api_key": "sk-bench"}
                    settings = {**common, **overrides}
                    app = stack.enter_context(create_application("test", llm=settings))
                    if sdk is not None:
                        candidate = OpenAISDKService(LLMSettings(**settings), raw=sdk == "raw")
                        stack.enter_context(app.use(llm=candidate))
                    _, graph = app.load(tmp / workflow)
                    runners[workflow][name] = app.runner(graph)
                    if name == "litellm":  # the same litellm Router, called bare
                        routers[workflow] = app.container.services.llm()._router

            async def timed(runner: Any) -> float:
                t0 = time.perf_counter()
                result = await runner.arun({"x": 1})
                assert result.success, result.error
                return time.perf_counter() - t0

            async def bare(router: Any, calls: int) -> float:
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(router.acompletion(model="gpt-4o-mini", messages=messages)
                      for _ in range(calls))
                )  # fmt: skip
                return time.perf_counter() - t0

            async def measure(workflow: str) -> dict[str, float]:
                fan = workflow == "fan.csv"
                calls = LLM_WIDTH if fan else 1
                rounds = repeats if fan else (30 if repeats < 5 else 100)
                variants = runners[workflow]
                samples: dict[str, list[float]] = {n: [] for n in [*variants, "bare Router"]}
                for i in range(3 + rounds):  # the first three warm clients and pools
                    for name, runner in variants.items():
                        took = await timed(runner)
                        if i >= 3:
                            samples[name].append(took)
                    took = await bare(routers[workflow], calls)
                    if i >= 3:
                        samples["bare Router"].append(took)
                return {name: statistics.median(s) for name, s in samples.items()}

            async def measure_all() -> dict[str, dict[str, float]]:
                import litellm

                litellm.disable_aiohttp_transport = True  # read when a client is made
                for workflow in servers:
                    await timed(runners[workflow]["litellm, httpx transport"])
                litellm.disable_aiohttp_transport = False
                return {workflow: await measure(workflow) for workflow in servers}

            figures = asyncio.run(measure_all())
    finally:
        for server in servers.values():
            server.close()
    fan, one = figures["fan.csv"], figures["one.csv"]
    verdict = "ok" if fan["litellm"] <= 0.3 else "OVER BUDGET"
    report(
        f"{LLM_WIDTH} llm nodes in parallel, {LLM_WAIT * 1000:.0f} ms each",
        f"{fan['litellm'] * 1000:.0f} ms",
        "≤ 300 ms",
        f"{verdict}; {LLM_WIDTH} bare litellm Router calls {fan['bare Router'] * 1000:.0f} ms "
        f"(AgentMap adds {(fan['litellm'] - fan['bare Router']) * 1000:.1f} ms)",
    )
    lean = fan["openai_http"]
    for name in LLM_VARIANTS:
        if name != "litellm":
            wall = fan[name]
            report(
                f"  the same, {name}",
                f"{wall * 1000:.0f} ms",
                "≤ 300 ms",
                f"{'ok' if wall <= 0.3 else 'OVER BUDGET'}; {wall / lean:.2f}× openai_http",
            )
    added = {name: (wall - CALL_WAIT) * 1000 for name, wall in one.items()}
    verdict = "ok" if added["litellm"] <= 2 else "OVER BUDGET"
    report(
        "one llm node: wall minus server latency",
        f"{added['litellm']:.2f} ms",
        "≤ 2 ms",
        f"{verdict}; bare litellm Router call {added['bare Router']:.2f} ms, "
        f"AgentMap's part {added['litellm'] - added['bare Router']:.2f} ms",
    )
    for name in LLM_VARIANTS:
        if name != "litellm":
            report(
                f"  the same, {name}",
                f"{added[name]:.2f} ms",
                "≤ 2 ms",
                f"{'ok' if added[name] <= 2 else 'OVER BUDGET'}; "
                f"{added[name] - added['openai_http']:+.2f} ms vs openai_http",
            )
