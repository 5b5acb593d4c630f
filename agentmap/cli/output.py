"""How the CLI prints results: rich text on a terminal, plain JSON with ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any

from agentmap.runtime.result import RunResult
from agentmap.workflow.spec import WorkflowSpec

__all__ = ["print_config", "print_result", "print_validation", "to_json"]


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


def print_result(result: RunResult, *, as_json: bool) -> None:
    if as_json:
        _plain(to_json(result.to_dict()))
        return
    if not sys.stdout.isatty():
        # Pipes and CI logs get the same text without rich (and its import time).
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
        return
    from rich.markup import escape

    console = _console()
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
