"""What every subcommand shares: the handler type, exit codes and JSON output."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeAlias

from kernel import database
from kernel.errors import LienthongError
from kernel.settings import Settings
from lienthong.devstack import stack

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


async def open_database(settings: Settings, role: str) -> database.Connection:
    """A connection as `role` (dbroles.OWNER, ROUTER or REPORTING), in the configured schema:
    each command runs with the least the job needs, never as a superuser."""
    url = stack.service_dsn(settings, role)
    return await database.connect(url.reveal(), schema=settings.database_schema)


async def open_connector_database(settings: Settings, units: list[str]) -> database.Connection:
    """A connection as the connector deployment that hosts `units`."""
    url = await stack.connector_dsn(settings, units)
    return await database.connect(url.reveal(), schema=settings.database_schema)


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, default=_plain), flush=True)


def _plain(value: object) -> object:
    """Times in ISO 8601, anything else JSON lacks as its text."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def refusal(error: LienthongError) -> dict[str, str]:
    """The JSON fields that say why an input was refused."""
    return {"reason_code": error.reason.value, "reason": error.message}


def report_verdicts(verdicts: Iterable[dict[str, Any]]) -> int:
    """One JSON line per input, as each is judged; exit 1 if any was refused."""
    all_ok = True
    for verdict in verdicts:
        print_json(verdict)
        all_ok = all_ok and bool(verdict["ok"])
    return EXIT_OK if all_ok else EXIT_NO
