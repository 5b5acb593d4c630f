"""The data-flow check: input fields that may still be unset when a node runs.

A node reads its Input_Fields from the run state, and a field nobody wrote is
silently ``None`` (DESIGN §3). That is the most common way a CSV workflow goes
wrong without any error, so ``agentmap validate`` reports, for every node, the
fields that are not written on every path to it and that the declared run
inputs do not supply.

It is a forward "must be written" analysis over bit sets (one bit per field
name), iterated to the greatest fixed point in reverse post-order, so a chain
of thousands of nodes costs one pass and loops settle in a few:

- at the entry node: the declared run inputs;
- along Success_Next: the source's Output_Field state keys;
- along Failure_Next: ``error`` and ``errors`` instead (outputs are not written
  on failure);
- along Edge: the outputs and, unless the row also has a Failure_Next (then
  Edge is taken only after success), ``error`` and ``errors``;
- ``last_action_success`` after any node;
- a ``graph`` node with no Output_Field copies back all its child run's
  fields, which only the run knows: it counts as writing every field.

Where paths meet, the sets are intersected (any one of them may be the one
taken), except for the branches of one fan-out (``A|B|C`` in one column): they
all run, and a node they reach runs once after them with their writes merged,
so their sets are united there (``agentmap.workflow.branches`` tells branches
apart from alternatives).

``func:`` routers choose their next node at run time. Their routes add no
path here, so a node that only a router leads to is not checked, and the nodes
reachable from a fan-out that lists a router are not checked either (the
router's branch may join them with any fields). The check thus stays silent
rather than guess: every warning it gives holds for the routes written in the
CSV.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from agentmap.errors import Diagnostic
from agentmap.runtime.keys import ERROR_KEY, ERRORS_KEY, SUCCESS_KEY
from agentmap.workflow.branches import Signature, branch_signatures, combine, with_branch
from agentmap.workflow.parsing import is_func_target
from agentmap.workflow.spec import GraphSpec, NodeSpec, WorkflowSpec
from agentmap.workflow.subgraphs import is_subgraph_node

__all__ = [
    "ERROR_FIELDS",
    "SUCCESS_FLAG",
    "check_data_flow",
    "declared_inputs",
    "unset_inputs",
]

#: State keys the runner writes when a node fails.
ERROR_FIELDS = (ERROR_KEY, ERRORS_KEY)
#: State key the runner writes after every node.
SUCCESS_FLAG = SUCCESS_KEY
_WRITERS_SHOWN = 3


def declared_inputs(workflow: WorkflowSpec, graph: str) -> tuple[str, ...]:
    """The run inputs the file's ``# inputs:`` rows declare for ``graph`` (file-wide first)."""
    return tuple(dict.fromkeys((*workflow.inputs.get("", ()), *workflow.inputs.get(graph, ()))))


def check_data_flow(graph: GraphSpec, inputs: Collection[str]) -> list[Diagnostic]:
    """One warning per node that may read an unset field, in file order.

    ``inputs`` are the fields the run's initial state supplies. The warnings
    have severity ``"warning"``; ``agentmap validate --strict`` makes them errors.
    """
    return _Flow(graph, inputs).diagnostics()


def unset_inputs(graph: GraphSpec) -> tuple[str, ...]:
    """Fields a node may read before any node wrote them, when the run supplies nothing.

    These are what a run's initial state should hold (``agentmap serve`` asks
    for them); the same analysis as ``check_data_flow``, as field names.
    """
    flow = _Flow(graph, ())
    available = flow.available()
    found: list[str] = []
    for node in flow.order:
        unset = flow.needed[node] & ~available[node]
        if unset and node not in flow.unchecked:
            spec = flow.nodes[node]
            found += [n for n in spec.input_names if unset >> flow.bits[n] & 1]
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class _Edge:
    source: int
    #: The bits a move along this edge adds: outputs, error fields, the success flag.
    gain: int
    #: For an edge of a fan-out: (fan-out id, branch number); else None.
    branch: tuple[int, int] | None


