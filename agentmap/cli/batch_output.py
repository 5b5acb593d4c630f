"""How ``agentmap batch`` prints its summary: a table on a terminal, plain lines or JSON elsewhere."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from agentmap.batch.summary import BatchSummary

__all__ = ["how_to_go_on", "print_summary", "summary_lines"]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def how_to_go_on(
    example: dict[str, Any] | None, output: Path | None, env: str | None = None
) -> str:
    """What to do about suspended rows: resume each run, then rerun the batch."""
    where = f"in {output}'s suspended lines" if output is not None else "in their suspended lines"
    env_flag = f" --env {shlex.quote(env)}" if env else ""
    command = f"agentmap resume RUN_ID{env_flag} --set FIELD=VALUE"
    run_id = (example or {}).get("run_id")
    fields = ((example or {}).get("waiting") or {}).get("fields") or []
    if run_id:
        sets = " ".join(f"--set {shlex.quote(str(f))}=VALUE" for f in fields) or "--set FIELD=VALUE"
        command = f"agentmap resume {shlex.quote(str(run_id))}{env_flag} {sets}"
    return (
        f"waiting for a person: resume each row's run (run_id {where}), e.g. "
        f"`{command}`, then rerun this command to write their lines"
    )


def summary_lines(
    summary: BatchSummary, *, output: Path | None = None, env: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) pairs, shared by the table and the plain text."""
    data = summary.to_dict()
    rows = [
        ("rows", f"{data['rows']}"),
        ("completed", f"{data['completed']}"),
        ("failed", f"{data['failed']}"),
    ]
    if data["suspended"]:
        rows.append(
            (
                "suspended",
                f"{data['suspended']} ({how_to_go_on(data['waiting_example'], output, env)})",
            )
        )
    if data["remaining"]:
        rows.append(("not run yet", f"{data['remaining']} (rerun the same command to resume)"))
    if data["resumed"]:
        rows.append(("skipped, already done", f"{data['resumed']}"))
    if data["resumed_runs"]:
        rows.append(("resumed from checkpoints", f"{data['resumed_runs']} interrupted rows"))
    if data["from_store"]:
        rows.append(("taken from the state store", f"{data['from_store']} rows resumed elsewhere"))
    rows += [
        (
            "ran now",
            f"{data['ran']} in {data['wall_seconds']:.2f} s ({data['rows_per_second']:.1f} rows/s)",
        ),
        ("latency p50 / p95", f"{_seconds(data['latency_p50'])} / {_seconds(data['latency_p95'])}"),
    ]
    if data["llm_calls"]:
        cost = f", ${data['cost']:.6f}" if data["cost"] else ""
        rows.append(("llm", f"{data['llm_calls']} calls, {data['tokens']} tokens{cost}"))
    for entry in data["top_errors"]:
        rows.append((f"error ×{entry['rows']}", entry["error"]))
    for note in data["notes"]:
        rows.append(("note", note))
    return rows


def print_summary(
    summary: BatchSummary, *, as_json: bool, output: Path | None = None, env: str | None = None
) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        return
    lines = summary_lines(summary, output=output, env=env)
    if not sys.stdout.isatty():
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            sys.stdout.write(f"{label:<{width}}  {value}\n")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="batch summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in lines:
        style = "red" if label.startswith(("failed", "error")) and value != "0" else ""
        table.add_row(escape(label), f"[{style}]{escape(value)}[/]" if style else escape(value))
    Console(highlight=False).print(table)
