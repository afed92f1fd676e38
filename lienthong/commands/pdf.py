"""`lienthong pdf sign | verify`: PAdES signatures on PDF attachments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from lienthong.commands.common import EXIT_OK, Subparsers, print_json, refusal, report_verdicts
from signing import keys, pdf
from signing.certificates import TrustStore, load_certificates


async def _sign(args: argparse.Namespace, _settings: Settings) -> int:
    chain = load_certificates(Path(args.cert).read_bytes(), source=args.cert)[:1]
    if args.chain:
        chain += load_certificates(Path(args.chain).read_bytes(), source=args.chain)
    signed = await pdf.sign_pdf(Path(args.pdf).read_bytes(), keys.load(Path(args.key)), chain)
    Path(args.output).write_bytes(signed)
    print_json({"file": args.output, "signer": chain[0].subject.rfc4514_string()})
    return EXIT_OK


async def _verify_one(path: Path, trust: TrustStore, sender: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"file": str(path), "ok": False, "reason_code": None}
    try:
        verdicts = await pdf.validate_pdf(path.read_bytes(), trust=trust, sender=sender)
    except Rejected as exc:
        return {**result, **refusal(exc)}
    except OSError as exc:
        return {**result, "reason_code": ReasonCode.FILE_UNREADABLE.value, "reason": str(exc)}
    last = verdicts[-1]
    return {
        **result,
        "ok": True,
        "signer": last.signer,
        "units": list(last.units),
        "personal_certificate": last.personal,
        "signed_at": last.signed_at,
        "signatures": [
            {"field": v.field, "kind": v.kind, "signer": v.signer, "units": list(v.units),
             "signed_at": v.signed_at}
            for v in verdicts
        ],
    }  # fmt: skip


async def _verify(args: argparse.Namespace, _settings: Settings) -> int:
    trust = TrustStore.load(Path(args.trust))
    verdicts = [await _verify_one(Path(f), trust, args.sender) for f in args.files]
    return report_verdicts(verdicts)


def register(commands: Subparsers) -> None:
    group = commands.add_parser("pdf", help="PAdES signatures on PDF files")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = actions.add_parser("sign", help="sign a PDF with a unit's or a person's key")
    sign.add_argument("pdf", metavar="IN")
    sign.add_argument("--key", required=True)
    sign.add_argument("--cert", required=True)
    sign.add_argument("--chain")
    sign.add_argument("-o", "--output", required=True, metavar="OUT")
    sign.set_defaults(handler=_sign)
    verify = actions.add_parser("verify", help="check every signature of each PDF; JSON verdicts")
    verify.add_argument("--trust", required=True, metavar="DIR")
    verify.add_argument("--sender", metavar="ORGANID", help="also require this unit's signer")
    verify.add_argument("files", nargs="+", metavar="FILE")
    verify.set_defaults(handler=_verify)
