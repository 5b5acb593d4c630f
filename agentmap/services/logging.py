"""The loguru logger, configured from ``LoggingSettings``.

Secrets are redacted in the *final* line, just before it is written: that one
place covers the message, bound extras and exception text alike, whatever
code produced the record. JSON lines are built here (time, level, message,
logger, extras, exception) instead of loguru's ``serialize=True`` record dump,
which is verbose and repeats the message.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TextIO

from agentmap.errors import ConfigurationError
from agentmap.services.redaction import MASK, secret_masker

if TYPE_CHECKING:
    from loguru import Logger, Message, Record

    from agentmap.settings import LoggingSettings

__all__ = ["MASK", "DeferredLogger", "configure_logger", "release_logger"]

_TEXT_FORMAT = "<green>{time:HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | {message}"

Sink = TextIO | Callable[[str], object]


def configure_logger(
    settings: LoggingSettings, secrets: Iterable[str] = (), *, sink: Sink | None = None
) -> tuple[Logger, list[int]]:
    """Send records at ``settings.level`` and above to ``sink`` (default: the current stderr).

    Returns the logger and the handler ids to pass to ``release_logger``.
    """
    from loguru import logger

    with suppress(ValueError):  # loguru's default stderr handler; already gone is fine
        logger.remove(0)
    write = _redacting_writer(sink, secrets)
    try:
        if settings.format == "json":
            handler = logger.add(
                lambda message: write(_json_line(message)),
                level=settings.level,
                format="{message}",
                backtrace=False,
                diagnose=False,  # diagnose prints local variables: state values, secrets
            )
        else:
            colorize = sink is None and sys.stderr.isatty()
            handler = logger.add(
                write, level=settings.level, format=_text_format, colorize=colorize, diagnose=False
            )
    except ValueError as exc:
        raise ConfigurationError(f"logging.level: {exc}") from None
    return logger, [handler]


def release_logger(handler_ids: Iterable[int]) -> None:
    """Remove the sinks ``configure_logger`` added (ids already removed are ignored)."""
    handler_ids = list(handler_ids)
    if not handler_ids:
        return  # loguru was never set up: nothing to import (this may run at interpreter exit)
    from loguru import logger

    for handler_id in handler_ids:
        with suppress(ValueError):
            logger.remove(handler_id)


def _redacting_writer(sink: Sink | None, secrets: Iterable[str]) -> Callable[[str], None]:
    mask = secret_masker(secrets)

    def write(line: str) -> None:
        line = mask(line)
        # Resolved per line so that a replaced sys.stderr (pytest, the CLI) is honoured.
        target = sys.stderr if sink is None else sink
        if callable(target):
            target(line)
        else:
            target.write(line)
            target.flush()

    return write


def _text_format(record: Record) -> str:
    extra = " | {extra}" if record["extra"] else ""
    return _TEXT_FORMAT + extra + "\n{exception}"


def _json_line(message: Message) -> str:
    record = message.record
    data: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
    }
    if record["extra"]:
        data["extra"] = record["extra"]
    if record["exception"] is not None:
        kind, value, tb = record["exception"]
        data["exception"] = "".join(traceback.format_exception(kind, value, tb))
    return json.dumps(data, default=str, ensure_ascii=False) + "\n"


_LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}


class _LoguruSetup:
    """What every view of one ``DeferredLogger`` shares: the settings and, once made, loguru."""

    def __init__(
        self, settings: LoggingSettings, secrets: Iterable[str], sink: Sink | None
    ) -> None:
        level = settings.level
        if level.isdigit():
            self.threshold = int(level)
        elif level.upper() in _LEVELS:
            self.threshold = _LEVELS[level.upper()]
        else:
            raise ConfigurationError(
                f"logging.level: {level!r} is not a level ({', '.join(_LEVELS)})"
            )
        self.settings = settings
        self.secrets = list(secrets)
        self.sink = sink
        self.logger: Logger | None = None
        self.handler_ids: list[int] = []

    def real(self) -> Logger:
        if self.logger is None:
            self.logger, self.handler_ids = configure_logger(
                self.settings, self.secrets, sink=self.sink
            )
        return self.logger


class DeferredLogger:
    """The application's logger, set up on its first message rather than at start-up.

    Importing loguru and adding a sink costs ~25 ms, a twentieth of the cold
    ``agentmap run`` budget, and most successful runs never log a line. This
    stand-in offers the methods agents and the runner call (``debug`` ...
    ``exception``, ``bind``) and builds the real loguru logger the first time
    one of them is used. The level is checked here, eagerly, so a bad setting
    still fails at start-up, and a message below it returns at once without
    setting anything up (a ``log_debug`` in an agent costs nothing at INFO).
    """

    def __init__(
        self,
        settings: LoggingSettings,
        secrets: Iterable[str] = (),
        *,
        sink: Sink | None = None,
    ) -> None:
        self._setup = _LoguruSetup(settings, secrets, sink)
        self._extra: dict[str, Any] = {}

    @property
    def handler_ids(self) -> list[int]:
        return self._setup.handler_ids

    def bind(self, **extra: Any) -> DeferredLogger:
        bound = object.__new__(DeferredLogger)
        bound._setup = self._setup
        bound._extra = {**self._extra, **extra}
        return bound

    def _emit(
        self, level: str, message: str, args: Any, kwargs: Any, exception: bool = False
    ) -> None:
        setup = self._setup
        if _LEVELS.get(level, 0) < setup.threshold:
            return
        logger = setup.real()
        if self._extra:
            logger = logger.bind(**self._extra)
        logger.opt(depth=2, exception=exception).log(level, message, *args, **kwargs)

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._emit("DEBUG", message, args, kwargs)

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._emit("INFO", message, args, kwargs)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._emit("WARNING", message, args, kwargs)

    def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._emit("ERROR", message, args, kwargs)

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._emit("ERROR", message, args, kwargs, exception=True)

    def release(self) -> None:
        """Remove loguru's sinks, if any were added; the next message adds them again."""
        setup = self._setup
        release_logger(setup.handler_ids)
        setup.handler_ids = []
        setup.logger = None
