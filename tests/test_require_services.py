"""The suite's own rule: with AGENTMAP_REQUIRE_SERVICES set, a skipped service test fails."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
TESTS = """
import pytest
from conftest import require_service

@pytest.mark.services
def test_needs_a_server():
    require_service("Nothing", "127.0.0.1", 9)  # discard port: nobody listens

def test_plain_skip():
    pytest.skip("unrelated")
"""


@pytest.mark.parametrize(("required", "failed", "skipped"), [("1", 1, 1), ("", 0, 2)])
def test_service_skips_fail_only_when_required(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    required: str,
    failed: int,
    skipped: int,
) -> None:
    monkeypatch.setenv("AGENTMAP_REQUIRE_SERVICES", required)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_services=TESTS)
    pytester.makeini("[pytest]\nmarkers =\n    services: needs a server\n")
    result = pytester.runpytest_subprocess("-p", "no:agentmap", "-rs")
    result.assert_outcomes(failed=failed, skipped=skipped)
    if failed:
        result.stdout.fnmatch_lines(["*AGENTMAP_REQUIRE_SERVICES is set*Nothing is not reachable*"])
