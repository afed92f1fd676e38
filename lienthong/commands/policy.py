"""`lienthong policy check`: what the content policy would decide, without sending anything."""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path

from broker.directory.model import check_organ_id
from broker.policy import rules
from broker.policy.check import File, texts_of
from kernel.settings import Settings
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, print_json
from schemas import edxml


async def _check(args: argparse.Namespace, _settings: Settings) -> int:
    policy = rules.load(Path(args.policy) if args.policy else rules.DEFAULT_POLICY)
    packet = edxml.parse(Path(args.edxml))
    files = [
        File(Path(f).name, mimetypes.guess_type(f)[0] or "application/octet-stream",
             Path(f).read_bytes())
        for f in args.attach
    ]  # fmt: skip
    texts = texts_of(packet, files)
    decision = policy.evaluate(texts.fields)
    print_json(
        {
            "edxml": args.edxml,
            "sender": check_organ_id(args.sender) if args.sender else packet.from_.organ_id,
            **decision.as_json(),
            "attachments_not_read": texts.not_read,
        }
    )
    return EXIT_NO if decision.action in ("hold", "reject") else EXIT_OK


def register(commands: Subparsers) -> None:
    group = commands.add_parser("policy", help="the content policy (Article 4)")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="decide on a document as the router would; exit 1 if held or rejected"
    )
    check.add_argument("--edxml", required=True, metavar="FILE")
    check.add_argument("--attach", nargs="*", default=[], metavar="FILE")
    check.add_argument("--sender", metavar="ORGANID")
    check.add_argument("--policy", metavar="FILE", help="default: the built-in policy")
    check.set_defaults(handler=_check)
