"""The ``validator`` built-in: every rule, the field lookup, and every Context error."""

from __future__ import annotations

from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.validator import ValidatorAgent


def validate(inputs: dict[str, Any], **context: Any) -> Any:
    return ValidatorAgent("Check", "", context).process(inputs)


def problems(inputs: dict[str, Any], **context: Any) -> list[str]:
    result = validate(inputs, **context)
    assert isinstance(result, dict), f"expected a failure, got {result!r}"
    assert result["error"] == (
        "validator node 'Check': validation failed: " + "; ".join(result["problems"])
    )
    return list(result["problems"])


def test_registered_and_inline() -> None:
    assert BUILTIN_AGENTS["validator"] is ValidatorAgent
    assert ValidatorAgent.run_inline is True


# ---------------------------------------------------------------- success passes inputs through


def test_success_returns_the_single_value() -> None:
    assert validate({"email": "a@b.c"}) == "a@b.c"


def test_success_returns_all_inputs_when_several() -> None:
    assert validate({"a": 1, "b": "x"}) == {"a": 1, "b": "x"}


def test_no_inputs_and_no_rules_passes() -> None:
    assert validate({}) is None


# ---------------------------------------------------------------- required


@pytest.mark.parametrize("missing", [None, "", "   ", [], {}, ()])
def test_every_input_is_required_by_default(missing: Any) -> None:
    assert problems({"name": missing, "age": 3}) == ["name is required"]


@pytest.mark.parametrize("present", [0, False, "x", [0], {"k": None}])
def test_falsy_but_present_values_are_not_missing(present: Any) -> None:
    assert validate({"v": present}) == present


def test_explicit_required_replaces_the_default() -> None:
    assert validate({"name": "Ada", "nick": None}, required=["name"]) == {
        "name": "Ada",
        "nick": None,
    }
    assert problems({"name": None, "nick": None}, required=["name"]) == ["name is required"]


def test_required_accepts_a_single_name_and_an_empty_list() -> None:
    assert problems({"a": None, "b": None}, required="b") == ["b is required"]
    assert validate({"a": None}, required=[]) is None


def test_required_names_inside_the_single_mapping_input() -> None:
    user = {"email": "", "age": 30}
    assert problems({"user": user}, required=["email", "age"]) == ["email is required"]
    assert problems({"user": user}, required=["user.email"]) == ["user.email is required"]


def test_all_missing_fields_are_listed() -> None:
    assert problems({"a": None, "b": "", "c": 1}) == ["a is required", "b is required"]


# ---------------------------------------------------------------- type


@pytest.mark.parametrize(
    ("type_name", "good", "bad", "wanted"),
    [
        ("str", "x", 1, "must be text (str), got int 1"),
        ("int", 3, 3.5, "must be a whole number (int), got float 3.5"),
        ("int", -1, True, "must be a whole number (int), got bool True"),
        ("int", 0, "18", "must be a whole number (int), got str '18'"),
        ("float", 2.5, "2.5", "must be a number (float or int), got str '2.5'"),
        ("float", 2, False, "must be a number (float or int), got bool False"),
        ("number", 7, True, "must be a number, got bool True"),
        ("number", 7.5, [1], "must be a number, got list [1]"),
        ("bool", False, 0, "must be true or false (bool), got int 0"),
        ("list", [1], "a,b", "must be a list, got str 'a,b'"),
        ("list", (1,), {"a": 1}, "must be a list, got dict {'a': 1}"),
        ("dict", {"a": 1}, [("a", 1)], "must be a mapping (dict), got list [('a', 1)]"),
    ],
)
def test_type_rule(type_name: str, good: Any, bad: Any, wanted: str) -> None:
    fields = {"v": {"type": type_name}}
    assert validate({"v": good}, fields=fields) == good
    assert problems({"v": bad}, fields=fields) == [f"v {wanted}"]


def test_wrong_type_skips_the_other_rules_of_that_field() -> None:
    fields = {"age": {"type": "int", "min": 18, "one_of": [20, 30]}}
    assert problems({"age": "12"}, fields=fields) == [
        "age must be a whole number (int), got str '12'"
    ]


# ---------------------------------------------------------------- min / max


