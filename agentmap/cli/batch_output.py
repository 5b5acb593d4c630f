"""How ``agentmap batch`` prints its summary: a table on a terminal, plain lines or JSON elsewhere."""

from __future__ import annotations

import json
import sys

from agentmap.batch.summary import BatchSummary

__all__ = ["print_summary", "summary_lines"]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def summary_lines(summary: BatchSummary) -> list[tuple[str, str]]:
    """(label, value) pairs, shared by the table and the plain text."""
    data = summary.to_dict()
    rows = [
        ("rows", f"{data['rows']}"),
        ("completed", f"{data['completed']}"),
        ("failed", f"{data['failed']}"),
    ]
    if data["remaining"]:
        rows.append(("not run yet", f"{data['remaining']} (rerun the same command to resume)"))
    if data["resumed"]:
        rows.append(("skipped, already done", f"{data['resumed']}"))
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
    return rows


def print_summary(summary: BatchSummary, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        return
    lines = summary_lines(summary)
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
