"""`lienthong edxml check FILE…`: does each file read, write back and read the same?"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from lienthong.commands.common import Subparsers, report_verdicts
from schemas import edxml


def check_file(path: Path) -> dict[str, Any]:
    """One JSON-able verdict: parse, write, parse again, and compare."""
    result: dict[str, Any] = {
        "file": str(path),
        "ok": False,
        "kind": None,
        "document_id": None,
        "reason_code": None,
        "attachments": [],
    }
    try:
        packet = edxml.parse(path)
        again = edxml.parse(edxml.write(packet))
    except EdxmlError as exc:
        return {**result, "reason_code": exc.reason.value, "reason": exc.message}
    except OSError as exc:
        return {**result, "reason_code": ReasonCode.FILE_UNREADABLE.value, "reason": str(exc)}
    result.update(
        kind=packet.kind,
        document_id=packet.document_id,
        attachments=[
            {
                "name": a.attachment_name,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "decoded": a.content is not None,
            }
            for a in packet.attachments
        ],
        warnings=[
            f"{ReasonCode.ATTACHMENT_NOT_BASE64.value}: {a.attachment_name or a.content_id}"
            for a in packet.attachments
            if a.content is None
        ],
    )
    if again != packet:
        result["reason_code"] = ReasonCode.EDXML_ROUNDTRIP_MISMATCH.value
        return result
    result["ok"] = True
    return result


async def _check(args: argparse.Namespace, _settings: Settings) -> int:
    return report_verdicts(check_file(Path(name)) for name in args.files)


def register(commands: Subparsers) -> None:
    group = commands.add_parser("edxml", help="edXML packets (QCVN 102:2016)")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="parse and round-trip each file; one JSON line per file"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(handler=_check)
