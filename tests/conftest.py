"""Suite-wide rules.

Tests of the Redis and PostgreSQL backends carry ``@pytest.mark.services`` and
skip with a reason when the server is not reachable. CI sets
``AGENTMAP_REQUIRE_SERVICES=1`` (see ``.ci/run``): there, such a skip is turned
into a failure, so a missing server can never pass as a green build.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Generator
from typing import Any

import pytest

pytest_plugins = ["pytester"]

REQUIRE_SERVICES = os.environ.get("AGENTMAP_REQUIRE_SERVICES", "") not in ("", "0", "false")


def service_available(host: str, port: int, timeout: float = 0.5) -> bool:
    """A plain TCP check, so the check needs no client library."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip the calling test (a failure under AGENTMAP_REQUIRE_SERVICES) without the server."""
    if not service_available(host, port):
        pytest.skip(f"{name} is not reachable on {host}:{port}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, Any]:
    report = yield
    if REQUIRE_SERVICES and report.skipped and item.get_closest_marker("services") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"AGENTMAP_REQUIRE_SERVICES is set, but this test skipped: {reason}"
    return report
