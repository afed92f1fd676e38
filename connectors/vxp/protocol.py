"""The national axis protocol (VDXP/LGSP, "XroadVnpt"), its pure parts: no I/O here.

A client puts each logical parameter `k` in a header `XroadVnpt-k`, copies all of them into
one JSON object (`XroadVnpt-sign-header`) and signs the exact bytes of that header's value
with HMAC-SHA256 under the secret it shares with the server (`XroadVnpt-hash-header`,
lowercase hex). So the JSON is what is proven, never the loose headers: a parameter is read
from the signed JSON only, and a loose `XroadVnpt-` header that the JSON does not say the
same about is refused (`parameter_unsigned`), since a proxy or an attacker may have added it.

Clients keep parameters of earlier calls in their header map and one timestamp for the life
of their service object: extra parameters are ignored and the timestamp is not checked
(what is sent twice is made harmless by the operations' idempotency instead). Parameter
names are read case-insensitively, as `docId` and `docid` both occur.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from broker.directory.model import check_organ_id
from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode

PREFIX = "/vxp"
HEADER = "xroadvnpt-"
SIGN_HEADER = "xroadvnpt-sign-header"
HASH_HEADER = "xroadvnpt-hash-header"
KEY_HEADER = "xroadvnpt-sign-header-key"
VERSION_HEADER = "xroadvnpt-version"
UNSIGNED_BY_DESIGN = frozenset({SIGN_HEADER, HASH_HEADER, KEY_HEADER, VERSION_HEADER})
"""The protocol's own headers, sent beside the signed JSON rather than in it."""
_HEX_HMAC = re.compile(r"^[0-9a-fA-F]{64}$")
_MULTIPART_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
CRLF = b"\r\n"
OK = "0"
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
"""Times in answers, as edXML writes its timestamps (QCVN 102:2016), in Vietnam's time."""
VIETNAM = datetime.timezone(datetime.timedelta(hours=7))

# Each refusal its own ErrorCode (a number, as clients may parse it); `reason_code` and
# ErrorDesc name the exact rule. Any other rule of the exchange (edXML, statuses, unit codes)
# is RULE_BROKEN, a failure of the service SERVICE_FAILED.
ERROR_CODES: dict[ReasonCode, str] = {
    ReasonCode.CREDENTIALS_MISSING: "1",
    ReasonCode.SYSTEM_UNKNOWN: "2",
    ReasonCode.REQUEST_SIGNATURE_INVALID: "3",
    ReasonCode.UNIT_FORBIDDEN: "4",
    ReasonCode.REQUEST_MALFORMED: "5",
    ReasonCode.PARAMETER_UNSIGNED: "6",
    ReasonCode.BODY_HASH_MISMATCH: "7",
    ReasonCode.NOT_FOUND: "8",
    ReasonCode.METHOD_NOT_ALLOWED: "9",
    ReasonCode.REQUEST_TOO_LARGE: "10",
    ReasonCode.HOST_FORBIDDEN: "11",
    ReasonCode.ORIGIN_FORBIDDEN: "12",
    ReasonCode.UNIT_UNKNOWN: "13",
}
RULE_BROKEN = "20"
SERVICE_FAILED = "50"
HTTP_STATUS: dict[ReasonCode, int] = {
    ReasonCode.CREDENTIALS_MISSING: 401,
    ReasonCode.SYSTEM_UNKNOWN: 401,
    ReasonCode.REQUEST_SIGNATURE_INVALID: 401,
    ReasonCode.UNIT_FORBIDDEN: 403,
    ReasonCode.ORIGIN_FORBIDDEN: 403,
    ReasonCode.HOST_FORBIDDEN: 421,
    ReasonCode.NOT_FOUND: 404,
    ReasonCode.METHOD_NOT_ALLOWED: 405,
    ReasonCode.REQUEST_TOO_LARGE: 413,
}
"""Any other refusal of the caller's input is 400."""


