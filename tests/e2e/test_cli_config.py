"""``agentmap config`` and ``--help``: effective settings, redaction, per-node overrides, start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import REPO

SECRET = "sk-live-0123456789abcdef"


def test_config_shows_preset_and_redacts_secrets(cli: Any) -> None:
    out = cli("config", "--env", "production", env={"AGENTMAP_LLM__API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert "**********" in out.stdout
    assert "environment: production" in out.stdout
    assert "backend: redis" in out.stdout


def test_config_json_and_env_var_override(cli: Any) -> None:
    out = cli("config", "--json", env={"AGENTMAP_LLM__MODEL": "claude-x", "AGENTMAP_ENV": "test"})
    settings = json.loads(out.stdout)["settings"]
    assert settings["llm"]["model"] == "claude-x"
    assert settings["llm"]["backend"] == "fake"
    assert settings["environment"] == "test"


def test_config_graph_shows_effective_node_context(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "flow.csv"
    csv.write_text(
        "GraphName,Node,AgentType,Context,Edge\n"
        'G,Fetch,echo,"{""timeout"": 60, ""retries"": 0}",Done\n'
        "G,Done,success,,\n"
    )
    (tmp_path / "config").mkdir()
    base = (REPO / "agentmap" / "presets" / "base.yaml").read_text()
    (tmp_path / "config" / "base.yaml").write_text(base)
    (tmp_path / "config" / "strict.yaml").write_text(
        "agents:\n  echo:\n    timeout: 10\n    retries: 2\n  Fetch:\n    retries: 5\n"
    )
    out = cli("config", "--env", "strict", "--graph", str(csv), "--json")
    assert out.returncode == 0, out.stderr
    nodes = json.loads(out.stdout)["nodes"]
    # node name beats agent type beats the CSV
    assert nodes["Fetch"] == {"timeout": 10, "retries": 5}
    assert nodes["Done"] == {}
    run = cli("run", str(csv), "--env", "strict", "--json")
    assert run.returncode == 0, run.stderr


def test_help_does_not_import_heavy_libraries() -> None:
    script = (
        "import sys\n"
        "from agentmap.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='agentmap')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = ('dependency_injector', 'pydantic', 'pydantic_settings', 'loguru', 'litellm',\n"
        "         'yaml', 'containers', 'sqlite3')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "Run LLM-agent workflows" in out.stdout
    assert out.stderr.strip() == "[]"


def test_help_lists_commands(cli: Any) -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("run", "validate", "config"):
        assert command in out.stdout
