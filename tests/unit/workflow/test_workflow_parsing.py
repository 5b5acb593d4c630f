"""Cell parsers: target lists, field mappings, Context forms and agent types."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import pytest

from agentmap.workflow.parsing import (
    AgentTypes,
    CellError,
    parse_context,
    parse_inputs,
    parse_outputs,
    parse_targets,
    split_list,
)
from agentmap.workflow.spec import FieldMapping as F


@pytest.mark.parametrize(
    ("cell", "items"),
    [
        ("", []),
        ("a", ["a"]),
        ("a|b", ["a", "b"]),
        (" a | b |c ", ["a", "b", "c"]),
        ("a||b|", ["a", "b"]),
        ("|", []),
        ("My Node|Other Node", ["My Node", "Other Node"]),
    ],
)
def test_split_list_strips_items_and_drops_empty_ones(cell: str, items: list[str]) -> None:
    assert split_list(cell) == items


def test_targets_keep_func_routers_literally() -> None:
    assert parse_targets("A | B") == ("A", "B")
    assert parse_targets("func:routes.choose") == ("func:routes.choose",)
    assert parse_targets("func:routes.choose|End") == ("func:routes.choose", "End")
    assert parse_targets("") == ()


@pytest.mark.parametrize("cell", ["func:", "func:1abc", "func:a..b", "A|func:bad-name"])
def test_a_func_target_must_be_a_dotted_name(cell: str) -> None:
    with pytest.raises(
        CellError, match=r"is not a function reference; write func:module\.function"
    ):
        parse_targets(cell)


def test_input_fields_forms() -> None:
    assert parse_inputs("") == ()
    assert parse_inputs("a") == (F("a", "a"),)
    assert parse_inputs("a | b") == (F("a", "a"), F("b", "b"))
    # state_key:param reads state["user_query"] and passes it as "query".
    assert parse_inputs("user_query:query") == (F("user_query", "query"),)
    # child=parent maps the parent's field into the child graph's field.
    assert parse_inputs("question = user_text") == (F("user_text", "question"),)
    assert parse_inputs("a|b:c|d=e") == (F("a", "a"), F("b", "c"), F("e", "d"))


def test_output_field_forms() -> None:
    assert parse_outputs("") == ()
    assert parse_outputs("answer") == (F("answer", "answer"),)
    assert parse_outputs("answer|score") == (F("answer", "answer"), F("score", "score"))
    # parent=child writes the child's "result" into the parent's "summary".
    assert parse_outputs("summary=result") == (F("summary", "result"),)
    # state_key:name, the same spelling str(FieldMapping) produces.
    assert parse_outputs("summary:result") == (F("summary", "result"),)
    assert parse_outputs(str(F("summary", "result"))) == (F("summary", "result"),)


@pytest.mark.parametrize(
    ("parse", "cell", "reason"),
    [
        (parse_inputs, "a:", "'a:' must be two names joined by one ':'"),
        (parse_inputs, "=b", "'=b' must be two names joined by one '='"),
        (parse_inputs, "a:b:c", "'a:b:c' must be two names joined by one ':'"),
        (parse_inputs, "a:b=c", "'a:b=c' mixes ':' and '='; use state_key:param or child=parent"),
        (parse_inputs, "a|b:a", "input parameter 'a' is listed twice"),
        (parse_outputs, "x=", "'x=' must be two names joined by one '='"),
        (parse_outputs, "a=b:c", "'a=b:c' mixes ':' and '='; use parent=child or state_key:name"),
        (parse_outputs, "a|a=b", "output field 'a' is listed twice"),
    ],
)
def test_bad_field_mappings_explain_themselves(
    parse: Callable[[str], object], cell: str, reason: str
) -> None:
    with pytest.raises(CellError) as caught:
        parse(cell)
    assert caught.value.reason == reason


def test_context_forms() -> None:
    assert parse_context("") == {}
    assert parse_context('{"timeout": 5, "tags": ["a"]}') == {"timeout": 5, "tags": ["a"]}
    assert parse_context("{'timeout': 5, 'cache': True, 'x': None}") == {
        "timeout": 5,
        "cache": True,
        "x": None,
    }
    assert parse_context("Be concise.") == {"text": "Be concise."}
    # Only a leading "{" makes a cell structured; braces later on are prose.
    assert parse_context("Use {field} wisely") == {"text": "Use {field} wisely"}
    assert parse_context("[1, 2]") == {"text": "[1, 2]"}


def test_context_is_read_only() -> None:
    context = parse_context('{"a": 1}')
    assert isinstance(context, MappingProxyType)
    with pytest.raises(TypeError):
        context["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (
            '{"timeout": 5',
            "Context starts with '{' but is neither a JSON object (Expecting ',' delimiter at "
            "line 1, column 14) nor a Python dict literal ('{' was never closed at line 1, "
            "column 1)",
        ),
        (
            "{'a': foo}",
            "Context starts with '{' but is neither a JSON object (Expecting property name "
            "enclosed in double quotes at line 1, column 2) nor a Python dict literal (only "
            "literals are allowed: no names, calls or expressions)",
        ),
        ('{"a", "b"}', "Context must be an object/dict, got set"),
        ("{1: 'a'}", "Context keys must be strings, got 1"),
    ],
)
def test_a_cell_starting_with_a_brace_must_be_a_dict(cell: str, reason: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_context(cell)
    assert caught.value.reason == reason


def test_context_never_evaluates_code() -> None:
    with pytest.raises(CellError, match="only literals are allowed"):
        parse_context("{'a': __import__('os').system('echo pwned')}")


def test_agent_types_resolve_case_insensitively_to_the_canonical_spelling() -> None:
    types = AgentTypes({"default", "echo", "WeatherAgent"})
    assert types.resolve("") == "default"
    assert types.resolve("echo") == "echo"
    assert types.resolve("ECHO") == "echo"
    assert types.resolve("weatheragent") == "WeatherAgent"
    assert types.resolve("custom:WeatherAgent") == "WeatherAgent"
    assert types.resolve("Custom: weatherAgent") == "WeatherAgent"


def test_unknown_agent_type_suggests_the_closest_known_one() -> None:
    types = AgentTypes({"default", "echo", "WeatherAgent"})
    with pytest.raises(CellError) as caught:
        types.resolve("custom:WeatherAgnt")
    assert caught.value.reason == "unknown agent type 'WeatherAgnt'"
    assert caught.value.suggestion == "WeatherAgent"
    with pytest.raises(CellError) as caught:
        types.resolve("zzz")
    assert (
        caught.value.reason == "unknown agent type 'zzz'; known types: default, echo, WeatherAgent"
    )
    assert caught.value.suggestion is None
    with pytest.raises(CellError, match="'custom:' must be followed by an agent type name"):
        types.resolve("custom:")


def test_without_known_types_the_text_is_kept_as_written() -> None:
    types = AgentTypes(None)
    assert types.resolve("") == "default"
    assert types.resolve("custom:MyAgent") == "MyAgent"
    assert types.resolve("anything") == "anything"


def test_absurdly_nested_context_is_an_error_not_a_crash() -> None:
    with pytest.raises(CellError, match="Context is nested too deeply to parse"):
        parse_context('{"a":' * 100_000)
    with pytest.raises(CellError, match="too many nested parentheses"):
        parse_context("{" * 100_000)
