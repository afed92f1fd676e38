"""`lienthong policy check`: what the router would decide on a document, without sending it."""

from __future__ import annotations

import argparse
import datetime
import mimetypes
from pathlib import Path

from broker.directory import loader
from broker.directory.model import Directory, check_organ_id
from broker.policy import malware, rules
from broker.policy.check import File
from broker.policy.screening import screen_document
from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, print_json
from schemas import edxml
from signing.certificates import TrustStore


async def _check(args: argparse.Namespace, settings: Settings) -> int:
    policy = rules.load(Path(args.policy) if args.policy else rules.DEFAULT_POLICY)
    packet = edxml.parse(Path(args.edxml))
    files = [
        File(Path(f).name, mimetypes.guess_type(f)[0] or "application/octet-stream",
             Path(f).read_bytes())
        for f in args.attach
    ]  # fmt: skip
    sender = check_organ_id(args.sender) if args.sender else packet.from_.organ_id
    trust_dir = Path(args.trust) if args.trust else settings.trust_store_dir
    trust = TrustStore.load(trust_dir) if args.trust or trust_dir.is_dir() else None
    address = None if args.no_scan else settings.clamd_address
    parties = (
        _parties(loader.load(Path(args.directory)), packet, sender) if args.directory else None
    )
    screening = await screen_document(
        packet,
        files,
        policy,
        sender=sender,
        parties=parties,
        trust=trust,
        scanner=malware.Clamd(address) if address else None,
    )
    print_json(
        {
            "edxml": args.edxml,
            "sender": sender,
            **screening.decision.as_json(),
            "attachments_not_read": list(screening.not_read),
            "malware_scans": [
                {"attachment": s.name, "verdict": s.verdict, "detail": s.detail}
                for s in screening.scans
            ],
            "pdf_signatures_checked_against": str(trust_dir) if trust else None,
            "parties": None
            if parties is None
            else {"sender_level": parties.sender_level,
                  "recipient_levels": sorted(parties.recipient_levels)},
            "rules_skipped_without_directory": [] if parties else policy.limited_rules(),
        }
    )  # fmt: skip
    return EXIT_NO if screening.decision.action in ("hold", "reject") else EXIT_OK


def _parties(directory: Directory, packet: edxml.Packet, sender: str | None) -> rules.Parties:
    """The levels the router would see for a document sent now: its To list, redirects
    followed (the router dates it by the envelope, in UTC)."""
    if sender is None:
        raise DirectoryError(
            ReasonCode.ORGANID_INVALID, "the packet names no sender (From/OrganId): give --sender"
        )
    today = datetime.datetime.now(datetime.UTC).date()
    to = packet.to if isinstance(packet, edxml.DocumentPacket) else ()
    return rules.Parties(
        directory.resolve(sender, today).unit.level,
        frozenset(directory.resolve(o.organ_id, today).unit.level for o in to if o.organ_id),
    )


def register(commands: Subparsers) -> None:
    group = commands.add_parser("policy", help="the content policy (Articles 3, 4, 5.3, 9.2)")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="decide on a document as the router would; exit 1 if held or rejected"
    )
    check.add_argument("--edxml", required=True, metavar="FILE")
    check.add_argument("--attach", nargs="*", default=[], metavar="FILE")
    check.add_argument("--sender", metavar="ORGANID")
    check.add_argument("--policy", metavar="FILE", help="default: the built-in policy")
    check.add_argument(
        "--trust",
        metavar="DIR",
        help="trust store for PDF signatures (default: LIENTHONG_TRUST_DIR when it exists; "
        "without one the signature rules are skipped and the output says so)",
    )
    check.add_argument(
        "--directory",
        metavar="FILE",
        help="unit directory (YAML or CSV) for rules limited to sender or recipient levels; "
        "without it those rules are skipped and listed",
    )
    check.add_argument(
        "--no-scan", action="store_true", help="do not scan for malware (reported not_scanned)"
    )
    check.set_defaults(handler=_check)
