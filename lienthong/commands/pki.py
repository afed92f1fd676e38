"""`lienthong pki init DIR`: a demo PKI with a certificate for every open unit."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from broker.directory import loader
from kernel.settings import Settings
from lienthong.commands.common import EXIT_OK, Subparsers, print_json
from signing.keys import KEY_KINDS
from signing.testpki import write_pki

SAMPLE_DIRECTORY = Path(__file__).resolve().parents[2] / "broker/directory/samples/ben-tre.yaml"


async def _init(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.dir)
    today = datetime.datetime.now(datetime.UTC).date()
    directory = loader.load(Path(args.directory))
    units = args.units or [u.organ_id for u in directory.units.values() if u.open_on(today)]
    write_pki(
        out,
        [(u, directory.units[u].name if u in directory.units else None) for u in units],
        router_id=args.router_id or settings.router_id,
        kind=args.kind,
    )
    print_json({"dir": str(out), "kind": args.kind, "units": units, "trust": str(out / "trust")})
    return EXIT_OK


def register(commands: Subparsers) -> None:
    group = commands.add_parser("pki", help="the demo and test PKI")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init", help="write a root CA, an issuing CA, CRLs and unit certificates"
    )
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--kind", choices=KEY_KINDS, default="rsa2048")
    init.add_argument("--units", nargs="+", metavar="ORGANID", help="default: every open unit")
    init.add_argument("--directory", default=str(SAMPLE_DIRECTORY), metavar="FILE")
    init.add_argument(
        "--router-id", metavar="NAME", help="default: LIENTHONG_ROUTER_ID (lienthong-router)"
    )
    init.set_defaults(handler=_init)
