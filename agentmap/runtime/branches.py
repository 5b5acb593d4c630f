"""Parallel branches of one run: their state, how they merge at a join, what they can reach.

A fan-out (``A|B|C``) gives each target a branch with a shallow copy of the
state. When branches meet at a join they become one branch again; the merge
rules are here so that they can be read, and tested, in one place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentmap.runtime.keys import ERROR_KEY, ERRORS_KEY, SUCCESS_KEY
from agentmap.workflow.parsing import is_func_target
from agentmap.workflow.spec import NodeSpec

__all__ = ["Branch", "Reachability", "fork", "merge"]


@dataclass(slots=True, eq=False)
class Branch:
    """One line of execution: the node it stands at and the state it sees.

    ``key`` orders branches as their fan-out targets were listed (``(0,)`` for
    ``A`` in ``A|B``, ``(0, 1)`` for the second target of a fan-out inside
    ``A``), which is the order their writes are applied at a join.
    """

    key: tuple[int, ...]
    at: str
    state: dict[str, Any]
    #: Fields this branch's nodes (and its ancestors since the run started) wrote.
    changed: set[str] = field(default_factory=set)
    #: The fan-out target(s) the branch started at, for messages.
    label: str = ""
    running: bool = False
    #: The nodes whose fan-outs this branch descends from. A path back through
    #: one of them starts a new fan-out, so it does not make the branch a
    #: candidate for a join of this one (a retry loop from a join back to the
    #: node that fanned out must not make siblings wait for each other).
    forks: tuple[str, ...] = ()
    #: ``key`` as text ("0.1"): where a checkpoint says the branch's steps ran.
    tag: str = ""


def fork(parent: Branch, targets: Iterable[str]) -> list[Branch]:
    """One branch per target, each with a shallow copy of the parent's state."""
    forks = parent.forks if parent.at in parent.forks else (*parent.forks, parent.at)
    return [
        Branch(
            key=(*parent.key, index),
            at=target,
            state=dict(parent.state),
            changed=set(parent.changed),
            label=target,
            forks=forks,
            tag=".".join(map(str, (*parent.key, index))),
        )
        for index, target in enumerate(targets)
    ]


def merge(
    branches: list[Branch], at: str, warn: Callable[[str], None], *, where: str = ""
) -> Branch:
    """The branches waiting at join ``at`` as one branch.

    Writes apply in listed order, so the later-listed branch wins a field that
    two branches wrote differently, which is a warning. ``errors`` lists are
    concatenated (each entry once: branches share the entries made before they
    forked), ``error`` is the last branch's error if it has one, and
    ``last_action_success`` is true only if it is true on every branch.
    ``where`` names the merge in warnings (default: the join node).
    """
    where = where or f"join at node {at!r}"
    ordered = sorted(branches, key=lambda b: b.key)
    first = ordered[0]
    state = dict(first.state)
    changed = set(first.changed)
    writer = dict.fromkeys(first.changed, first.label)
    errors: list[Any] = list(state.get(ERRORS_KEY) or ())
    seen = {id(entry) for entry in errors}
    success = bool(state.get(SUCCESS_KEY, True))
    for branch in ordered[1:]:
        theirs = branch.state
        for key in branch.changed:
            if key not in theirs:
                continue
            value = theirs[key]
            if key == ERRORS_KEY:
                for entry in value or ():
                    if id(entry) not in seen:
                        seen.add(id(entry))
                        errors.append(entry)
                continue
            if key == SUCCESS_KEY:
                success = success and bool(value)
                continue
            if key in writer and key != ERROR_KEY and state.get(key) is not value:
                warn(
                    f"{where}: parallel branches {writer[key]!r} and "
                    f"{branch.label!r} both wrote field {key!r}; the value from "
                    f"{branch.label!r} (listed later) is kept"
                )
            state[key] = value
            writer[key] = branch.label
        changed |= branch.changed
    if errors or ERRORS_KEY in state:
        state[ERRORS_KEY] = errors
    if SUCCESS_KEY in state or len(ordered) > 1:
        state[SUCCESS_KEY] = success
    return Branch(
        key=first.key,
        at=at,
        state=state,
        changed=changed,
        label="+".join(b.label for b in ordered),
        forks=first.forks,
        tag=first.tag,
    )


class Reachability:
    """Which nodes a node can lead to, computed on demand and remembered.

    Only runs with a fan-out ask, and only about the nodes their branches
    stand at, so a 5,000-node chain never pays for a transitive closure.
    A ``func:`` router may route anywhere: its node reaches every node.
    """

    def __init__(self, nodes: Mapping[str, NodeSpec]) -> None:
        self._nodes = nodes
        self._everything = frozenset(nodes)
        self._memo: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}

    def after(self, name: str, barriers: tuple[str, ...] = ()) -> frozenset[str]:
        """Nodes reachable from ``name`` through one or more routes.

        A route may end at a node of ``barriers`` but not go on through it.
        """
        key = (name, barriers)
        found = self._memo.get(key)
        if found is not None:
            return found
        seen: set[str] = set()
        queue = deque(self._targets(name))
        while queue:
            target = queue.popleft()
            if target in seen:
                continue
            if target == "*":
                seen = set(self._everything)
                break
            seen.add(target)
            if target not in barriers:
                queue.extend(self._targets(target))
        found = self._memo[key] = frozenset(seen)
        return found

    def _targets(self, name: str) -> Iterable[str]:
        node = self._nodes.get(name)
        if node is None:
            return ()
        targets = node.targets
        return ("*",) if any(is_func_target(t) for t in targets) else targets

    def can_reach(self, branch: Branch, target: str) -> bool:
        """Whether ``branch`` may still arrive at ``target`` from where it stands.

        A branch that has not yet run its node counts as arrived when it stands
        at ``target``; a running one must reach it through a route.
        """
        if not branch.running and branch.at == target:
            return True
        return target in self.after(branch.at, branch.forks)
