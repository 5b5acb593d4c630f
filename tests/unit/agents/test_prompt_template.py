from __future__ import annotations

import pytest

from agentmap.agents.prompt_template import PromptRenderError, placeholders, render_prompt


def test_fills_placeholders() -> None:
    assert render_prompt("Hi {name}, {n} left", {"name": "Ada", "n": 3}) == "Hi Ada, 3 left"


def test_none_renders_empty() -> None:
    assert render_prompt("[{x}]", {"x": None}) == "[]"


def test_json_and_escaped_braces_are_left_alone() -> None:
    template = 'Answer as {"label": "<x>"} for {{name}} = {name}'
    assert render_prompt(template, {"name": "n"}) == 'Answer as {"label": "<x>"} for {name} = n'


def test_missing_field_names_it_and_the_inputs() -> None:
    with pytest.raises(PromptRenderError) as err:
        render_prompt("Hello {city}", {"town": "x"}, node="Greet")
    message = str(err.value)
    assert "node 'Greet'" in message
    assert "{city}" in message
    assert "inputs: town" in message


def test_placeholders_in_order() -> None:
    assert placeholders("{b} {a} {b} {{c}}") == ["b", "a"]
