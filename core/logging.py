"""Logging through structlog: human-readable on a console, one JSON object per line for machines.

Every event passes through the redactor before it is rendered (`redact_event`): the
process's known secrets (the `SecretStr` settings, every connector's secrets once a
redactor was made for it) and anything shaped like a credential are removed from every
value, the formatted traceback included. The standard library's records (aiohttp,
aiogram) get the same treatment from a filter on the root handlers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from core.config import Settings
from core.notify.redaction import redact_known, remember_settings


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_known(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redacted(item) for item in value]
    if isinstance(value, BaseException):
        return redact_known(f"{type(value).__name__}: {value}")
    return value


def redact_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: every value of the event without secrets (run after the
    traceback is formatted, before rendering)."""
    return {key: _redacted(value) for key, value in event_dict.items()}


class RedactingFilter(logging.Filter):
    """Redacts a standard library record's message and traceback before any handler
    formats it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_known(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_known(record.exc_text)
        return True


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Logs to `stream` (standard error by default) in the configured format.

    Loggers are not cached on first use, so configuring again (another format, another
    stream) takes effect in every module; logging is not on any hot path.
    """
    remember_settings(settings)
    output = stream or sys.stderr
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=output.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=output)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
