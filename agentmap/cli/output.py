"""How the CLI prints results: rich text on a terminal, plain JSON with ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from agentmap.runtime.checkpoint import RunSummary, StoredRun, Waiting
from agentmap.runtime.result import RunResult
from agentmap.runtime.run_view import stored_run_dict
from agentmap.workflow.spec import WorkflowSpec

__all__ = [
    "print_config",
    "print_result",
    "print_runs",
    "print_stored_run",
    "print_validation",
    "resume_command",
    "stored_run_dict",
    "summary_dict",
    "suspended_line",
    "to_json",
]


def to_json(value: Any) -> str:
    """``value`` as indented JSON; a part JSON cannot hold is written as a note, not a crash."""
    try:
        return json.dumps(value, indent=2, default=repr, ensure_ascii=False)
    except (RecursionError, ValueError):  # nested deeper than json can go, or circular
        return json.dumps(_printable(value, 3), indent=2, default=repr, ensure_ascii=False)


def _printable(value: Any, depth: int) -> Any:
    """``value`` with each part that cannot be printed as JSON replaced by a note."""
    if depth and isinstance(value, dict):
        return {key: _printable(item, depth - 1) for key, item in value.items()}
    try:
        json.dumps(value, default=repr)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__} too deeply nested or circular to print>"
    return value


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _plain(text: str) -> None:
    sys.stdout.write(text + "\n")


def _llm_line(result: RunResult) -> str | None:
    """``llm: 4 calls (1 cached), 212 tokens, $0.000031``, or None for a run with no call."""
    calls = result.llm_calls
    if not calls:
        return None
    cached = sum(1 for c in calls if c.cached)
    line = f"llm: {len(calls)} call{'s' if len(calls) != 1 else ''}"
    if cached:
        line += f" ({cached} cached)"
    line += f", {result.tokens} tokens"
    cost = result.cost
    if cost is not None:
        line += f", ${cost:.6f}"
    return line


def resume_command(run_id: str, fields: Sequence[str], env: str | None = None) -> str:
    """The command that goes on with a suspended run: ``agentmap resume ID --set f=...``."""
    words = ["agentmap", "resume", run_id]
    if env:
        words += ["--env", env]
    words += [f"--set {name}=..." for name in fields]
    return " ".join(words)


def suspended_line(run_id: str, waiting: Waiting) -> str:
    """``suspended: run ID waits at node 'Approve' for approved — Approve the refund?``"""
    line = f"suspended: run {run_id} waits at node {waiting.node!r} for {', '.join(waiting.fields)}"
    if waiting.question:
        line += f" — {waiting.question}"
    return line


def print_result(result: RunResult, *, as_json: bool, env: str | None = None) -> None:
    """A run's outcome; a suspended run says where it waits and the command to go on.

    ``env`` is the ``--env`` the run was given: the resume command must use
    the same preset to find the same state store.
    """
    if as_json:
        _plain(to_json(result.to_dict()))
        return
    waiting = result.waiting if result.status == "suspended" else None
    if not sys.stdout.isatty():
        # Pipes and CI logs get the same text without rich (and its import time).
        if waiting is not None:
            _plain(suspended_line(result.run_id, waiting))
        else:
            status = "completed" if result.success else "failed"
            _plain(
                f"{status}  graph {result.graph}  {len(result.path)} steps in "
                f"{result.duration * 1000:.1f} ms  run {result.run_id}"
            )
        _plain(f"path: {' -> '.join(result.path)}")
        llm = _llm_line(result)
        if llm:
            _plain(llm)
        if result.error:
            _plain(f"error ({result.failed_node or '?'}): {result.error}")
        _plain("state:\n" + to_json(result.state))
        if waiting is not None:
            _plain(f"go on with: {resume_command(result.run_id, waiting.fields, env)}")
        return
    from rich.markup import escape

    console = _console()
    if waiting is not None:
        console.print(f"[yellow]⏸ {escape(suspended_line(result.run_id, waiting))}[/]")
    else:
        mark = "[green]✔ completed[/]" if result.success else "[red]✘ failed[/]"
        total_ms = result.duration * 1000
        console.print(
            f"{mark}  graph [bold]{escape(result.graph)}[/]  "
            f"{len(result.path)} steps in {total_ms:.1f} ms  run {result.run_id}"
        )
    console.print(f"path: {escape(' → '.join(result.path))}")
    llm = _llm_line(result)
    if llm:
        console.print(escape(llm))
    if result.error:
        console.print(
            f"[red]error[/] ({escape(result.failed_node or '?')}): {escape(result.error)}"
        )
    console.print("state:")
    console.print(escape(to_json(result.state)))
    if waiting is not None:
        command = resume_command(result.run_id, waiting.fields, env)
        console.print(f"go on with: [bold]{escape(command)}[/]")


def print_validation(spec: WorkflowSpec) -> None:
    from rich.markup import escape

    console = _console()
    for warning in spec.warnings:
        console.print(f"[yellow]warning[/]: {escape(str(warning))}")
    graphs = ", ".join(f"{name} ({len(g)} nodes)" for name, g in spec.graphs.items())
    console.print(f"[green]✔[/] {escape(str(spec.file))}: {escape(graphs)}")


def print_config(
    settings: dict[str, Any], nodes: dict[str, dict[str, Any]] | None, *, as_json: bool
) -> None:
    payload: dict[str, Any] = {"settings": settings}
    if nodes is not None:
        payload["nodes"] = nodes
    if as_json:
        sys.stdout.write(to_json(payload) + "\n")
        return
    import yaml

    console = _console()
    from rich.markup import escape

    console.print(escape(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)), end="")
    if nodes is not None:
        console.print("\n[bold]effective node Context[/]")
        for name, ctx in nodes.items():
            console.print(f"  {escape(name)}: {escape(json.dumps(ctx, default=repr))}")


# ---------------------------------------------------------------------- stored runs


def _when(epoch: float) -> str:
    """Local time, to the second: when a run started, as ``runs list`` shows it."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _span(seconds: float) -> str:
    """``0.4 ms``, ``850 ms``, ``12.3 s``, ``4m05s``, ``2h03m``, ``3d04h``: a duration at a glance."""
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def summary_dict(run: RunSummary) -> dict[str, Any]:
    """One row of ``runs list --json``."""
    return {
        "run_id": run.run_id,
        "graph": run.graph,
        "status": run.status,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "duration": run.duration,
        "steps": run.steps,
        "last_node": run.last_node,
        "error": run.error,
        "workflow": run.workflow,
        "parent_run_id": run.parent_run_id,
    }


