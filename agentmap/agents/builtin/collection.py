"""``aggregator`` and ``splitter``: gather fields into one value, or cut a list into packages.

They are the two ends of a fan-out: ``splitter`` hands each branch its share of
a list (one package per Output_Field), ``aggregator`` puts the branches'
results back together at the join. Both are pure data shuffling, so they run
inline and never call out.

Context is checked in ``__init__``: agents are built before the first node
runs, so a bad ``mode`` or ``packages`` stops the workflow with a message naming
the node and the key instead of failing every row of a batch. What can only be
known at run time (an input that is not a list, a non-mapping to merge) fails
the node with the offending field's name and type, so ``Failure_Next`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, choice, flag
from agentmap.runtime.keys import ERROR_KEY, NEXT_KEY

__all__ = ["AggregatorAgent", "SplitterAgent"]

_MODES = ("dict", "list", "merge")
_STRATEGIES = ("contiguous", "round_robin")
#: Result keys the runner treats specially; a package named so would fail or reroute the node.
_RESERVED = (ERROR_KEY, NEXT_KEY)


class AggregatorAgent(ConfiguredAgent):
    """Context: ``mode`` (``"dict"``, ``"list"`` or ``"merge"``), ``skip_missing``.

    ``dict`` keeps the input names, so the result can also feed an Output_Field
    ``a|b``; ``list`` keeps Input_Fields order, for code that iterates; ``merge``
    flattens several partial records (one per branch) into one, later inputs
    winning, the same order in which the runner merges branch states at a join.
    ``skip_missing`` is off by default: a branch that produced nothing is
    usually worth seeing as ``None`` rather than silently absent.
    """

    def configure(self) -> None:
        name = self.name
        self._mode = choice("aggregator", name, "mode", self.context.get("mode", "dict"), _MODES)
        self._skip_missing = flag(
            "aggregator", name, "skip_missing", self.context.get("skip_missing", False)
        )

    def process(self, inputs: dict[str, Any]) -> Any:
        items = [
            (key, value)
            for key, value in inputs.items()
            if not (self._skip_missing and value is None)
        ]
        if self._mode == "list":
            return [value for _, value in items]
        if self._mode == "dict":
            return dict(items)
        merged: dict[str, Any] = {}
        for key, value in items:
            if not isinstance(value, Mapping):
                hint = " (set skip_missing to leave missing inputs out)" if value is None else ""
                return {
                    ERROR_KEY: f"aggregator node {self.name!r}: mode 'merge' needs mapping inputs, "
                    f"but {key!r} is {type(value).__name__}{hint}"
                }
            merged.update(value)
        return merged


class SplitterAgent(ConfiguredAgent):
    """Context: ``packages`` (a count, or a list of names), ``strategy``.

    A count returns a list of lists, for code that takes the packages by index.
    A list of names returns ``{name: package}``, so an Output_Field ``a|b|c``
    with ``packages: ["a", "b", "c"]`` writes one package per field and each
    branch of the fan-out reads its own.

    ``contiguous`` keeps neighbours together (pages of a document, rows in
    order), with package sizes differing by at most one and the larger ones
    first; ``round_robin`` deals items out like cards, which spreads a list
    sorted by size or priority evenly over the packages.
    """

    def configure(self) -> None:
        name = self.name
        raw = self.context.get("packages")
        self._names: tuple[str, ...] | None = None
        if raw is None:
            raise bad_context(
                "splitter",
                name,
                "packages",
                'is required: a number of packages ({"packages": 3} returns a list of 3 '
                'lists) or their names ({"packages": ["a", "b", "c"]} returns one package '
                "per name, to match an Output_Field a|b|c)",
            )
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 1:
                raise bad_context("splitter", name, "packages", f"must be at least 1, got {raw}")
            self._count = raw
        elif isinstance(raw, list | tuple):
            if not raw or not all(isinstance(n, str) and n for n in raw):
                raise bad_context(
                    "splitter",
                    name,
                    "packages",
                    f"must be a non-empty list of package names (text), got {raw!r}",
                )
            duplicates = sorted({n for n in raw if raw.count(n) > 1})
            if duplicates:
                raise bad_context(
                    "splitter", name, "packages", f"names {', '.join(duplicates)} more than once"
                )
            reserved = [n for n in raw if n in _RESERVED]
            if reserved:
                raise bad_context(
                    "splitter",
                    name,
                    "packages",
                    f"uses the reserved name {reserved[0]!r}: a result key {reserved[0]!r} "
                    "would fail or reroute the node; pick another name",
                )
            self._names = tuple(raw)
            self._count = len(raw)
        else:
            raise bad_context(
                "splitter",
                name,
                "packages",
                f"must be a whole number >= 1 or a list of names, got {raw!r}",
            )
        self._strategy = choice(
            "splitter", name, "strategy", self.context.get("strategy", "contiguous"), _STRATEGIES
        )

    def process(self, inputs: dict[str, Any]) -> Any:
        if not inputs:
            return {ERROR_KEY: f"splitter node {self.name!r} has no Input_Fields: nothing to split"}
        field, items = next(iter(inputs.items()))
        if not isinstance(items, list | tuple):
            what = "missing (None)" if items is None else f"{type(items).__name__}"
            return {
                ERROR_KEY: f"splitter node {self.name!r}: input {field!r} must be a list to "
                f"split, got {what}"
            }
        packages = self._split(list(items))
        if self._names is None:
            return packages
        return dict(zip(self._names, packages, strict=True))

    def _split(self, items: list[Any]) -> list[list[Any]]:
        n = self._count
        if self._strategy == "round_robin":
            return [items[i::n] for i in range(n)]
        size, extra = divmod(len(items), n)
        packages: list[list[Any]] = []
        start = 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            packages.append(items[start:end])
            start = end
        return packages