def test_min_and_max() -> None:
    fields = {"age": {"min": 18, "max": 120}}
    assert validate({"age": 18}, fields=fields) == 18
    assert validate({"age": 120.0}, fields=fields) == 120.0
    assert problems({"age": 17}, fields=fields) == ["age must be at least 18, got 17"]
    assert problems({"age": 121}, fields=fields) == ["age must be at most 120, got 121"]


def test_min_max_on_float_bounds() -> None:
    assert problems({"t": 0.1}, fields={"t": {"min": 0.5}}) == ["t must be at least 0.5, got 0.1"]


def test_min_on_a_non_number_is_a_problem_not_a_crash() -> None:
    assert problems({"age": "20"}, fields={"age": {"min": 18}}) == [
        "age must be a number to compare with min/max, got '20'"
    ]
    assert problems({"age": True}, fields={"age": {"max": 18}}) == [
        "age must be a number to compare with min/max, got True"
    ]


# ---------------------------------------------------------------- lengths


def test_min_and_max_length_on_text_and_lists() -> None:
    fields = {"name": {"min_length": 2, "max_length": 4}}
    assert validate({"name": "Ada"}, fields=fields) == "Ada"
    assert problems({"name": "A"}, fields=fields) == ["name must have at least 2 characters, got 1"]
    assert problems({"name": "Adalind"}, fields=fields) == [
        "name must have at most 4 characters, got 7"
    ]
    assert problems({"name": [1, 2, 3, 4, 5]}, fields=fields) == [
        "name must have at most 4 items, got 5"
    ]


def test_length_on_a_value_without_length() -> None:
    assert problems({"n": 12345}, fields={"n": {"max_length": 3}}) == [
        "n has no length to check, got int 12345"
    ]


# ---------------------------------------------------------------- pattern


def test_pattern_must_match_the_whole_value() -> None:
    fields = {"zip": {"pattern": r"\d{5}"}}
    assert validate({"zip": "12345"}, fields=fields) == "12345"
    assert problems({"zip": "123456"}, fields=fields) == [
        r"zip does not match pattern '\\d{5}': '123456'"
    ]
    assert problems({"zip": "x12345"}, fields=fields) == [
        r"zip does not match pattern '\\d{5}': 'x12345'"
    ]


def test_pattern_on_a_non_string() -> None:
    assert problems({"zip": 12345}, fields={"zip": {"pattern": r"\d+"}}) == [
        r"zip must be text to match pattern '\\d+', got int 12345"
    ]


def test_long_values_are_shortened_in_messages() -> None:
    (problem,) = problems({"s": "x" * 200}, fields={"s": {"pattern": "y+"}})
    assert problem.endswith("'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...")
    assert len(problem) < 100


# ---------------------------------------------------------------- one_of


def test_one_of() -> None:
    fields = {"size": {"one_of": ["S", "M", "L"]}}
    assert validate({"size": "M"}, fields=fields) == "M"
    assert problems({"size": "XL"}, fields=fields) == [
        "size must be one of 'S', 'M', 'L', got 'XL'"
    ]


# ---------------------------------------------------------------- field lookup


def test_rules_look_inside_the_only_mapping_input() -> None:
    user = {"age": 12, "email": "nope"}
    fields = {"age": {"type": "int", "min": 18}, "email": {"pattern": r"[^@]+@[^@]+"}}
    assert problems({"user_input": user}, fields=fields) == [
        "age must be at least 18, got 12",
        "email does not match pattern '[^@]+@[^@]+': 'nope'",
    ]
    good = {"age": 30, "email": "a@b.c"}
    assert validate({"user_input": good}, fields=fields) == good


def test_dotted_names_follow_nested_mappings() -> None:
    inputs = {"req": {"user": {"age": 3}}, "other": {"x": 1}}
    fields = {"req.user.age": {"min": 18}}
    assert problems(inputs, fields=fields) == ["req.user.age must be at least 18, got 3"]


def test_dotted_name_through_a_non_mapping() -> None:
    assert problems({"req": "text"}, fields={"req.age": {"min": 1}}) == [
        "req.age cannot be checked: req is str, not a mapping"
    ]


def test_optional_field_absent_from_the_mapping_passes_rules() -> None:
    assert validate({"user": {"name": "Ada"}}, fields={"age": {"min": 18}}) == {"name": "Ada"}


def test_an_input_name_wins_over_a_key_in_a_mapping() -> None:
    inputs = {"age": 30, "user": {"age": 3}}
    assert validate(inputs, fields={"age": {"min": 18}}) == inputs