class _Flow:
    """The analysis of one graph; nodes are numbered in file order."""

    def __init__(self, graph: GraphSpec, inputs: Collection[str]) -> None:
        self.graph = graph
        self.nodes: list[NodeSpec] = list(graph.nodes.values())
        self.index = {node.name: i for i, node in enumerate(self.nodes)}
        self.bits: dict[str, int] = {}
        self.inputs = self.mask(inputs)
        self.incoming: list[list[_Edge]] = [[] for _ in self.nodes]
        self.outgoing: list[list[tuple[int, int]]] = [[] for _ in self.nodes]  # (target, gain)
        self.successors: list[list[int]] = [[] for _ in self.nodes]
        #: Each fan-out's source node and branch targets (its node targets, in order).
        self.fanouts: list[tuple[int, list[int]]] = []
        self.needed = [self.mask(node.input_names) for node in self.nodes]
        error_bits = self.mask(ERROR_FIELDS)
        flag = self.mask((SUCCESS_FLAG,))
        writes = [self.mask(node.output_names) for node in self.nodes]
        self.top = (1 << len(self.bits)) - 1  # every field: the start of a must-analysis
        unchecked_roots: list[int] = []
        for source, node in enumerate(self.nodes):
            # A graph node with no Output_Field copies back every field of its
            # child run, which only the run knows: count it as writing them all.
            outputs = self.top if is_subgraph_node(node) and not node.outputs else writes[source]
            outputs |= flag
            for targets, gain in (
                (node.edge, outputs if node.failure_next else outputs | error_bits),
                (node.success_next, outputs),
                (node.failure_next, error_bits | flag),
            ):
                found = [self.index[t] for t in targets if t in self.index]
                fanout = None
                if len(targets) > 1 and any(is_func_target(t) for t in targets):
                    unchecked_roots.extend(found)  # a fan-out with a func: router in it
                elif len(found) > 1:
                    fanout = len(self.fanouts)
                    self.fanouts.append((source, found))
                for number, target in enumerate(found):
                    branch = None if fanout is None else (fanout, number)
                    self.incoming[target].append(_Edge(source, gain, branch))
                    self.outgoing[source].append((target, gain))
                    self.successors[source].append(target)
        self.order = self._reverse_postorder()
        self.reached = set(self.order)
        self.unchecked = self._reachable_from(unchecked_roots)
        self.signatures = branch_signatures(self.successors, self.fanouts)

    def mask(self, names: Iterable[str]) -> int:
        bits = 0
        for name in names:
            bit = self.bits.setdefault(name, len(self.bits))
            bits |= 1 << bit
        return bits

    # -- graph walks (all iterative) -------------------------------------------------

    def _reverse_postorder(self) -> list[int]:
        """Nodes reachable from the entry, each before its successors (back edges aside)."""
        seen = {0}
        postorder: list[int] = []
        stack = [(0, iter(self.successors[0]))]
        while stack:
            node, pending = stack[-1]
            for target in pending:
                if target not in seen:
                    seen.add(target)
                    stack.append((target, iter(self.successors[target])))
                    break
            else:
                stack.pop()
                postorder.append(node)
        postorder.reverse()
        return postorder

    def _reachable_from(self, roots: list[int]) -> set[int]:
        seen = set(roots)
        queue = deque(roots)
        while queue:
            for target in self.successors[queue.popleft()]:
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        return seen

    # -- the fixed point -------------------------------------------------------------

    def available(self) -> list[int]:
        """Per node, the bits of the fields written on every path to it (top if unreached)."""
        value = [self.top] * len(self.nodes)
        position = {node: i for i, node in enumerate(self.order)}
        heap = list(range(len(self.order)))  # already a heap: sorted
        queued = set(heap)
        while heap:
            at = heapq.heappop(heap)
            queued.discard(at)
            node = self.order[at]
            new = self.merge(node, value)
            if new == value[node]:
                continue
            value[node] = new  # only ever shrinks: the greatest fixed point is reached
            for target in self.successors[node]:
                later = position[target]
                if later not in queued:
                    queued.add(later)
                    heapq.heappush(heap, later)
        return value

    def merge(self, node: int, value: list[int]) -> int:
        """The fields available at ``node`` given the current values of its predecessors.

        Incoming edges are grouped by signature (the fan-out branches their
        source runs in). Two groups are parallel when, for some fan-out, they
        run in disjoint sets of its branches: both run, so their sets unite.
        Otherwise they are alternatives and their sets intersect. Groups with
        no signature are alternatives to everything (the usual case, and the
        only one in a graph without fan-outs).
        """
        plain = self.inputs if node == 0 else self.top
        groups: dict[Signature, int] = {}
        signatures = self.signatures
        for edge in self.incoming[node]:
            if edge.source not in self.reached:
                continue
            bits = value[edge.source] | edge.gain
            signature = signatures[edge.source]
            if edge.branch is not None:
                signature = with_branch(signature, *edge.branch)
            if not signature:
                plain &= bits
            else:
                groups[signature] = groups.get(signature, self.top) & bits
        if groups:
            plain &= combine(list(groups.items()))
        return plain

    def possible(self) -> list[int]:
        """Per node, the bits of the fields written on some path to it (for messages only)."""
        value = [0] * len(self.nodes)
        value[0] = self.inputs
        queue = deque(self.order)
        queued = set(self.order)
        while queue:
            node = queue.popleft()
            queued.discard(node)
            for target, gain in self.outgoing[node]:
                new = value[target] | value[node] | gain
                if new != value[target]:
                    value[target] = new
                    if target not in queued:
                        queued.add(target)
                        queue.append(target)
        return value

    # -- reporting -------------------------------------------------------------------

    def diagnostics(self) -> list[Diagnostic]:
        available = self.available()
        missing = {}
        for node in self.order:
            unset = self.needed[node] & ~available[node]
            if unset and node not in self.unchecked:
                missing[node] = unset
        if not missing:
            return []
        possible = self.possible()
        writers: dict[str, list[str]] = {}
        for spec in self.nodes:
            for name in spec.output_names:
                writers.setdefault(name, []).append(spec.name)
        found = []
        for node in sorted(missing):
            spec = self.nodes[node]
            fields = [n for n in spec.input_names if missing[node] >> self.bits[n] & 1]
            fields = list(dict.fromkeys(fields))
            might = {n for n in fields if possible[node] >> self.bits[n] & 1}
            message = _message(fields, might, writers)
            found.append(
                Diagnostic.for_node(spec, message, column="Input_Fields", severity="warning")
            )
        return found


