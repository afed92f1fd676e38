"""Logging: structlog, JSON lines in production, a readable console in development.

Only the entrypoint calls `configure`; library code just asks `structlog.get_logger()` and
binds `message_id` where it has one. Third-party libraries (aiokafka, asyncpg, pyhanko,
...) log through the standard library; their records are rendered by the same structlog
processors, so every line on stderr has one format and passes the same secret masking.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

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


VERDICT_LOGGERS = ("pyhanko", "pyhanko_certvalidator")
"""Libraries that explain, as warnings with tracebacks, why a signature they checked does
not hold. signing.pdf turns that into a reason code and the caller reports it (a refusal is
the exchange working, not failing), so their lines are debugging detail."""


class _ThirdPartyLevel(logging.Filter):
    """Demotes the verdict loggers' lines to DEBUG without their tracebacks, then drops
    what is below the threshold: the handler's own level would be checked before this."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.partition(".")[0] in VERDICT_LOGGERS:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return record.levelno >= self.threshold


class _Handler(logging.StreamHandler[TextIO]):
    """The root handler `configure` installs, and the one a later call replaces (others,
    such as pytest's capture, are left alone). Like `_stderr_logger`, it writes to
    sys.stderr as it is when a line is written, so redirected stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


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
    stamped: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # After format_exc_info, so a traceback quoting a DSN is masked too.
    rendered: list[structlog.typing.Processor] = [
        structlog.processors.format_exc_info,
        mask_secrets,
        renderer,
    ]
    structlog.configure(
        processors=[*stamped, *rendered],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    # Third parties' INFO is chatter (aiokafka's group joins); their warnings and errors
    # are shown, and everything when debugging.
    threshold = level if level <= logging.DEBUG else max(level, logging.WARNING)
    handler = _Handler()
    handler.addFilter(_ThirdPartyLevel(threshold))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*stamped, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendered],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
