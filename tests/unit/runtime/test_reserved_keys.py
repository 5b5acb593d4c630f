"""``__value__``: with ``__next__`` / ``__state__``, the output itself rather than the rest of the mapping."""

from __future__ import annotations

from tests.unit.runtime.helpers import graph, make_runner, node


def test_value_with_state_is_what_the_output_field_receives() -> None:
    g = graph(node("A", outputs="answer"))
    runner = make_runner(g, {"A": lambda i: {"__state__": {"memory": ["hi"]}, "__value__": "hi"}})
    state = runner.run().state
    assert state["answer"] == "hi"
    assert state["memory"] == ["hi"]


def test_value_with_next_feeds_several_output_fields() -> None:
    g = graph(node("A", outputs="a|b", success="B|C"), node("B"), node("C"))
    result = make_runner(g, {"A": lambda i: {"__next__": "C", "__value__": {"a": 1, "b": 2}}}).run()
    assert result.path == ["A", "C"]
    assert (result.state["a"], result.state["b"]) == (1, 2)


def test_value_is_unwrapped_only_when_it_is_all_that_is_left() -> None:
    g = graph(node("A", outputs="answer"))
    result = make_runner(g, {"A": lambda i: {"__state__": {}, "__value__": 1, "note": 2}}).run()
    assert result.state["answer"] == {"__value__": 1, "note": 2}


def test_value_without_a_reserved_key_is_an_ordinary_key() -> None:
    g = graph(node("A", outputs="answer"))
    assert make_runner(g, {"A": lambda i: {"__value__": 1}}).run().state["answer"] == {
        "__value__": 1
    }


def test_a_wrapped_error_key_is_data_not_a_failure() -> None:
    g = graph(node("A", outputs="answer"))
    result = make_runner(g, {"A": lambda i: {"__state__": {}, "__value__": {"error": "x"}}}).run()
    assert result.success
    assert result.state["answer"] == {"error": "x"}
