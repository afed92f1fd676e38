"""`lienthong pki init DIR`: a demo PKI with a certificate for every open unit."""

from __future__ import annotations

import argparse
import datetime
import hashlib
from pathlib import Path

from broker.directory import loader
from kernel.settings import Settings
from lienthong.commands.common import EXIT_OK, Subparsers, print_json
from signing.keys import KEY_KINDS
from signing.testpki import TestPki

SAMPLE_DIRECTORY = Path(__file__).resolve().parents[2] / "broker/directory/samples/ben-tre.yaml"
# The router runs at the province's data centre, under the department that operates it (Đ8).
ROUTER_UNIT = "000.00.12.H62"


async def _init(args: argparse.Namespace, _settings: Settings) -> int:
    out = Path(args.dir)
    today = datetime.datetime.now(datetime.UTC).date()
    directory = loader.load(Path(args.directory))
    units = args.units or [u.organ_id for u in directory.units.values() if u.open_on(today)]
    pki = TestPki(kind=args.kind)
    pki.write_trust(out / "trust")
    for organ_id in units:
        unit = directory.units.get(organ_id)
        pki.unit(organ_id, unit.name if unit else None).write(out / "units" / organ_id)
        citizen_id = f"{int(hashlib.sha256(organ_id.encode()).hexdigest(), 16) % 10**12:012d}"
        head = pki.person(organ_id, f"Thủ trưởng {organ_id}", citizen_id)
        head.write(out / "units" / organ_id / "head")
    pki.unit(args.router_unit, "lienthong router").write(out / "router")
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
    init.add_argument("--router-unit", default=ROUTER_UNIT, metavar="ORGANID")
    init.set_defaults(handler=_init)
