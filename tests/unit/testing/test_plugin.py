"""The pytest plugin as a user's test suite sees it: fixtures arrive through the entry point."""

from __future__ import annotations

import pytest

USER_TESTS = """
from agentmap.agents.base_agent import BaseAgent
from agentmap.services.protocols import LLMCapableAgent


class Summarize(BaseAgent, LLMCapableAgent):
    def process(self, inputs):
        return self.llm_service.call_llm(
            provider="openai", messages=[{"role": "user", "content": inputs["text"]}]
        )


def test_workflow_with_scripted_llm(agentmap_app, fake_llm, tmp_path):
    agentmap_app.container.agents.registry().register("Summarize", Summarize)
    csv = tmp_path / "flow.csv"
    csv.write_text("GraphName,Node,AgentType,Input_Fields,Output_Field\\n"
                   "G,Sum,Summarize,text,summary\\n")
    fake_llm.script(patterns={"long text": "short"})
    result = agentmap_app.run(csv, {"text": "some long text"})
    assert result.status == "completed"
    assert result.state["summary"] == "short"
    assert fake_llm.calls[0].provider == "openai"


def test_unscripted_call_fails_the_node(agentmap_app, fake_llm, tmp_path):
    agentmap_app.container.agents.registry().register("Summarize", Summarize)
    csv = tmp_path / "flow.csv"
    csv.write_text("GraphName,Node,AgentType,Input_Fields,Output_Field\\nG,Sum,Summarize,text,s\\n")
    result = agentmap_app.run(csv, {"text": "x"})
    assert result.status == "failed"
    assert "no reply for call #1" in result.error
"""


def test_fixtures_work_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


SERVER_TESTS = """
import http.client
import json
import socket

import pytest

SERVERS = []


def test_serves_on_loopback(fake_openai_server):
    SERVERS.append(fake_openai_server)
    assert fake_openai_server.base_url == f"http://127.0.0.1:{fake_openai_server.port}/v1"
    connection = http.client.HTTPConnection("127.0.0.1", fake_openai_server.port, timeout=5)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    connection.request("POST", "/v1/chat/completions", json.dumps(body),
                       {"Content-Type": "application/json", "Authorization": "Bearer sk-t"})
    reply = json.loads(connection.getresponse().read())
    connection.close()
    assert reply["choices"][0]["message"]["content"] == "echo: hi"
    assert [r.api_key for r in fake_openai_server.requests] == ["sk-t"]


def test_each_test_gets_a_fresh_server_and_the_last_one_is_stopped(fake_openai_server):
    [previous] = SERVERS
    assert fake_openai_server is not previous
    assert fake_openai_server.requests == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", previous.port), timeout=1)
"""


def test_fake_openai_server_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_server=SERVER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