@dataclasses.dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a request claims, before its signature is checked against the system's secret."""

    system_id: str
    params: Mapping[str, str]
    """Parameter name as sent (without `XroadVnpt-`) -> value, from the signed JSON only."""
    signed: bytes
    """The exact bytes of the XroadVnpt-sign-header value, which the HMAC covers."""
    presented: str
    """The XroadVnpt-hash-header value, as sent."""

    __repr__ = object.__repr__  # never the signature in a log line

    def param(self, name: str) -> str | None:
        """A signed parameter whatever the case of its name. Two spellings that disagree
        (a stale `docId` beside a fresh `docid`) cannot be told apart: refused, but only by
        the operation that reads that parameter."""
        values = {v for k, v in self.params.items() if k.lower() == name.lower()}
        if len(values) > 1:
            raise _malformed(
                f"XroadVnpt-sign-header gives {name!r} {len(values)} values in different cases"
            )
        return values.pop() if values else None


def _malformed(message: str) -> Rejected:
    return Rejected(ReasonCode.REQUEST_MALFORMED, message)


def _name(raw: bytes) -> str:
    return raw.decode("latin-1").strip().lower()


def _only(raw_headers: Sequence[tuple[bytes, bytes]], name: str) -> bytes | None:
    values = [value for key, value in raw_headers if _name(key) == name]
    if len(values) > 1:
        raise _malformed(f"the header {name} appears {len(values)} times")
    return values[0] if values else None


def _text(value: object) -> str:
    """A signed value as its header text: strings as they are, other JSON as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_signed(raw_headers: Sequence[tuple[bytes, bytes]]) -> SignedRequest:
    """The signed parameters of a request, or why it cannot be read (nothing is trusted yet)."""
    signed = _only(raw_headers, SIGN_HEADER)
    presented = _only(raw_headers, HASH_HEADER)
    if signed is None or presented is None:
        raise AccessDenied(
            ReasonCode.CREDENTIALS_MISSING,
            "sign the request: send XroadVnpt-sign-header and XroadVnpt-hash-header",
        )
    try:
        value = json.loads(
            signed.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _malformed(f"XroadVnpt-sign-header is not a UTF-8 JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise _malformed("XroadVnpt-sign-header must be a JSON object")
    params: dict[str, str] = {}
    for key, item in value.items():
        if not key.lower().startswith(HEADER) or len(key) == len(HEADER):
            raise _malformed(f"XroadVnpt-sign-header names {key!r}, not an XroadVnpt- header")
        text = _text(item)
        try:  # JSON may escape a lone surrogate, which no database or header can hold
            key.encode("utf-8")
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _malformed(f"{key[:64]!r} carries a lone surrogate, not Unicode text") from None
        params[key[len(HEADER) :]] = text
    request = SignedRequest("", params, signed, presented.decode("latin-1").strip())
    system_id = request.param("systemid")
    if not system_id:
        raise AccessDenied(
            ReasonCode.CREDENTIALS_MISSING, "XroadVnpt-sign-header names no XroadVnpt-systemid"
        )
    return dataclasses.replace(request, system_id=system_id)


def signature(secret: str, signed: bytes) -> str:
    """HMAC-SHA256 of the signed bytes under the shared secret (its UTF-8), lowercase hex."""
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(secret: str, request: SignedRequest) -> None:
    """The signature must be the system's over the exact bytes received, compared in constant
    time; anything else is `request_signature_invalid`."""
    if not _HEX_HMAC.fullmatch(request.presented):
        raise AccessDenied(
            ReasonCode.REQUEST_SIGNATURE_INVALID,
            "XroadVnpt-hash-header must be the 64 hex digits of an HMAC-SHA256",
        )
    expected = signature(secret, request.signed).encode("ascii")
    if not hmac.compare_digest(expected, request.presented.lower().encode("ascii")):
        raise AccessDenied(
            ReasonCode.REQUEST_SIGNATURE_INVALID,
            f"XroadVnpt-hash-header is not system {request.system_id}'s signature of "
            "XroadVnpt-sign-header",
        )


def check_only_signed(request: SignedRequest, raw_headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Every loose `XroadVnpt-` parameter header must say what the signed JSON says."""
    for key, value in raw_headers:
        name = _name(key)
        if not name.startswith(HEADER) or name in UNSIGNED_BY_DESIGN:
            continue
        param = name[len(HEADER) :]
        signed = [v.encode("utf-8") for k, v in request.params.items() if k.lower() == param]
        if not signed:
            raise Rejected(
                ReasonCode.PARAMETER_UNSIGNED,
                f"the header {key.decode('latin-1')} is not in XroadVnpt-sign-header",
            )
        if value.strip() not in signed:
            raise Rejected(
                ReasonCode.PARAMETER_UNSIGNED,
                f"the header {key.decode('latin-1')} differs from its signed value",
            )


