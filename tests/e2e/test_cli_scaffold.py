"""``agentmap scaffold``: stubs for what a workflow lacks, then ``agentmap validate`` passes.

Run as a user runs it (a subprocess, the ``test`` preset, a scratch folder).
What the generated code looks like, and that it passes ruff and mypy --strict,
is tests/unit/agents/test_scaffold.py's; here: the command's behaviour.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.code_checks import assert_clean_code

Cli = Callable[..., subprocess.CompletedProcess[str]]

FLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Context,Success_Next,Description
# inputs: city
G,Fetch,custom:WeatherFetch,city,forecast,"{""services"": [""llm"", ""storage""]}",Decide,Reads the forecast
G,Decide,echo,forecast,kind,,func:routing.pick,
G,Warm,echo,kind,result,,,
"""

WRITTEN = [
    "custom_agents/weather_fetch.py",
    "tests/test_weather_fetch.py",
    "functions/routing.py",
]


def test_scaffold_then_validate(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW)
    before = cli("validate", "flow.csv")
    assert before.returncode == 2
    assert "unknown agent type 'WeatherFetch'" in before.stderr

    done = cli("scaffold", "flow.csv")
    assert done.returncode == 0, done.stderr
    for name in WRITTEN:
        assert f"wrote    {name}" in done.stdout
    agent = (tmp_path / WRITTEN[0]).read_text()
    assert "class WeatherFetchAgent(BaseAgent, LLMCapableAgent, StorageCapableAgent):" in agent
    assert "def configure_storage_service(" in agent

    after = cli("validate", "flow.csv")
    assert after.returncode == 0, after.stderr
    assert "unknown agent type" not in after.stdout + after.stderr
    assert_clean_code(tmp_path, [tmp_path / name for name in WRITTEN])

    again = cli("scaffold", "flow.csv")
    assert again.returncode == 0
    assert "nothing to scaffold" in again.stdout


def test_the_stubs_fail_until_written(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW)
    assert cli("scaffold", "flow.csv").returncode == 0
    run = cli("run", "flow.csv", "--state", '{"city": "Oslo"}')
    assert run.returncode == 1
    assert "process() is not written yet" in run.stdout + run.stderr
    pytest = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pytest.returncode == 1, pytest.stdout + pytest.stderr
    assert "1 failed" in pytest.stdout


def test_dry_run_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW)
    done = cli("scaffold", "flow.csv", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would write custom_agents/weather_fetch.py" in done.stdout
    assert "    class WeatherFetchAgent(" in done.stdout  # the content, indented
    assert "def pick(state: Mapping[str, Any])" in done.stdout
    assert "dry run: nothing written" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.csv"]


def test_existing_files_are_kept_unless_overwrite(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW)
    mine = tmp_path / "tests" / "test_weather_fetch.py"
    mine.parent.mkdir()
    mine.write_text("# my own test\n")
    done = cli("scaffold", "flow.csv")
    assert done.returncode == 0, done.stderr
    assert "kept     tests/test_weather_fetch.py (exists; --overwrite replaces it)" in done.stdout
    assert "1 file(s) kept as they were" in done.stderr
    assert mine.read_text() == "# my own test\n"
    assert (tmp_path / WRITTEN[0]).is_file()

    (tmp_path / WRITTEN[0]).unlink()
    replaced = cli("scaffold", "flow.csv", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced tests/test_weather_fetch.py" in replaced.stdout
    assert "pytest.fail" in mine.read_text()


def test_a_router_module_of_the_user_gets_the_function_appended(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW.replace("custom:WeatherFetch", "echo"))
    module = tmp_path / "functions" / "routing.py"
    module.parent.mkdir()
    module.write_text(
        '"""My routers."""\n\n\ndef other(state: object) -> str:\n    return "Warm"\n'
    )
    done = cli("scaffold", "flow.csv")
    assert done.returncode == 0, done.stderr
    assert "appended functions/routing.py: router pick()" in done.stdout
    text = module.read_text()
    assert text.startswith('"""My routers."""')
    assert "def pick(state: object) -> str | list[str] | None:" in text
    assert cli("validate", "flow.csv").returncode == 0


def test_an_unknown_service_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "flow.csv").write_text(FLOW.replace('""storage""', '""vector""'))
    done = cli("scaffold", "flow.csv")
    assert done.returncode == 2
    assert "flow.csv:3" in done.stderr
    assert "node 'Fetch'" in done.stderr
    assert "'vector', which AgentMap does not have" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "custom_agents").exists()


def test_a_missing_workflow(cli: Cli) -> None:
    done = cli("scaffold", "nope.csv")
    assert done.returncode == 2
    assert "nope.csv" in done.stderr
    assert "Traceback" not in done.stderr
