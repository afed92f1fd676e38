"""Logging: structlog, JSON lines in production, a readable console in development.

Only the entrypoint calls `configure`; library code just asks `structlog.get_logger()` and
binds `message_id` where it has one.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from kernel.settings import Secret, Settings, mask_dsn

_SECRET_KEYS = re.compile(r"password|secret|token|private_key|passphrase", re.IGNORECASE)


def mask_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A last line of defence: no secret reaches a log line, whoever logged it."""
    for key, value in event_dict.items():
        if isinstance(value, Secret) or (_SECRET_KEYS.search(key) and value is not None):
            event_dict[key] = "**********"
        elif isinstance(value, str):
            event_dict[key] = mask_dsn(value)
    return event_dict


class _MaskingFilter(logging.Filter):
    """The same defence for third-party libraries logging through the standard library."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_dsn(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Looks sys.stderr up when a logger is made, so redirected stderr is honoured."""
    return structlog.PrintLogger(sys.stderr)


def configure(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level, logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.environment == "production"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # After format_exc_info, so a traceback quoting a DSN is masked too.
            structlog.processors.format_exc_info,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    # Third-party libraries (aiokafka, asyncio) log through the standard library.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_MaskingFilter())
