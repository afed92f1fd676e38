"""`lienthong envelope pack | verify`: signed envelopes as files (Avro single-object form)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from connectors import packing
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from lienthong.commands.common import (
    EXIT_OK,
    Subparsers,
    print_json,
    refusal,
    report_verdicts,
)
from schemas import binding, codec, edxml
from schemas.envelope import EnvelopeBody, StatusBody, decode_signed, encode
from signing import envelope as signatures
from signing import keys
from signing.certificates import Binding, TrustStore, load_certificates


async def _pack(args: argparse.Namespace, settings: Settings) -> int:
    key = keys.load(Path(args.key))
    signer = load_certificates(Path(args.cert).read_bytes(), source=args.cert)[0]
    chain = [signer]
    if args.chain:
        chain += load_certificates(Path(args.chain).read_bytes(), source=args.chain)
    units = Binding().units_of(signer)
    sender = args.sender or (next(iter(units)) if len(units) == 1 else None)
    if sender is None or sender not in units:
        raise Rejected(
            ReasonCode.CERTIFICATE_WRONG_UNIT,
            f"the certificate belongs to {', '.join(sorted(units)) or 'no unit'}; "
            "name the sending unit with --from, one the certificate belongs to",
        )
    body = packing.build_body(
        Path(args.edxml).read_bytes(),
        sender=sender,
        recipients=args.to,
        attachments=[packing.attachment(Path(f)) for f in args.attach],
    )
    registry = codec.Registry.load()
    body_schema, body_bytes = encode(registry, body)
    signed = signatures.sign(body_schema, body_bytes, key, chain, pss=args.pss)
    fingerprint, payload = encode(registry, signed)
    if len(payload) > settings.max_message_bytes:
        raise Rejected(
            ReasonCode.ENVELOPE_TOO_LARGE,
            f"the envelope is {len(payload)} bytes; the exchange carries at most "
            f"{settings.max_message_bytes}",
        )
    Path(args.output).write_bytes(codec.to_single_object(fingerprint, payload))
    print_json(
        {
            "file": args.output,
            "message_id": body.message_id,
            "kind": body.kind,
            "sender": body.sender,
            "recipients": list(body.recipients),
            "document_id": body.document_id,
            "size": len(payload),
        }
    )
    return EXIT_OK


def verify_file(path: Path, trust: TrustStore, registry: codec.Registry) -> dict[str, Any]:
    result: dict[str, Any] = {"file": str(path), "ok": False, "reason_code": None}
    try:
        fingerprint, payload = codec.from_single_object(path.read_bytes())
        verified = signatures.verify(
            decode_signed(registry, fingerprint, payload), trust=trust, registry=registry
        )
        # The edXML must say what the envelope says (who, to whom, which document).
        edxml_bytes = verified.body.edxml
        binding.check(verified.body, edxml.parse(edxml_bytes) if edxml_bytes else None)
    except Rejected as exc:
        return {**result, **refusal(exc)}
    except OSError as exc:
        return {**result, "reason_code": ReasonCode.FILE_UNREADABLE.value, "reason": str(exc)}
    body = verified.body
    signer = verified.chain.signer
    result.update(
        ok=True,
        message_id=body.message_id,
        sender=body.sender,
        created_at=body.created_at.isoformat(),
        signer=signer.subject.rfc4514_string(),
        signer_serial=f"{signer.serial_number:x}",
        personal_certificate=verified.personal,
    )
    if isinstance(body, EnvelopeBody):
        result.update(
            kind=body.kind,
            recipients=list(body.recipients),
            document_id=body.document_id,
            attachments=[
                {"name": a.name, "sha256": a.sha256, "size": a.size} for a in body.attachments
            ],
        )
    elif isinstance(body, StatusBody):
        result.update(kind="status", recipients=[body.recipient], status_code=body.status_code)
    return result


async def _verify(args: argparse.Namespace, _settings: Settings) -> int:
    trust = TrustStore.load(Path(args.trust))
    registry = codec.Registry.load()
    return report_verdicts(verify_file(Path(name), trust, registry) for name in args.files)


def register(commands: Subparsers) -> None:
    group = commands.add_parser("envelope", help="signed Avro envelopes")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    pack = actions.add_parser("pack", help="sign an edXML packet into an envelope file")
    pack.add_argument("--key", required=True, help="the signer's private key (PEM)")
    pack.add_argument("--cert", required=True, help="the signer's certificate")
    pack.add_argument("--chain", help="the issuing CA certificates (PEM)")
    pack.add_argument("--to", nargs="+", required=True, metavar="ORGANID")
    pack.add_argument("--from", dest="sender", metavar="ORGANID")
    pack.add_argument("--edxml", required=True, metavar="FILE")
    pack.add_argument("--attach", nargs="*", default=[], metavar="FILE")
    pack.add_argument("--pss", action="store_true", help="RSA-PSS instead of PKCS#1 v1.5")
    pack.add_argument("-o", "--output", required=True, metavar="OUT")
    pack.set_defaults(handler=_pack)
    verify = actions.add_parser("verify", help="verify envelope files; one JSON verdict each")
    verify.add_argument("--trust", required=True, metavar="DIR", help="the trust-store folder")
    verify.add_argument("files", nargs="+", metavar="FILE")
    verify.set_defaults(handler=_verify)
