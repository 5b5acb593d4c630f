"""The ``aggregator`` and ``splitter`` built-ins."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.collection import AggregatorAgent, SplitterAgent


def test_registered_and_inline() -> None:
    assert BUILTIN_AGENTS["aggregator"] is AggregatorAgent
    assert BUILTIN_AGENTS["splitter"] is SplitterAgent
    assert AggregatorAgent.run_inline is True
    assert SplitterAgent.run_inline is True


# ---------------------------------------------------------------- aggregator


def aggregate(inputs: dict[str, Any], **context: Any) -> Any:
    return AggregatorAgent("Agg", "", context).process(inputs)


def test_aggregator_dict_mode_is_the_default() -> None:
    assert aggregate({"a": 1, "b": None, "c": [2]}) == {"a": 1, "b": None, "c": [2]}
    assert aggregate({"a": 1}, mode="dict") == {"a": 1}
    assert aggregate({}) == {}


def test_aggregator_list_mode_keeps_input_order() -> None:
    assert aggregate({"z": 1, "a": None, "m": "x"}, mode="list") == [1, None, "x"]


def test_aggregator_skip_missing() -> None:
    inputs = {"a": 1, "b": None, "c": 0, "d": ""}
    assert aggregate(inputs, skip_missing=True) == {"a": 1, "c": 0, "d": ""}
    assert aggregate(inputs, mode="list", skip_missing=True) == [1, 0, ""]


def test_aggregator_merge_mode_later_inputs_win() -> None:
    out = aggregate({"a": {"x": 1, "y": 1}, "b": {"y": 2, "z": 3}}, mode="merge")
    assert out == {"x": 1, "y": 2, "z": 3}
    assert aggregate({}, mode="merge") == {}


def test_aggregator_merge_does_not_modify_its_inputs() -> None:
    first = {"x": 1}
    aggregate({"a": first, "b": {"x": 2}}, mode="merge")
    assert first == {"x": 1}


def test_aggregator_merge_of_a_non_mapping_fails_naming_it() -> None:
    out = aggregate({"a": {"x": 1}, "b": [1, 2]}, mode="merge")
    assert out == {
        "error": "aggregator node 'Agg': mode 'merge' needs mapping inputs, but 'b' is list"
    }


def test_aggregator_merge_of_a_missing_input() -> None:
    out = aggregate({"a": {"x": 1}, "b": None}, mode="merge")
    assert out == {
        "error": "aggregator node 'Agg': mode 'merge' needs mapping inputs, but 'b' is "
        "NoneType (set skip_missing to leave missing inputs out)"
    }
    assert aggregate({"a": {"x": 1}, "b": None}, mode="merge", skip_missing=True) == {"x": 1}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"mode": "concat"},
            "Context key 'mode' must be one of 'dict', 'list', 'merge', got 'concat'",
        ),
        ({"mode": None}, "Context key 'mode' must be one of 'dict', 'list', 'merge', got None"),
        ({"skip_missing": "yes"}, "Context key 'skip_missing' must be true or false, got 'yes'"),
        ({"skip_missing": 1}, "Context key 'skip_missing' must be true or false, got 1"),
    ],
)
def test_aggregator_bad_context(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^aggregator node 'Agg': ") as info:
        AggregatorAgent("Agg", "", context)
    assert message in str(info.value)


# ---------------------------------------------------------------- splitter


def split(items: Any, **context: Any) -> Any:
    return SplitterAgent("Split", "", context).process({"items": items})


@pytest.mark.parametrize(
    ("items", "n", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7], 3, [[1, 2, 3], [4, 5], [6, 7]]),
        ([1, 2, 3, 4, 5, 6], 3, [[1, 2], [3, 4], [5, 6]]),
        ([1, 2, 3, 4, 5], 4, [[1, 2], [3], [4], [5]]),
        ([1, 2], 4, [[1], [2], [], []]),
        ([], 2, [[], []]),
        ([1, 2, 3], 1, [[1, 2, 3]]),
        ((1, 2, 3), 2, [[1, 2], [3]]),
    ],
)
def test_splitter_contiguous(items: Any, n: int, expected: list[list[int]]) -> None:
    assert split(items, packages=n) == expected
    assert split(items, packages=n, strategy="contiguous") == expected


@pytest.mark.parametrize(
    ("items", "n", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7], 3, [[1, 4, 7], [2, 5], [3, 6]]),
        ([1, 2], 3, [[1], [2], []]),
        ([], 2, [[], []]),
    ],
)
def test_splitter_round_robin(items: list[int], n: int, expected: list[list[int]]) -> None:
    assert split(items, packages=n, strategy="round_robin") == expected


def test_splitter_sizes_differ_by_at_most_one_larger_first() -> None:
    for total in range(0, 30):
        for n in range(1, 8):
            sizes = [len(p) for p in split(list(range(total)), packages=n)]
            assert sum(sizes) == total
            assert max(sizes) - min(sizes) <= 1
            assert sizes == sorted(sizes, reverse=True)


def test_splitter_named_packages() -> None:
    out = split(list("abcde"), packages=["p1", "p2", "p3"])
    assert out == {"p1": ["a", "b"], "p2": ["c", "d"], "p3": ["e"]}
    out = split(list("abcde"), packages=("p1", "p2"), strategy="round_robin")
    assert out == {"p1": ["a", "c", "e"], "p2": ["b", "d"]}


def test_splitter_uses_the_first_input_only() -> None:
    agent = SplitterAgent("Split", "", {"packages": 2})
    assert agent.process({"rows": [1, 2, 3], "other": [9]}) == [[1, 2], [3]]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"items": [1, 2]}, "input 'items' must be a list to split, got dict"),
        ("a,b,c", "input 'items' must be a list to split, got str"),
        ({1, 2}, "input 'items' must be a list to split, got set"),
        (None, "input 'items' must be a list to split, got missing (None)"),
    ],
)
def test_splitter_non_list_fails_naming_the_field(items: Any, message: str) -> None:
    assert split(items, packages=2) == {"error": f"splitter node 'Split': {message}"}


def test_splitter_with_no_inputs_fails() -> None:
    out = SplitterAgent("Split", "", {"packages": 2}).process({})
    assert out == {"error": "splitter node 'Split' has no Input_Fields: nothing to split"}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({}, "Context key 'packages' is required: a number of packages"),
        ({"packages": 0}, "Context key 'packages' must be at least 1, got 0"),
        ({"packages": -2}, "Context key 'packages' must be at least 1, got -2"),
        ({"packages": True}, "must be a whole number >= 1 or a list of names, got True"),
        ({"packages": 2.5}, "must be a whole number >= 1 or a list of names, got 2.5"),
        ({"packages": "3"}, "must be a whole number >= 1 or a list of names, got '3'"),
        ({"packages": []}, "Context key 'packages' must be a non-empty list of package names"),
        (
            {"packages": ["a", 2]},
            "Context key 'packages' must be a non-empty list of package names",
        ),
        (
            {"packages": ["a", ""]},
            "Context key 'packages' must be a non-empty list of package names",
        ),
        ({"packages": ["a", "b", "a"]}, "Context key 'packages' names a more than once"),
        ({"packages": ["a", "error"]}, "Context key 'packages' uses the reserved name 'error'"),
        ({"packages": ["__next__"]}, "Context key 'packages' uses the reserved name '__next__'"),
        (
            {"packages": 2, "strategy": "random"},
            "Context key 'strategy' must be one of 'contiguous', 'round_robin', got 'random'",
        ),
    ],
)
def test_splitter_bad_context(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^splitter node 'Split': ") as info:
        SplitterAgent("Split", "", context)
    assert message in str(info.value)
