"""Fan-out branches for the data-flow check: which branch a node runs in, and joins.

A target list ``A|B|C`` in one next column is a fan-out: the runner runs every
target, and a node that several branches reach (a join) runs once, after them,
with their writes merged (DESIGN §3). So where paths meet, the data-flow check
must tell branches of one fan-out (all of them run: unite what they write)
from alternative paths (only one is taken: intersect). This module does that
on plain integers so that ``dataflow`` stays about fields:

- ``branch_signatures`` says, for every node, in which branches of which
  fan-outs it runs;
- ``combine`` merges the field sets arriving at a node, given the signature
  of each.

Both are iterative: a workflow may hold thousands of nodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["Signature", "branch_signatures", "combine", "parallel", "with_branch"]

#: (fan-out id, bit set of its branch numbers) pairs, sorted by fan-out id.
Signature = tuple[tuple[int, int], ...]
_Group = tuple[Signature, int]


def branch_signatures(
    successors: Sequence[Sequence[int]], fanouts: Sequence[tuple[int, Sequence[int]]]
) -> list[Signature]:
    """Per node, the branches it runs in, for each fan-out ``(source, targets)``.

    A node is in branch ``i`` of a fan-out when the ``i``-th target reaches it
    without going back through the fan-out's own node (going back starts the
    fan-out anew, as in a retry loop around it). A branch's reach stops at a
    node that every branch has reached: there the branches have merged, and
    what follows runs once, in no branch. Only partial masks are kept: a full
    mask and no mask mean the same to ``combine`` (such a node's path cannot
    be told apart from any other).
    """
    found: list[dict[int, int]] = [{} for _ in successors]
    for fanout, (source, targets) in enumerate(fanouts):
        full = (1 << len(targets)) - 1
        masks: dict[int, int] = {}
        queue: deque[int] = deque()
        for number, target in enumerate(targets):
            if target != source:
                masks[target] = masks.get(target, 0) | 1 << number
                queue.append(target)
        while queue:  # breadth first from the targets in order: the same result every time
            node = queue.popleft()
            mask = masks[node]
            if mask == full:
                continue
            for target in successors[node]:
                old = masks.get(target, 0)
                if target != source and old | mask != old:
                    masks[target] = old | mask
                    queue.append(target)
        for node, mask in masks.items():
            if mask != full:
                found[node][fanout] = mask
    return [tuple(sorted(masks.items())) for masks in found]


def with_branch(signature: Signature, fanout: int, number: int) -> Signature:
    """The signature of an edge from a fan-out's node to its ``number``-th target."""
    return tuple(sorted((*signature, (fanout, 1 << number))))


def parallel(a: Signature, b: Signature) -> bool:
    """Whether two paths run in disjoint branches of some fan-out, so that both run."""
    return _disjoint(dict(a), b)


def _disjoint(masks: dict[int, int], b: Signature) -> bool:
    return any(fanout in masks and not masks[fanout] & mask for fanout, mask in b)


def combine(groups: Sequence[_Group]) -> int:
    """Merge field bit sets arriving at one node: unite parallel ones, intersect the rest.

    ``groups`` pair a signature with the bits arriving along the paths of
    that signature (those are alternatives among themselves, so the caller
    has already intersected them). The groups are split the way a cograph is:
    into parts with no parallel pair between them (alternatives: intersect the
    parts) or else into parts that are all parallel to each other (branches:
    unite them), and so on inside each part. A knot that splits neither way is
    intersected, which can add a warning but never hide one.
    """
    if _branches_of_one_fanout(groups):
        united = 0
        for _, bits in groups:
            united |= bits
        return united
    ops: list[str] = ["leaf"]
    values: list[int] = [0]
    children: list[list[int]] = [[]]
    pending: list[tuple[int, Sequence[_Group]]] = [(0, groups)]
    while pending:  # build the split tree top-down...
        at, part = pending.pop()
        split = _split(part) if len(part) > 1 else None
        if split is None:  # one group, or a knot
            values[at] = _intersect(bits for _, bits in part)
            continue
        ops[at], parts = split
        for sub in parts:
            children[at].append(len(ops))
            pending.append((len(ops), sub))
            ops.append("leaf")
            values.append(0)
            children.append([])
    for at in reversed(range(len(ops))):  # ...and evaluate it bottom-up: children come later
        if ops[at] == "and":
            values[at] = _intersect(values[child] for child in children[at])
        elif ops[at] == "or":
            united = 0
            for child in children[at]:
                united |= values[child]
            values[at] = united
    return values[0]


def _branches_of_one_fanout(groups: Sequence[_Group]) -> bool:
    """The usual join, checked in linear time: disjoint branches of a single fan-out."""
    seen = 0
    fanouts = set()
    for signature, _ in groups:
        if len(signature) != 1 or seen & signature[0][1]:
            return False
        fanouts.add(signature[0][0])
        seen |= signature[0][1]
    return len(fanouts) == 1


def _intersect(values: Iterable[int]) -> int:
    result = -1  # every bit set: the identity of &
    for bits in values:
        result &= bits
    return result


def _split(part: Sequence[_Group]) -> tuple[str, list[list[_Group]]] | None:
    """``("and" | "or", parts)``, or None for a knot that splits neither way."""
    lookups = [dict(signature) for signature, _ in part]
    for op, related in (("and", True), ("or", False)):
        # Components of the graph linking parallel groups (for "and") or
        # alternative groups (for "or"); several components split the part.
        component = [-1] * len(part)
        count = 0
        for start in range(len(part)):
            if component[start] >= 0:
                continue
            component[start] = count
            stack = [start]
            while stack:
                i = stack.pop()
                for j in range(len(part)):
                    if component[j] < 0 and _disjoint(lookups[i], part[j][0]) == related:
                        component[j] = count
                        stack.append(j)
            count += 1
        if count > 1:
            parts: list[list[_Group]] = [[] for _ in range(count)]
            for i, group in enumerate(part):
                parts[component[i]].append(group)
            return op, parts
    return None
