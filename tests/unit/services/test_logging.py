"""The loguru configuration: formats, level, secret redaction, release."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

import pytest

from agentmap.errors import ConfigurationError
from agentmap.services.logging import configure_logger, release_logger
from agentmap.settings import LoggingSettings

if TYPE_CHECKING:
    from loguru import Logger


class Captured:
    """Configures the logger into a StringIO and releases every sink afterwards."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler_ids: list[int] = []

    def configure(self, settings: LoggingSettings, secrets: Iterable[str] = ()) -> Logger:
        log, ids = configure_logger(settings, secrets, sink=self.stream)
        self.handler_ids += ids
        return log

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    yield capture
    release_logger(capture.handler_ids)


def test_text_format_is_one_readable_line_per_record(captured: Captured) -> None:
    log = captured.configure(LoggingSettings(level="INFO", format="text"))
    log.debug("hidden below the level")
    log.bind(node="Fetch").info("node started")
    lines = captured.lines()
    assert len(lines) == 1
    assert "| INFO" in lines[0]
    assert "node started" in lines[0]
    assert "'node': 'Fetch'" in lines[0]
    assert "\x1b[" not in lines[0]  # no colour codes into a non-terminal sink


def test_json_format_has_time_level_message_and_extras(captured: Captured) -> None:
    log = captured.configure(LoggingSettings(level="DEBUG", format="json"))
    log.bind(run_id="r1").debug("step {n}", n=3)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in captured.lines())
    assert first["level"] == "DEBUG"
    assert first["message"] == "step 3"
    assert first["extra"] == {"run_id": "r1", "n": 3}
    assert first["time"][:4].isdigit()
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked_in_message_extras_and_exceptions(
    captured: Captured, fmt: Literal["text", "json"]
) -> None:
    secrets = ["sk-live-123", 'pa"ss', ""]  # an empty secret must not mask everything
    log = captured.configure(LoggingSettings(format=fmt), secrets)
    log.bind(key="sk-live-123").info('calling with sk-live-123 and pa"ss')
    try:
        raise RuntimeError("auth failed for sk-live-123")
    except RuntimeError:
        log.exception("oops")
    output = captured.stream.getvalue()
    assert "sk-live-123" not in output
    assert 'pa"ss' not in output
    assert 'pa\\"ss' not in output
    assert output.count("**********") >= 4
    assert "calling with" in output


def test_release_logger_stops_output(captured: Captured) -> None:
    log = captured.configure(LoggingSettings())
    release_logger(captured.handler_ids)
    release_logger(captured.handler_ids)  # twice is harmless
    log.info("after release")
    assert captured.stream.getvalue() == ""


def test_default_sink_is_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    log, ids = configure_logger(LoggingSettings(level="WARNING"))
    try:
        log.warning("to stderr")
    finally:
        release_logger(ids)
    assert "to stderr" in capsys.readouterr().err


def test_unknown_level_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"logging\.level"):
        configure_logger(LoggingSettings(level="LOUD"), sink=io.StringIO())


# --------------------------------------------------------------------------- DeferredLogger


def test_deferred_logger_sets_up_loguru_at_the_first_message() -> None:
    import subprocess
    import sys

    script = (
        "import io, sys\n"
        "from agentmap.services.logging import DeferredLogger\n"
        "from agentmap.settings import LoggingSettings\n"
        "out = io.StringIO()\n"
        "log = DeferredLogger(LoggingSettings(level='INFO', format='json'), ['s3cr3t'], sink=out)\n"
        "bound = log.bind(node='Fetch')\n"
        "bound.debug('below INFO: nothing is set up for it')\n"
        "print('loguru' in sys.modules)\n"
        "bound.info('key s3cr3t used')\n"
        "print('loguru' in sys.modules)\n"
        "log.release()\n"
        "print(out.getvalue().strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    before, after, line = out.stdout.splitlines()
    assert (before, after) == ("False", "True")
    record = json.loads(line)
    assert record["message"] == "key ********** used"
    assert record["extra"] == {"node": "Fetch"}


def test_deferred_logger_checks_the_level_eagerly() -> None:
    from agentmap.services.logging import DeferredLogger

    with pytest.raises(ConfigurationError, match=r"logging.level: 'LOUD'"):
        DeferredLogger(LoggingSettings(level="LOUD"))


def test_deferred_logger_release_removes_its_sink() -> None:
    from agentmap.services.logging import DeferredLogger

    stream = io.StringIO()
    log = DeferredLogger(LoggingSettings(level="INFO"), sink=stream)
    log.warning("first")
    log.release()
    log.bind(x=1).warning("second: a new sink is added, the old one is gone")
    log.release()
    text = stream.getvalue()
    assert text.count("first") == 1
    assert "second" in text