def unpadded_hex(digest: bytes) -> str:
    """Hex as the axis's clients write a hash: each byte without its leading zero (0x0a is
    `a`), which is how `Integer.toHexString` renders it."""
    return "".join(format(byte, "x") for byte in digest)


def check_hash_file(document: bytes, declared: str) -> None:
    """`hash-file` is the SHA-256 of the document (without the trailing CRLF), in the
    clients' unpadded hex; the ordinary padded hex is accepted too."""
    digest = hashlib.sha256(document).digest()
    given = declared.strip().lower()
    if given not in (unpadded_hex(digest), digest.hex()):
        raise Rejected(
            ReasonCode.BODY_HASH_MISMATCH,
            f"hash-file {declared!r} is not the SHA-256 of the {len(document)}-byte document",
        )


def strip_crlf(body: bytes) -> bytes:
    """The document: the body without the one CRLF clients add after the file (the file's
    own final newline, if any, stays)."""
    return body[: -len(CRLF)] if body.endswith(CRLF) else body


def check_not_multipart(content_type: str | None, body: bytes) -> None:
    """A multipart content type is tolerated when the body is nevertheless the raw document;
    a real multipart body is refused with what to send instead."""
    if not content_type or not content_type.lower().startswith("multipart/"):
        return
    match = _MULTIPART_BOUNDARY.search(content_type)
    if match is not None and body.startswith(b"--" + match[1].encode("latin-1")):
        raise _malformed("send the edXML as the raw request body, not as multipart parts")


def recipients(value: str) -> list[str]:
    """The `to` parameter: a JSON array of unit codes, as a string."""
    try:
        given = json.loads(value, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _malformed(f"`to` must be a JSON array of unit codes, not {value[:80]!r}") from None
    if not isinstance(given, list) or not given or not all(isinstance(u, str) for u in given):
        raise _malformed("`to` must be a non-empty JSON array of unit codes")
    return [check_organ_id(u.strip()) for u in given]


def stamp(moment: datetime.datetime | None) -> str:
    return moment.astimezone(VIETNAM).strftime(TIME_FORMAT) if moment is not None else ""


def dumps(answer: Mapping[str, Any]) -> str:
    """ASCII JSON (non-ASCII escaped): one client reads sendEdoc's answer as US-ASCII."""
    return json.dumps(answer, ensure_ascii=True)


def success(**fields: Any) -> dict[str, Any]:
    return {"status": "OK", "ErrorCode": OK, "ErrorDesc": "", **fields}


def failure(reason: ReasonCode, message: str, *, service: bool = False) -> dict[str, Any]:
    """A refusal, its ErrorCode and the reason code that names the rule."""
    code = SERVICE_FAILED if service else ERROR_CODES.get(reason, RULE_BROKEN)
    return {
        "status": "FAIL",
        "ErrorCode": code,
        "ErrorDesc": f"{reason.value}: {message}",
        "reason_code": reason.value,
    }