def _message(fields: list[str], possible: set[str], writers: dict[str, list[str]]) -> str:
    """What may be unset, why, and (for ordinary fields) how to supply it.

    ``possible``: the fields that some path to the node does write, which tells
    "not on every path" apart from "on no path".
    """
    single = len(fields) == 1
    clauses = []
    declarable = []
    for name in fields:
        subject = "it" if single else repr(name)
        if name in ERROR_FIELDS and name not in writers:
            if name in possible:
                reason = "some path reaches this node after a success"
            else:
                reason = "no failure route leads to this node"
            clauses.append(f"{subject} is set only when a node fails, and {reason}")
            continue
        if name == SUCCESS_FLAG and name not in writers:
            clauses.append(f"{subject} is set only after a node has run")
            continue
        declarable.append(name)
        if name in possible and name in writers:
            shown = ", ".join(repr(w) for w in writers[name][:_WRITERS_SHOWN])
            if len(writers[name]) > _WRITERS_SHOWN:
                shown += f" and {len(writers[name]) - _WRITERS_SHOWN} more"
            clauses.append(f"{subject} is written by {shown}, but not on every path to this node")
        else:
            clauses.append(f"no node on a path to this one writes {subject}")
    listed = ", ".join(repr(name) for name in fields)
    message = (
        f"input field{'' if single else 's'} {listed} may be unset when this node runs: "
        + "; ".join(clauses)
    )
    if declarable:
        them, inputs = ("it", "a run input") if len(declarable) == 1 else ("them", "run inputs")
        message += (
            f". Declare {them} as {inputs} (a '# inputs: {', '.join(declarable)}' row in the CSV) "
            f"or have every path to this node write {them}"
        )
    return message