def test_a_rule_naming_nothing_is_reported_with_a_suggestion() -> None:
    assert problems({"age": 30, "email": "a@b"}, fields={"agee": {"min": 18}}) == [
        "agee is not among the inputs (age, email) (did you mean 'age'?) "
        "and no input is a mapping to look it up in"
    ]


def test_a_rule_with_several_mapping_inputs_asks_for_a_path() -> None:
    assert problems({"a": {"x": 1}, "b": {"x": 2}}, fields={"x": {"min": 5}}) == [
        "x is not an input and several inputs are mappings (a, b); name it with a path such as a.x"
    ]


def test_rules_inside_a_missing_mapping_input_defer_to_required() -> None:
    assert problems({"user": None}, fields={"age": {"min": 18}}) == ["user is required"]


def test_every_problem_of_every_field_is_listed() -> None:
    fields = {
        "name": {"type": "str", "min_length": 2},
        "age": {"type": "int", "min": 18},
        "code": {"pattern": "[A-Z]{3}", "max_length": 3},
    }
    result = validate({"name": "A", "age": 10, "code": "abcd", "extra": None}, fields=fields)
    assert result["problems"] == [
        "extra is required",
        "name must have at least 2 characters, got 1",
        "age must be at least 18, got 10",
        "code must have at most 3 characters, got 4",
        "code does not match pattern '[A-Z]{3}': 'abcd'",
    ]
    assert result["error"].startswith(
        "validator node 'Check': validation failed: extra is required; "
    )


# ---------------------------------------------------------------- Context errors


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"required": ["x", "y", 3]}, "Context key 'required' must be a list of field names"),
        ({"required": {"a": 1}}, "Context key 'required' must be a list of field names"),
        ({"fields": ["age"]}, "Context key 'fields' must map field names to rules"),
        ({"fields": {"age": "int"}}, "Context key 'fields' -> 'age': the rules must be a mapping"),
        (
            {"fields": {"age": {"minimum": 18}}},
            "Context key 'fields' -> 'age': unknown rule 'minimum' (did you mean 'min'?); "
            "rules are: type, min, max, min_length, max_length, pattern, one_of",
        ),
        ({"fields": {"age": {"colour": 1}}}, "unknown rule 'colour'; rules are:"),
        (
            {"fields": {"age": {"type": "integer"}}},
            "-> 'age': unknown type 'integer' (did you mean 'int'?); "
            "types are: str, int, float, number, bool, list, dict",
        ),
        ({"fields": {"age": {"min": "18"}}}, "-> 'age': 'min' must be a number, got '18'"),
        ({"fields": {"age": {"max": True}}}, "-> 'age': 'max' must be a number, got True"),
        (
            {"fields": {"age": {"min": 5, "max": 1}}},
            "-> 'age': 'min' (5) is greater than 'max' (1)",
        ),
        (
            {"fields": {"n": {"min_length": -1}}},
            "-> 'n': 'min_length' must be a whole number >= 0, got -1",
        ),
        (
            {"fields": {"n": {"max_length": 2.5}}},
            "-> 'n': 'max_length' must be a whole number >= 0, got 2.5",
        ),
        (
            {"fields": {"n": {"min_length": 3, "max_length": 2}}},
            "-> 'n': 'min_length' (3) is greater than 'max_length' (2)",
        ),
        (
            {"fields": {"zip": {"pattern": "[0-9"}}},
            "-> 'zip': 'pattern' '[0-9' is not a valid regular expression: unterminated",
        ),
        ({"fields": {"zip": {"pattern": 5}}}, "-> 'zip': 'pattern' must be a regular expression"),
        ({"fields": {"s": {"one_of": "SML"}}}, "-> 's': 'one_of' must be a non-empty list"),
        ({"fields": {"s": {"one_of": []}}}, "-> 's': 'one_of' must be a non-empty list"),
    ],
)
def test_bad_context_raises_in_init(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^validator node 'Check': ") as info:
        ValidatorAgent("Check", "", context)
    assert message in str(info.value)


def test_runner_context_keys_are_left_alone() -> None:
    agent = ValidatorAgent("Check", "", {"timeout": 5, "retries": 2, "cache": True})
    assert agent.process({"a": 1}) == 1