_STATUS_STYLE = {"completed": "green", "failed": "red", "suspended": "yellow", "running": "cyan"}
_RUN_COLUMNS = ("id", "graph", "status", "started", "duration", "last node")


def print_runs(runs: Sequence[RunSummary], *, as_json: bool) -> None:
    """``runs list``: newest first, a table on a terminal, aligned columns in a pipe."""
    if as_json:
        _plain(to_json([summary_dict(run) for run in runs]))
        return
    if not runs:
        _plain("no stored runs match")
        return
    rows = [
        (
            run.run_id,
            run.graph,
            run.status,
            _when(run.created_at),
            _span(run.duration),
            run.last_node or "-",
        )
        for run in runs
    ]
    if not sys.stdout.isatty():
        widths = [max(len(cells[i]) for cells in (_RUN_COLUMNS, *rows)) for i in range(6)]
        for cells in (_RUN_COLUMNS, *rows):
            _plain("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(*_RUN_COLUMNS, box=None, header_style="bold", pad_edge=False)
    for column in (0, 2, 3, 4):  # ids are copied whole; graph and last node may wrap
        table.columns[column].no_wrap = True
    for cells in rows:
        style = _STATUS_STYLE.get(cells[2], "")
        status = f"[{style}]{cells[2]}[/]" if style else cells[2]
        table.add_row(*(escape(c) for c in cells[:2]), status, *(escape(c) for c in cells[3:]))
    _console().print(table)


def print_stored_run(run: StoredRun, *, as_json: bool, env: str | None = None) -> None:
    """``runs show``: the path taken, step by step with outputs and errors, then the state."""
    shown = stored_run_dict(run)
    if as_json:
        _plain(to_json(shown))
        return
    lines = [
        f"run {run.run_id}  graph {run.graph}  {run.status}  "
        f"{len(run.steps)} steps  started {_when(run.created_at)}  "
        f"took {_span(max(0.0, run.updated_at - run.created_at))}"
    ]
    if run.workflow:
        lines.append(f"workflow: {run.workflow}")
    if run.parent_run_id:
        origin = f"from run {run.parent_run_id}"
        if run.forked_from_step is not None:
            origin = f"forked {origin} at step {run.forked_from_step}"
        lines.append(origin)
    lines.append(f"path: {' -> '.join(run.path) or '(no step stored)'}")
    for step in shown["steps"]:
        where = f" [branch {step['branch']}]" if step["branch"] else ""
        again = f" (visit {step['visit']})" if step["visit"] > 1 else ""
        outcome = "ok" if step["ok"] else "failed"
        head = f"  {step['step']:>3}  {step['node']}{where}{again}  {outcome}"
        head += f"  {_span(step['duration'])}"
        if step["attempts"] > 1:
            head += f"  {step['attempts']} attempts"
        if step["route"]:
            head += f"  -> {' | '.join(step['route'])}"
        lines.append(head)
        if step["outputs"]:
            lines.append(f"         outputs: {json.dumps(step['outputs'], default=repr)}")
        if step["error"]:
            lines.append(f"         error: {step['error']}")
        usage = step["usage"]
        if usage:
            cost = f", ${usage['cost']:.6f}" if usage.get("cost") is not None else ""
            lines.append(
                f"         llm: {usage.get('calls')} calls, {usage.get('tokens')} tokens{cost}"
            )
    llm = shown["llm"]
    if llm["calls"]:
        cost = f", ${llm['cost']:.6f}" if llm["cost"] is not None else ""
        lines.append(f"llm: {llm['calls']} calls, {llm['tokens']} tokens{cost}")
    if run.error:
        lines.append(f"error: {run.error}")
    if run.status == "suspended" and run.waiting is not None:
        lines.append(suspended_line(run.run_id, run.waiting))
        lines.append(f"go on with: {resume_command(run.run_id, run.waiting.fields, env)}")
    lines.append("state:\n" + to_json(shown["state"]))
    _plain("\n".join(lines))
