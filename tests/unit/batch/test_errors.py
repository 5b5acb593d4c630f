"""Batch errors name options the way Python spells them, and the way a front end asks."""

from __future__ import annotations

import pickle

from agentmap.batch.errors import BatchError, OutputMismatchError
from agentmap.errors import AgentMapError


def test_an_option_is_named_by_its_parameter() -> None:
    error = BatchError.naming(
        "{option[row_timeout]} must be a positive number of seconds, got {got}", got=0
    )
    assert str(error) == "row_timeout must be a positive number of seconds, got 0"
    assert isinstance(error, AgentMapError)


def test_force_is_named_as_the_call_that_sets_it() -> None:
    assert str(BatchError.naming("use {option[force]}")) == "use force=True"


def test_spelled_names_options_as_asked_and_keeps_the_rest() -> None:
    error = BatchError.naming(
        "{option[concurrency]} and {option[workers]} must be at least 1, got {got}", got=-2
    )
    assert error.spelled({"concurrency": "--concurrency"}) == (
        "--concurrency and workers must be at least 1, got -2"
    )
    assert str(error) == "concurrency and workers must be at least 1, got -2"


def test_braces_in_values_are_text_not_fields() -> None:
    error = BatchError.naming("{option[output]} {path} is the inputs file", path="odd{name}.jsonl")
    assert str(error) == "output odd{name}.jsonl is the inputs file"
    assert error.spelled({"output": "-o"}) == "-o odd{name}.jsonl is the inputs file"


def test_a_plain_message_is_spelled_as_it_is() -> None:
    error = BatchError("input file not found: {weird}.jsonl")
    assert error.spelled({"output": "--output"}) == "input file not found: {weird}.jsonl"


def test_the_subclass_builds_its_own_kind() -> None:
    error = OutputMismatchError.naming("use {option[force]}")
    assert type(error) is OutputMismatchError


def test_an_error_crosses_a_process_boundary_with_its_message() -> None:
    error = BatchError.naming("lower {option[workers]}")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "lower workers"
