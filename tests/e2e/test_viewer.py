"""The run viewer (GET /) in a real headless Chromium against a real ``agentmap serve``.

A person starts a run of a workflow with a ``human`` node from the page, watches its
nodes turn green from the run's events, answers the suspended step in the page and
sees the run complete; the API confirms what the page shows. On a server with API
keys the page sends the key it keeps (header for fetch, ``?api_key=`` for the events).

The browser is Debian's ``chromium`` driven through ``chromium-driver`` (the Makefile
installs both when missing), named by path so that Selenium Manager never downloads
a browser. Without them the tests skip with the reason; the ``services`` mark makes
that skip a failure under ``AGENTMAP_REQUIRE_SERVICES=1`` (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_support import running_server

pytestmark = pytest.mark.services

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 30.0  # seconds a page change may take before the test gives up (not a timing check)
GREEN = "rgb(187, 255, 187)"  # classDef ok fill:#bfb
RED = "rgb(255, 187, 187)"  # classDef failed fill:#fbb
KEY = "am_viewer-test-key"

WORKFLOW = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description
# inputs: title
Review,Draft,echo,title,draft,Draft: {title},,Approve,,Write the draft from the title
Review,Approve,human,draft,approved,Publish {draft}?,"{""choices"": [""yes"", ""no""]}",Publish,,Ask an editor
Review,Publish,echo,draft|approved,result,{draft} approved={approved},,,,Publish the post
"""
# A node that fails, and the one its Failure_Next hands over to.
BROKEN = """\
GraphName,Node,AgentType,Input_Fields,Output_Field,Prompt,Context,Success_Next,Failure_Next,Description
Broken,Try,failure,,attempt,Tried and failed,,,Recover,Always fails
Broken,Recover,echo,,result,recovered,,,,Takes over after the failure
"""


