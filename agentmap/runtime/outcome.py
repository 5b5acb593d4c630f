"""Success policies: whether a run that reached its end counts as completed.

An unhandled failure always fails a run. The policies differ in how they treat
failures that a Failure_Next route handled: ``handled`` forgives them, the
others let the run continue to its end (so handlers still run) and then judge.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Literal

__all__ = ["SUCCESS_POLICIES", "SuccessPolicy", "judge"]

SuccessPolicy = Literal["handled", "all_nodes", "final_node", "critical_nodes"]
SUCCESS_POLICIES: tuple[str, ...] = ("handled", "all_nodes", "final_node", "critical_nodes")


def judge(
    policy: str,
    failures: Mapping[str, str],
    final_ok: bool,
    critical: Collection[str] = (),
) -> str | None:
    """The error that fails a run under ``policy``, or None if the run completed.

    ``failures`` maps each node whose last execution failed (handled failures
    included) to its error; ``final_ok`` is whether the node(s) that ended the
    run succeeded.
    """
    if policy == "all_nodes" and failures:
        listed = "; ".join(f"{node!r}: {error}" for node, error in failures.items())
        return f"success policy all_nodes: {len(failures)} node(s) failed ({listed})"
    if policy == "final_node" and not final_ok:
        return "success policy final_node: the final node failed"
    if policy == "critical_nodes":
        failed = [node for node in critical if node in failures]
        if failed:
            listed = "; ".join(f"{node!r}: {failures[node]}" for node in failed)
            return f"success policy critical_nodes: critical node(s) failed ({listed})"
    return None
