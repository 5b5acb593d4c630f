"""The ``formatter`` and ``summary`` built-ins."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.agents.builtin.formatting import FormatterAgent, SummaryAgent
from agentmap.agents.prompt_template import PromptRenderError


def test_registered_and_inline() -> None:
    assert BUILTIN_AGENTS["formatter"] is FormatterAgent
    assert BUILTIN_AGENTS["summary"] is SummaryAgent
    assert FormatterAgent.run_inline is True
    assert SummaryAgent.run_inline is True


# ---------------------------------------------------------------- formatter


def test_formatter_renders_the_prompt() -> None:
    agent = FormatterAgent("F", 'Dear {name}, {{ok}} {"raw": "json"}')
    assert agent.process({"name": "Ada"}) == 'Dear Ada, {ok} {"raw": "json"}'


def test_formatter_missing_placeholder_raises_the_render_error() -> None:
    with pytest.raises(PromptRenderError, match=r"node 'F': prompt placeholder \{city\}"):
        FormatterAgent("F", "Weather in {city}").process({"town": "Oslo"})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        (None, ""),
        (42, "42"),
        (True, "True"),
        (
            {"city": "Zürich", "n": [1, 2]},
            '{\n  "city": "Zürich",\n  "n": [\n    1,\n    2\n  ]\n}',
        ),
        (["a", "b"], '[\n  "a",\n  "b"\n]'),
        ((1,), "[\n  1\n]"),
    ],
)
def test_formatter_single_input_as_text(value: Any, text: str) -> None:
    assert FormatterAgent("F").process({"v": value}) == text


def test_formatter_json_uses_str_for_other_objects() -> None:
    out = FormatterAgent("F").process({"v": {"when": dt.date(2024, 5, 1)}})
    assert json.loads(out) == {"when": "2024-05-01"}


def test_formatter_several_inputs_as_lines() -> None:
    out = FormatterAgent("F").process({"name": "Ada", "tags": ["x", "é"], "n": None, "age": 36})
    assert out == 'name: Ada\ntags: ["x", "é"]\nn: \nage: 36'


def test_formatter_no_inputs_is_empty_text() -> None:
    assert FormatterAgent("F").process({}) == ""


def test_formatter_json_mode() -> None:
    agent = FormatterAgent("F", "", {"format": "json"})
    assert json.loads(agent.process({"a": 1, "b": "é"})) == {"a": 1, "b": "é"}
    assert agent.process({"a": 1, "b": "é"}) == '{\n  "a": 1,\n  "b": "é"\n}'
    assert agent.process({"only": [1, 2]}) == "[\n  1,\n  2\n]"
    assert agent.process({"only": "text"}) == '"text"'
    assert agent.process({}) == "null"


def test_formatter_text_mode_is_the_default() -> None:
    assert FormatterAgent("F", "", {"format": "text"}).process({"a": 1}) == "1"


@pytest.mark.parametrize(
    ("prompt", "context", "message"),
    [
        ("", {"format": "yaml"}, "Context key 'format' must be 'text' or 'json', got 'yaml'"),
        ("", {"format": 1}, "Context key 'format' must be 'text' or 'json', got 1"),
        ("Hi {x}", {"format": "json"}, "Context key 'format' is 'json', which outputs the inputs"),
    ],
)
def test_formatter_bad_context(prompt: str, context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^formatter node 'F': ") as info:
        FormatterAgent("F", prompt, context)
    assert message in str(info.value)


# ---------------------------------------------------------------- summary


def test_summary_defaults() -> None:
    out = SummaryAgent("S").process({"weather": "rain", "news": None, "traffic": "", "n": 0})
    assert out == "weather: rain\n\nn: 0"


def test_summary_keeps_empty_items_when_asked() -> None:
    out = SummaryAgent("S", "", {"skip_empty": False}).process({"a": "x", "b": None, "c": ""})
    assert out == "a: x\n\nb: \n\nc: "


def test_summary_format_and_separator() -> None:
    agent = SummaryAgent("S", "", {"format": "- {key} = {value} {{raw}}", "separator": "\n"})
    assert agent.process({"a": 1, "b": "two"}) == "- a = 1 {raw}\n- b = two {raw}"


def test_summary_values_that_are_collections_become_json() -> None:
    out = SummaryAgent("S", "", {"format": "{value}"}).process({"d": {"k": "v"}})
    assert out == '{\n  "k": "v"\n}'


def test_summary_prompt_is_a_header_over_the_inputs() -> None:
    agent = SummaryAgent("S", "Report for {city}", {"separator": "\n"})
    assert agent.process({"city": "Oslo", "temp": 3}) == "Report for Oslo\ncity: Oslo\ntemp: 3"


def test_summary_header_with_unknown_placeholder_fails() -> None:
    with pytest.raises(PromptRenderError, match=r"node 'S': prompt placeholder \{town\}"):
        SummaryAgent("S", "Report for {town}").process({"city": "Oslo"})


def test_summary_of_nothing_is_empty_text() -> None:
    assert SummaryAgent("S").process({"a": None}) == ""


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"llm": 3}, "Context key 'llm' must be true, false or a provider name, got 3"),
        ({"llm": True, "temperature": 5}, "Context key 'temperature' must be a number from 0 to 2"),
        (
            {"llm": "openai", "provider": "google"},
            "Context key 'provider' is 'google', but Context key 'llm' ('openai') already sets",
        ),
        ({"format": "{name}: {value}"}, "Context key 'format' uses {name}; only {key}"),
        ({"format": ["{key}"]}, "Context key 'format' must be text, got list"),
        ({"separator": 2}, "Context key 'separator' must be text, got int"),
        ({"skip_empty": "no"}, "Context key 'skip_empty' must be true or false, got 'no'"),
    ],
)
def test_summary_bad_context(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^summary node 'S': ") as info:
        SummaryAgent("S", "", context)
    assert message in str(info.value)


def test_summary_llm_false_is_fine() -> None:
    assert SummaryAgent("S", "", {"llm": False}).process({"a": 1}) == "a: 1"
