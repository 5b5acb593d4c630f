"""Prompt references through the composition root: resolved by ``Application.load``, injected by capability."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmap.agents.base_agent import BaseAgent
from agentmap.errors import WorkflowError
from agentmap.services.prompts import PromptService
from agentmap.services.protocols import PromptCapableAgent, PromptServiceProtocol
from containers import Application, create_application
from tests.unit.runtime.helpers import graph, node

HEADER = "GraphName,Node,AgentType,Edge,Input_Fields,Output_Field,Prompt\n"


class TemplateAgent(BaseAgent, PromptCapableAgent):
    """Resolves a reference held in its Context when it runs."""

    run_inline = True

    def process(self, inputs: dict[str, Any]) -> Any:
        return self.prompt_service.resolve_prompt(self.context["use"])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Application]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    application = create_application("test")
    application.container.agents.registry().register("TemplateAgent", TemplateAgent)
    yield application
    application.close()


def test_load_resolves_references_from_the_prompts_folder_beside_the_csv(
    app: Application, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    (flows / "prompts").mkdir(parents=True)
    (flows / "prompts" / "registry.yaml").write_text(
        'x: "Hello, {name}!"\nnested:\n  y:\n    template: "Bye, {name}."\n', encoding="utf-8"
    )
    (flows / "note.txt").write_text("Note for {name}\n", encoding="utf-8")
    csv = flows / "flow.csv"
    csv.write_text(
        HEADER
        + "G,A,echo,B,name,a,prompt:x\n"
        + "G,B,echo,C,name,b,prompt:nested.y\n"
        + "G,C,echo,,name,c,file:note.txt\n",
        encoding="utf-8",
    )
    _, graph = app.load(csv)
    assert graph.nodes["A"].prompt == "Hello, {name}!"
    assert graph.nodes["B"].prompt == "Bye, {name}."
    assert graph.nodes["C"].prompt == "Note for {name}"
    result = app.run(csv, {"name": "Ann"})
    assert result.state["a"] == "Hello, Ann!"
    assert result.state["c"] == "Note for Ann"


def test_load_reports_a_missing_reference_at_its_node(app: Application, tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.yaml").write_text("greeting: Hi\n", encoding="utf-8")
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + "G,A,echo,,,,prompt:greting\n", encoding="utf-8")
    with pytest.raises(WorkflowError) as info:
        app.load(csv)
    diagnostic = info.value.first
    assert (diagnostic.file, diagnostic.line, diagnostic.node, diagnostic.column) == (
        csv,
        2,
        "A",
        "Prompt",
    )
    assert diagnostic.suggestion == "prompt:greeting"


def test_configured_prompts_folder_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    library = tmp_path / "library"
    library.mkdir()
    (library / "all.yml").write_text("shared: From the library\n", encoding="utf-8")
    csv = tmp_path / "elsewhere" / "flow.csv"
    csv.parent.mkdir()
    csv.write_text(HEADER + "G,A,echo,,,out,prompt:shared\n", encoding="utf-8")
    with create_application("test", paths={"prompts": str(library)}) as application:
        _, graph = application.load(csv)
    assert graph.nodes["A"].prompt == "From the library"


def test_prompt_capable_agent_receives_the_prompt_service(app: Application) -> None:
    Path("prompts").mkdir()
    Path("prompts/p.yaml").write_text("greeting: Hello from the registry\n", encoding="utf-8")
    service = app.container.services.prompts()
    assert isinstance(service, PromptService)
    assert service is app.container.services.prompts()  # one per application
    result = app.runner(
        graph(node("T", "TemplateAgent", outputs="r", context={"use": "prompt:greeting"}))
    ).run()
    assert result.state["r"] == "Hello from the registry"


def test_only_agents_declaring_the_capability_get_it(app: Application) -> None:
    factory = app.container.agents.factory()
    template = factory(node("T", "TemplateAgent"))
    echo = factory(node("E", "echo"))
    assert template._prompt_service is app.container.services.prompts()
    assert echo._prompt_service is None


def test_use_overrides_the_prompt_service(app: Application, tmp_path: Path) -> None:
    class Fixed:
        def resolve_prompt(self, reference: str) -> str:
            return f"<{reference}>"

    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + "G,A,echo,,,out,prompt:anything\n", encoding="utf-8")
    fixed: PromptServiceProtocol = Fixed()
    with app.use(prompts=fixed):
        _, graph = app.load(csv)
    assert graph.nodes["A"].prompt == "<prompt:anything>"
