"""The batch command's own pieces: its flags, its --map parsing, its error wording."""

from __future__ import annotations

import inspect

import pytest
from typer.main import get_command

from agentmap.batch.errors import BatchError
from agentmap.batch.job import arun_batch, run_batch
from agentmap.cli.batch import FLAGS, error_message, parse_mapping
from agentmap.cli.main import app
from agentmap.errors import ConfigurationError


def test_flags_name_every_option_that_is_a_run_batch_parameter() -> None:
    command = get_command(app).commands["batch"]  # type: ignore[attr-defined]
    parameters = inspect.signature(arun_batch).parameters
    options = {
        param.name: param.opts
        for param in command.params
        if param.name in parameters and param.param_type_name == "option"
    }
    assert set(FLAGS) == set(options)
    for name, flag in FLAGS.items():
        assert flag in options[name], name


def test_run_batch_takes_the_parameters_of_arun_batch() -> None:
    sync = inspect.signature(run_batch).parameters
    assert list(sync.values()) == list(inspect.signature(arun_batch).parameters.values())


def test_a_batch_error_names_the_flags() -> None:
    error = BatchError.naming(
        "{option[row_timeout]} must be positive; or use {option[force]}, {option[mapping]}"
    )
    assert error_message(error) == "--row-timeout must be positive; or use --force, --map"


def test_other_errors_keep_their_message() -> None:
    assert error_message(ConfigurationError("no {option[x]} here")) == "no {option[x]} here"


def test_map_pairs_given_as_a_list_or_repeated() -> None:
    assert parse_mapping(["text=body, id = key", "", "x=y"]) == {
        "text": "body",
        "id": "key",
        "x": "y",
    }
    assert parse_mapping(None) == {}


@pytest.mark.parametrize("value", ["text", "=body", "text=", " = "])
def test_a_map_pair_without_both_sides_is_refused(value: str) -> None:
    with pytest.raises(BatchError, match="write field=column"):
        parse_mapping([value])
