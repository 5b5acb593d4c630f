"""Custom agents beside a CSV, and ``create_application``'s arguments.

A workflow's own ``custom_agents/`` folder is visible to that workflow only:
loading it leaves the application's registry, and so every other workflow,
unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmap.errors import WorkflowError
from containers import Application, create_application

AGENT = """
from agentmap.agents.base_agent import BaseAgent

class ShoutAgent(BaseAgent):
    run_inline = True

    def process(self, inputs):
        return str(inputs["x"]).upper()
"""


def workflow(folder: Path, agent: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "flow.csv"
    csv.write_text(f"GraphName,Node,AgentType,Input_Fields,Output_Field\nG,A,{agent},x,y\n")
    return csv


@pytest.fixture
def app() -> Application:
    with create_application("test") as application:
        yield application


def test_custom_agents_beside_the_csv_run_without_changing_the_registry(
    app: Application, tmp_path: Path
) -> None:
    own = workflow(tmp_path / "own", "custom:Shout")
    (tmp_path / "own" / "custom_agents").mkdir()
    (tmp_path / "own" / "custom_agents" / "shout.py").write_text(AGENT)
    registry = app.container.agents.registry()
    before = registry.names

    assert app.run(own, {"x": "hi"}).state["y"] == "HI"
    assert "Shout" in app.agent_types_for(own)
    assert registry.names == before
    assert "Shout" not in registry

    # A workflow in another folder does not see them.
    other = workflow(tmp_path / "other", "custom:Shout")
    with pytest.raises(WorkflowError, match="Shout"):
        app.load(other)


def test_derived_registry_is_built_once_and_sees_later_registrations(
    app: Application, tmp_path: Path
) -> None:
    from agentmap.agents.builtin import BUILTIN_AGENTS

    csv = workflow(tmp_path / "w", "echo")
    (tmp_path / "w" / "custom_agents").mkdir()
    (tmp_path / "w" / "custom_agents" / "shout.py").write_text(AGENT)
    first = app.registry_for([csv])
    assert app.registry_for([csv]) is first
    app.container.agents.registry().register("Later", BUILTIN_AGENTS["echo"])
    assert "Later" in first
    assert "Later" in first.names


def test_workflow_without_custom_agents_uses_the_application_registry(
    app: Application, tmp_path: Path
) -> None:
    csv = workflow(tmp_path / "plain", "echo")
    assert app.registry_for([csv]) is app.container.agents.registry()


def test_settings_with_an_environment_or_overrides_is_a_type_error() -> None:
    with create_application("test") as app:
        settings = app.settings
    with pytest.raises(TypeError, match="environment"):
        create_application("production", settings=settings)
    with pytest.raises(TypeError, match="config_dir, execution"):
        create_application(settings=settings, config_dir=Path("."), execution={"max_steps": 3})
    with create_application(settings=settings) as same:
        assert same.settings is settings


SUMMARY_AGENT = """
from agentmap.agents.base_agent import BaseAgent

class SummaryAgent(BaseAgent):
    run_inline = True

    def process(self, inputs):
        return "mine"
"""


def test_a_custom_agent_whose_short_name_is_a_builtin_is_named_in_a_warning(
    app: Application, tmp_path: Path
) -> None:
    """``Summary`` is the built-in ``summary``; the user's ``SummaryAgent`` is reached by its
    full name, and a run that writes ``Summary`` is told so rather than silently given
    the built-in."""
    from dependency_injector import providers

    from tests.unit.containers.test_application import ListLogger

    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "summary.py").write_text(SUMMARY_AGENT)
    logger = ListLogger()
    app.container.core.logger.override(providers.Object(logger))
    try:
        builtin = app.run(workflow(tmp_path, "Summary"), {"x": "hi"})
        warnings = list(logger.warnings)
        mine = app.run(workflow(tmp_path, "SummaryAgent"), {"x": "hi"})
    finally:
        app.container.core.logger.reset_override()
    assert builtin.state["y"] != "mine"
    assert mine.state["y"] == "mine"
    hidden = [w for w in warnings if "SummaryAgent" in w]
    assert len(hidden) == 1
    assert "agent type 'summary'" in hidden[0]
    assert "flow.csv:2" in hidden[0]
    assert str(tmp_path / "custom_agents" / "summary.py") in hidden[0]
    assert "write 'SummaryAgent'" in hidden[0]
    assert not [w for w in logger.warnings[len(warnings) :] if "SummaryAgent" in w]
