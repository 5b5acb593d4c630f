"""An LLM workflow run by the `agentmap` command with the real LLM backends over HTTP.

The LLM is a FakeOpenAIServer on 127.0.0.1; only settings (environment
variables) decide where calls go, which model they use, and which backend
answers them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmap.testing import FakeOpenAIServer
from tests.e2e.conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from support_llm_replies import reply

WORKFLOW = str(REPO / "examples" / "support_llm.csv")
TICKET = "The app shows an error and crashes at login, please help."
SECRET = "sk-e2e-secret-key"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=reply) as running:
        yield running


def env_for(server: FakeOpenAIServer, **extra: str) -> dict[str, str]:
    env = {
        "AGENTMAP_ENV": "development",
        "AGENTMAP_LLM__BACKEND": "litellm",
        "AGENTMAP_LLM__API_BASE": server.base_url,
        "AGENTMAP_LLM__API_KEY": SECRET,
        "AGENTMAP_CACHE__BACKEND": "memory",
    }
    env.update(extra)
    return env


def run(cli: Any, env: dict[str, str], ticket: str = TICKET) -> tuple[int, dict[str, Any], str]:
    out = cli("run", WORKFLOW, "--json", "--state", json.dumps({"ticket": ticket}), env=env)
    return out.returncode, (json.loads(out.stdout) if out.stdout else {}), out.stderr


def test_the_support_workflow_runs_over_http_and_reports_usage(
    cli: Any, server: FakeOpenAIServer
) -> None:
    code, result, err = run(cli, env_for(server))
    assert code == 0, err
    assert result["path"] == ["Classify", "Route", "Technical", "Done"]
    assert result["state"]["classification"] == {"team": "technical", "urgency": "low"}
    assert result["state"]["route"]["target"] == "Technical"
    assert result["state"]["reply"].endswith("The technical team is on it.")
    llm = result["llm"]
    assert llm["calls"] == len(server.requests)
    assert llm["prompt_tokens"] > 0
    assert llm["completion_tokens"] > 0
    assert llm["cost"] > 0
    assert {c["node"] for c in llm["by_call"]} >= {"Classify", "Technical", "Done"}
    assert {r.api_key for r in server.requests} == {SECRET}
    assert {r.model for r in server.requests} == {"gpt-4o-mini"}


def test_the_model_is_chosen_by_settings_alone(cli: Any, server: FakeOpenAIServer) -> None:
    env = env_for(
        server,
        AGENTMAP_LLM__MODEL="gpt-4o",
        AGENTMAP_LLM__PROVIDERS='{"openai": "gpt-4.1-mini"}',
    )
    code, result, err = run(cli, env)
    assert code == 0, err
    by_node = {c["node"]: c["model"] for c in result["llm"]["by_call"]}
    # llm/summary/orchestrator nodes use llm.model; the `openai` node its provider's model.
    assert by_node["Classify"] == "gpt-4o"
    assert by_node["Technical"] == "gpt-4.1-mini"
    assert {r.model for r in server.requests} == {"gpt-4o", "gpt-4.1-mini"}


def test_the_api_base_is_chosen_by_settings_alone(cli: Any, server: FakeOpenAIServer) -> None:
    with FakeOpenAIServer(reply=reply) as other:
        code, _, err = run(cli, env_for(server, AGENTMAP_LLM__API_BASE=other.base_url))
        assert code == 0, err
        assert len(other.requests) >= 3
    assert server.requests == []


def test_the_backend_is_chosen_by_settings_alone(cli: Any, server: FakeOpenAIServer) -> None:
    env = env_for(
        server,
        AGENTMAP_LLM__BACKEND="fake",
        AGENTMAP_LLM__FAKE_DEFAULT='{"team": "general", "urgency": "low"}',
    )
    code, result, err = run(cli, env)
    assert code == 0, err
    assert server.requests == []  # the scripted fake answered instead
    assert result["state"]["classification"] == {"team": "general", "urgency": "low"}
    assert result["llm"]["calls"] >= 3


def test_identical_temperature_zero_calls_are_answered_from_the_cache(
    cli: Any, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    env = env_for(
        server,
        AGENTMAP_CACHE__BACKEND="sqlite",
        AGENTMAP_CACHE__PATH=str(tmp_path / "cache.sqlite3"),
    )
    first_code, first, _ = run(cli, env)
    sent = len(server.requests)
    second_code, second, _ = run(cli, env)
    assert (first_code, second_code) == (0, 0)
    cached = [c["node"] for c in second["llm"]["by_call"] if c["cached"]]
    # Classify and Done run at temperature 0: cached. Technical (0.3) is not; Route chose by keyword.
    assert cached == ["Classify", "Done"]
    assert len(server.requests) - sent == second["llm"]["calls"] - len(cached)
    assert first["llm"]["cached_calls"] == 0


def test_a_provider_error_fails_the_node_so_failure_next_applies(
    cli: Any, server: FakeOpenAIServer
) -> None:
    server.script(["400"])
    code, result, err = run(cli, env_for(server))
    assert code == 0, err  # handled by the Failed node
    assert result["path"] == ["Classify", "Failed"]
    assert result["state"]["summary"] == result["state"]["error"]  # the echo of the error
    assert result["state"]["errors"][0]["type"] == "LLMBadRequestError"  # as with openai_http
    assert len(server.requests) == 1  # a 400 is not retried


def test_tracker_and_logs_hold_no_secret_and_no_message_text(
    cli: Any, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.jsonl"
    out = cli(
        "run",
        WORKFLOW,
        "--state",
        json.dumps({"ticket": TICKET}),
        env=env_for(server, AGENTMAP_TRACKING__PATH=str(runs), AGENTMAP_LOGGING__LEVEL="DEBUG"),
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in runs.read_text().splitlines()]
    llm_events = [e for e in events if e["event"] == "llm_called"]
    assert len(llm_events) == len(server.requests)
    assert all(e["model"] == "gpt-4o-mini" and e["prompt_tokens"] > 0 for e in llm_events)
    for text in (runs.read_text(), out.stderr):
        assert SECRET not in text
        assert "crashes at login" not in text


def test_the_openai_http_backend_runs_the_same_workflow(cli: Any, server: FakeOpenAIServer) -> None:
    code, result, err = run(cli, env_for(server, AGENTMAP_LLM__BACKEND="openai_http"))
    assert code == 0, err
    assert result["path"] == ["Classify", "Route", "Technical", "Done"]
    assert result["state"]["classification"] == {"team": "technical", "urgency": "low"}
    llm = result["llm"]
    assert llm["calls"] == len(server.requests)
    assert llm["cost"] > 0  # litellm's price table is installed here
    assert {c["provider"] for c in llm["by_call"]} == {"openai"}
    assert {r.api_key for r in server.requests} == {SECRET}
    assert "Unclosed" not in err


def test_with_openai_http_a_provider_error_fails_the_node(
    cli: Any, server: FakeOpenAIServer
) -> None:
    server.script(["400"])
    code, result, err = run(cli, env_for(server, AGENTMAP_LLM__BACKEND="openai_http"))
    assert code == 0, err  # handled by the Failed node
    assert result["path"] == ["Classify", "Failed"]
    assert result["state"]["errors"][0]["type"] == "LLMBadRequestError"
    assert "HTTP 400" in result["state"]["error"]
    assert SECRET not in json.dumps(result)
    assert len(server.requests) == 1  # a 400 is not retried
