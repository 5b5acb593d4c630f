from __future__ import annotations

from pathlib import Path

import pytest

from agentmap.agents.builtin.core import EchoAgent
from agentmap.agents.registry import AgentRegistry
from agentmap.errors import AgentError


def test_builtins_case_insensitive_and_custom_prefix() -> None:
    registry = AgentRegistry.with_builtins()
    assert registry.get("Echo") is EchoAgent
    assert registry.get("custom:echo") is EchoAgent
    assert registry.get("") is registry.get("default")
    assert {"default", "echo", "success", "failure", "branching", "input"} <= set(registry.names)


def test_unknown_type() -> None:
    with pytest.raises(AgentError, match="unknown agent type 'nope'"):
        AgentRegistry.with_builtins().get("nope")


def write(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(body)


AGENT = """
from agentmap.agents.base_agent import BaseAgent

class WeatherAgent(BaseAgent):
    def process(self, inputs):
        return "sunny"

class Helper:  # not an agent: not registered
    pass
"""


def test_custom_folder_registers_class_name_and_short_name(tmp_path: Path) -> None:
    write(tmp_path / "agents", "weather.py", AGENT)
    write(tmp_path / "agents", "_private.py", "raise RuntimeError('never imported')")
    registry = AgentRegistry.with_builtins([tmp_path / "agents"])
    cls = registry.get("custom:WeatherAgent")
    assert cls is registry.get("weather")
    assert cls("W").process({}) == "sunny"
    assert "WeatherAgent" in registry.names
    assert "Helper" not in registry


def test_missing_folder_is_ignored(tmp_path: Path) -> None:
    assert AgentRegistry.with_builtins([tmp_path / "absent"]).names


def test_import_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "a", "broken.py", "x = 1\nraise ImportError('no module foo')\n")
    with pytest.raises(AgentError) as err:
        AgentRegistry.with_builtins([tmp_path / "a"])
    assert f"{tmp_path / 'a' / 'broken.py'}:2" in str(err.value)
    assert "no module foo" in str(err.value)


def test_syntax_error_names_line(tmp_path: Path) -> None:
    write(tmp_path / "a", "bad.py", "def ok():\n    pass\ndef broken(:\n")
    with pytest.raises(AgentError, match=r"bad\.py:3"):
        AgentRegistry.with_builtins([tmp_path / "a"])


def test_two_classes_for_one_name_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a", "one.py", AGENT)
    write(tmp_path / "b", "two.py", AGENT)
    with pytest.raises(AgentError, match="defined twice"):
        AgentRegistry.with_builtins([tmp_path / "a", tmp_path / "b"])


def test_short_name_never_shadows_an_existing_type(tmp_path: Path) -> None:
    write(tmp_path / "a", "echo.py", AGENT.replace("WeatherAgent", "EchoAgent"))
    registry = AgentRegistry.with_builtins([tmp_path / "a"])
    assert registry.get("echo") is EchoAgent
    assert registry.get("custom:EchoAgent") is not EchoAgent


def test_a_folder_is_loaded_once_however_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "agents", "weather.py", AGENT)
    monkeypatch.chdir(tmp_path)
    registry = AgentRegistry.with_builtins([Path("agents")])
    first = registry.get("WeatherAgent")
    registry.load_folder(tmp_path / "agents")
    registry.load_folder(tmp_path / "agents" / ".." / "agents")
    assert registry.get("WeatherAgent") is first


def test_import_error_line_with_a_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "a", "broken.py", "x = 1\n\nraise RuntimeError('bad config')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AgentError, match=r"broken\.py:3: .*bad config"):
        AgentRegistry.with_builtins([Path("a")])
