"""The scaffold generator: which stubs it plans, and that they are code a user can keep.

The generated files are written to a temporary project and checked there the
way a user's project would check them: ruff, ruff format and mypy --strict
(``tests/code_checks.py``), the registry and the router loader find them, and
the generated unit tests fail until someone writes the agent.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from agentmap.agents.registry import AgentRegistry
from agentmap.agents.scaffold import ScaffoldFile, class_name_for, module_name_for, plan_scaffold
from agentmap.errors import WorkflowError
from agentmap.runtime.routers import load_routers
from agentmap.workflow import load_workflow
from tests.code_checks import assert_clean_code

HEADER = "GraphName,Node,AgentType,Input_Fields,Output_Field,Context,Success_Next,Description\n"
FLOW = HEADER + (
    'G,Fetch,custom:WeatherFetch,city|day,forecast,"{""services"": [""llm"", ""csv""]}",'
    "Classify,Fetches the forecast\n"
    "G,Classify,classify,forecast,kind|score,,func:routing.pick_next,\n"
    'G,Again,WeatherFetchAgent,city,forecast,"{""services"": ""cache|storage""}",End,\n'
    "G,Store,weather_fetch,kind,stored,,End,\n"
    "G,End,echo,kind,result,,,\n"
)


def plan(tmp_path: Path, text: str = FLOW, functions: tuple[Path, ...] = ()) -> list[ScaffoldFile]:
    csv = tmp_path / "flow.csv"
    csv.write_text(text)
    spec = load_workflow(csv)
    registry = AgentRegistry.with_builtins().derive([tmp_path / "custom_agents"])
    return plan_scaffold(list(spec.graphs.values()), csv, registry.__contains__, functions)


def write(planned: list[ScaffoldFile]) -> list[Path]:
    for item in planned:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        with item.path.open("a" if item.append else "w") as file:
            file.write(item.content)
    return [item.path for item in planned]


@pytest.mark.parametrize(
    ("agent_type", "class_name", "module"),
    [
        ("WordCount", "WordCountAgent", "word_count"),
        ("summarizer", "SummarizerAgent", "summarizer"),
        ("WeatherFetchAgent", "WeatherFetchAgent", "weather_fetch"),
        ("HTTPFetch", "HTTPFetchAgent", "http_fetch"),
        ("weather_fetch", "Weather_fetchAgent", "weather_fetch"),
        ("_private", "_privateAgent", "private"),
    ],
)
def test_names(agent_type: str, class_name: str, module: str) -> None:
    assert class_name_for(agent_type) == class_name
    assert module_name_for(class_name) == module
    # The registry finds the class under the CSV's spelling (case-insensitive).
    assert class_name.lower() in (agent_type.lower(), agent_type.lower() + "agent")


def test_the_plan(tmp_path: Path) -> None:
    planned = plan(tmp_path)
    paths = [str(item.path.relative_to(tmp_path)) for item in planned]
    assert paths == [
        "custom_agents/weather_fetch.py",
        "tests/test_weather_fetch.py",
        "custom_agents/classify.py",
        "tests/test_classify.py",
        "custom_agents/weather_fetch_.py",
        "tests/test_weather_fetch_.py",
        "functions/routing.py",
    ]
    fetch = planned[0].content
    # WeatherFetch and WeatherFetchAgent are one class; its services add up (csv is storage).
    assert "class WeatherFetchAgent(\n    BaseAgent,\n    LLMCapableAgent," in fetch
    assert "StorageCapableAgent,\n    CacheCapableAgent,\n):" in fetch
    assert "def configure_cache_service(self, cache_service: CacheProtocol) -> None:" in fetch
    assert "Used by Fetch (flow.csv:2), Again (flow.csv:4)." in fetch
    assert "Inputs: city, day. Return the value of forecast." in fetch
    assert '"""Fetches the forecast"""' in fetch
    classify = planned[2].content
    assert "class ClassifyAgent(BaseAgent):" in classify
    assert "protocols" not in classify
    assert "Return a dict with the keys kind, score." in classify
    assert "configure_cache_service(Mock())" in planned[1].content
    assert '"day": "example day",' in planned[1].content
    assert (
        "def pick_next(state: Mapping[str, Any]) -> str | list[str] | None:" in planned[-1].content
    )


def test_generated_code_passes_ruff_and_mypy_strict(tmp_path: Path) -> None:
    assert_clean_code(tmp_path, write(plan(tmp_path)))


def test_generated_code_is_found_and_its_tests_fail(tmp_path: Path) -> None:
    write(plan(tmp_path))
    spec = load_workflow(tmp_path / "flow.csv")
    registry = AgentRegistry.with_builtins().derive([tmp_path / "custom_agents"])
    for node in spec.graphs["G"].nodes.values():
        assert node.agent_type in registry
    assert plan(tmp_path) == []  # nothing left to write
    classify = spec.graphs["G"].nodes["Classify"]
    router = load_routers(classify, [tmp_path / "functions"])["func:routing.pick_next"]
    with pytest.raises(NotImplementedError, match="not written yet"):
        router.func({})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3 failed" in done.stdout
    assert "NotImplementedError: process() is not written yet" in done.stdout


def test_a_written_agent_still_fails_its_stub_test(tmp_path: Path) -> None:
    """The stub test asks for an expectation: implementing the agent alone does not pass it."""
    write(plan(tmp_path, HEADER + "G,A,Shout,text,loud,,,\n"))
    agent = tmp_path / "custom_agents" / "shout.py"
    agent.write_text(
        agent.read_text().replace(
            'raise NotImplementedError("process() is not written yet")',
            'return str(inputs["text"]).upper()',
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "assert on the expected result instead: got 'EXAMPLE TEXT'" in done.stdout


def test_routers_go_where_the_loader_looks(tmp_path: Path) -> None:
    configured = tmp_path / "shared"
    configured.mkdir()
    (configured / "routing.py").write_text(
        "def pick_next(state: object) -> str:\n    return 'End'\n"
    )
    (configured / "more.py").write_text('"""Mine."""\n\nLIMIT = 3\n')
    text = HEADER + (
        "G,A,echo,x,y,,func:routing.pick_next|func:more.choose|func:pkg.deep.go,\n"
        "G,End,echo,y,z,,,\n"
    )
    planned = plan(tmp_path, text, functions=(configured,))
    assert [(i.path.relative_to(tmp_path), i.append) for i in planned] == [
        (Path("shared/more.py"), True),
        (Path("functions/pkg/deep.py"), False),
    ]
    assert "def choose(state: object) -> str | list[str] | None:" in planned[0].content
    write(planned)
    assert "LIMIT = 3" in (configured / "more.py").read_text()
    spec = load_workflow(tmp_path / "flow.csv")
    routers = load_routers(spec.graphs["G"].nodes["A"], [configured, tmp_path / "functions"])
    assert set(routers) == {"func:routing.pick_next", "func:more.choose", "func:pkg.deep.go"}
    assert_clean_code(tmp_path, [configured / "more.py", tmp_path / "functions/pkg/deep.py"])


def test_an_unknown_service_names_the_node(tmp_path: Path) -> None:
    text = HEADER + 'G,A,Vec,x,y,"{""services"": [""llm"", ""vector""]}",,\n'
    with pytest.raises(WorkflowError) as caught:
        plan(tmp_path, text)
    message = str(caught.value)
    assert "flow.csv:2" in message
    assert "node 'A'" in message
    assert "'vector', which AgentMap does not have" in message


def test_services_must_be_names(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="Context 'services' must be a list of names, got 3"):
        plan(tmp_path, HEADER + 'G,A,Vec,x,y,"{""services"": 3}",,\n')


def test_a_type_that_cannot_be_a_class_name(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="agent type 'my-type' cannot be a Python class name"):
        plan(tmp_path, HEADER + "G,A,my-type,x,y,,,\n")


def test_hostile_text_stays_inside_docstrings_and_literals(tmp_path: Path) -> None:
    out = io.StringIO()
    row = ["G", 'Say "hi" \\ {x}', "Odd", "text", "y", "", "", 'Ends with """ and \\ and "']
    csv.writer(out).writerows([HEADER.strip().split(","), row])
    files = write(plan(tmp_path, out.getvalue()))
    assert_clean_code(tmp_path, files)
    assert """registry.get("Odd")('Say "hi" \\\\ {x}', "", {})""" in files[1].read_text()
