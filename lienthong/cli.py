"""The `lienthong` command: the edge where settings are loaded and logging is configured.

Exit status: 0 success, 1 a check said no (a rejected input, an unhealthy service),
2 the command could not run (bad environment or arguments), with the reason code printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import structlog

from kernel import logs
from kernel.errors import LienthongError
from kernel.settings import Settings
from lienthong.commands import (
    common,
    console,
    deploy,
    dev,
    directory,
    edxml,
    envelope,
    exchange,
    kafka,
    operations,
    pdf,
    peer,
    pki,
    policy,
    reconcile,
    vxp,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lienthong", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        dev,
        edxml,
        envelope,
        pki,
        pdf,
        directory,
        exchange,
        kafka,
        operations,
        policy,
        reconcile,
        vxp,
        peer,
        deploy,
        console,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except LienthongError as exc:
        print(f"lienthong: {exc}", file=sys.stderr)
        return common.EXIT_ERROR
    logs.configure(settings)
    structlog.get_logger(__name__).debug("settings", **settings.for_log())
    handler: common.Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except LienthongError as exc:
        print(f"lienthong: {exc}", file=sys.stderr)
        return common.EXIT_ERROR
    except KeyboardInterrupt:
        return 130