def get_json(url: str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


@contextmanager
def serve(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``agentmap serve`` (tests/server_support.py) over a folder holding WORKFLOW and BROKEN."""
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "review.csv").write_text(WORKFLOW, encoding="utf-8")
    (workflows / "broken.csv").write_text(BROKEN, encoding="utf-8")
    with running_server(workflows, tmp_path, env_vars=env) as server:
        print(f"server log: {server.log}")
        yield server.url


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium through chromedriver, both from Debian, nothing downloaded.

    The page is photographed into the test's tmp_path at the end, pass or fail.
    """
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(
            f"no browser for the run viewer test: {' and '.join(missing)} not found; "
            "install Debian's chromium and chromium-driver (apt-get install -y chromium "
            "chromium-driver; `make test` does it when it can)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        screenshot = tmp_path / "viewer.png"
        try:
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(screenshot))
            print(f"screenshot: {screenshot}")
        finally:
            driver.quit()


# -- the page ---------------------------------------------------------------------------


def wait_for(driver: Any, what: str, condition: Callable[[], Any]) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after WAIT seconds."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    waiter = WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])
    try:
        return waiter.until(lambda _: condition())
    except Exception as error:  # TimeoutException, with the page's own message in the failure
        message = driver.find_element("id", "message").text
        raise AssertionError(f"waited {WAIT} s for {what}; page message: {message!r}") from error


def node(driver: Any, name: str) -> Any:
    """The diagram's <g> of node ``name`` (app.js tags each with data-node)."""
    return driver.find_element("css selector", f'#diagram g.node[data-node="{name}"]')


def node_status(driver: Any, name: str) -> str | None:
    """The node's data-status ("" when not run yet), None while the diagram lacks it."""
    found = driver.find_elements("css selector", f'#diagram g.node[data-node="{name}"]')
    return str(found[0].get_attribute("data-status")) if found else None


def fills(driver: Any, name: str) -> list[str]:
    """The computed fill of each shape of the node (its box, whatever Mermaid draws it with)."""
    script = (
        "return [...arguments[0].querySelectorAll('rect, path, polygon, circle')]"
        ".map(e => getComputedStyle(e).fill)"
    )
    return list(driver.execute_script(script, node(driver, name)))


def assert_green(driver: Any, name: str) -> None:
    assert node_status(driver, name) == "ok"
    assert "ok" in str(node(driver, name).get_attribute("class")).split()
    assert GREEN in fills(driver, name)


def event_lines(driver: Any) -> list[str]:
    """The page's list of the run's SSE events (folded, so .text would be empty)."""
    items = driver.find_elements("css selector", "#events li")
    return [str(e.get_attribute("textContent")) for e in items]


def open_graph(driver: Any, name: str, last: str) -> None:
    """Pick graph ``name`` in the list and wait until its diagram shows node ``last``."""
    pick = f'#graphs button[data-graph="{name}"]'
    wait_for(driver, "the graph list", lambda: driver.find_elements("css selector", pick))
    driver.find_element("css selector", pick).click()
    wait_for(driver, f"the diagram of {name}", lambda: node_status(driver, last) == "")


def start_run(driver: Any, state: dict[str, Any], until: str = "suspended") -> str:
    """Start a run from the page's form; its id once the page shows it ``until``."""
    box = driver.find_element("id", "state")
    box.clear()
    box.send_keys(json.dumps(state))
    driver.find_element("id", "start-run").click()
    status = driver.find_element("id", "run-status")
    wait_for(driver, f"the run to be {until}", lambda: status.text == until)
    if until == "suspended":
        wait_for(
            driver, "the run's question", driver.find_element("id", "resume-form").is_displayed
        )
    return str(driver.find_element("id", "run-id").text)


def answer(driver: Any, field: str, value: str) -> None:
    """Answer the suspended run's question and wait for the run to complete."""
    driver.find_element("id", f"field-{field}").send_keys(value)
    driver.find_element("id", "resume-run").click()
    status = driver.find_element("id", "run-status")
    wait_for(driver, "the run to complete", lambda: status.text == "completed")
    wait_for(driver, "Publish to turn green", lambda: node_status(driver, "Publish") == "ok")


def browser_errors(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# -- tests ------------------------------------------------------------------------------


def test_start_watch_and_answer_a_run_in_the_browser(browser: Any, tmp_path: Path) -> None:
    driver = browser
    with serve(tmp_path) as server:
        driver.get(f"{server}/")
        open_graph(driver, "Review", "Publish")
        assert GREEN not in fills(driver, "Draft")  # nothing has run yet

        run_id = start_run(driver, {"title": "Hello"})
        wait_for(driver, "Draft to turn green", lambda: node_status(driver, "Draft") == "ok")
        assert_green(driver, "Draft")
        assert node_status(driver, "Approve") == "waiting"
        assert node_status(driver, "Publish") == ""
        assert "Publish Draft: Hello? [yes|no]" in driver.find_element("id", "question").text
        suspended = get_json(f"{server}/v1/runs/{run_id}")
        assert suspended["status"] == "suspended"
        assert suspended["waiting"]["node"] == "Approve"

        answer(driver, "approved", "yes")
        for name in ("Draft", "Approve", "Publish"):
            assert_green(driver, name)
        # The colours came from the live events, not only from the stored steps.
        events = event_lines(driver)
        assert any(e.startswith("node_finished Publish") for e in events), events
        assert any(e.startswith("run_finished completed") for e in events), events

        rows = driver.find_elements("css selector", "#steps tbody tr")
        assert [r.get_attribute("data-node") for r in rows] == ["Draft", "Approve", "Publish"]
        assert [r.get_attribute("data-ok") for r in rows] == ["true"] * 3
        assert 'approved: "yes"' in rows[1].text  # the answer, in the Approve step's outputs
        listed = f'#runs button[data-run="{run_id}"]'
        wait_for(
            driver,
            "the run list to show the run completed",
            lambda: (
                driver.find_element("css selector", listed).get_attribute("data-status")
                == "completed"
            ),
        )

        final = get_json(f"{server}/v1/runs/{run_id}")
        assert final["status"] == "completed"
        assert final["state"]["approved"] == "yes"
        assert final["state"]["result"] == "Draft: Hello approved=yes"
        assert browser_errors(driver) == []


def test_the_page_sends_its_api_key_to_a_server_with_keys(browser: Any, tmp_path: Path) -> None:
    driver = browser
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    keys = json.dumps({"viewer": f"sha256:{digest}"})
    with serve(tmp_path, {"AGENTMAP_SERVER__API_KEYS": keys}) as server:
        driver.get(f"{server}/")
        message = driver.find_element("id", "message")
        wait_for(driver, "the page to report the missing key", message.is_displayed)
        assert "error" in str(message.get_attribute("class"))
        assert not driver.find_elements("css selector", "#graphs button[data-graph]")

        driver.find_element("id", "api-key").send_keys(KEY)
        driver.find_element("id", "save-key").click()
        assert driver.execute_script("return localStorage.getItem('agentmap.apiKey')") == KEY
        open_graph(driver, "Review", "Publish")
        run_id = start_run(driver, {"title": "Keyed"})
        answer(driver, "approved", "no")
        # The events stream (EventSource: the key as ?api_key=) was let through.
        assert any(e.startswith("run_finished completed") for e in event_lines(driver))

        final = get_json(f"{server}/v1/runs/{run_id}", key=KEY)
        assert final["status"] == "completed"
        assert final["state"]["approved"] == "no"
        # The 401s of the first load, before the key was saved, are the only errors.
        assert all("401" in e["message"] for e in browser_errors(driver))


def test_a_failed_node_turns_red_and_shows_its_error(browser: Any, tmp_path: Path) -> None:
    driver = browser
    with serve(tmp_path) as server:
        driver.get(f"{server}/")
        open_graph(driver, "Broken", "Recover")
        run_id = start_run(driver, {}, until="completed")
        wait_for(driver, "Recover to turn green", lambda: node_status(driver, "Recover") == "ok")
        assert node_status(driver, "Try") == "failed"
        assert "failed" in str(node(driver, "Try").get_attribute("class")).split()
        assert RED in fills(driver, "Try")
        assert_green(driver, "Recover")
        row = driver.find_element("css selector", '#steps tbody tr[data-node="Try"]')
        assert row.get_attribute("data-ok") == "false"
        assert "Tried and failed" in row.find_element("css selector", "pre.error").text
        assert get_json(f"{server}/v1/runs/{run_id}")["state"]["result"] == "recovered"
        assert browser_errors(driver) == []
