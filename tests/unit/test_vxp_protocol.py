"""The axis protocol's pure parts: the signed headers, the HMAC, the unpadded hash, the body
framing and the answers; and the sealing of the systems' shared secrets."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from connectors.vxp import protocol, systems
from kernel.errors import AccessDenied, ConfigurationError, Rejected
from kernel.reasons import ReasonCode

NOW = datetime.datetime.now(datetime.UTC)
SECRET = "A7TKG/r2gOKTEpe1MhWx6zw8O4JfzN0KkCRS6HZY81Ve"


def _headers(params: dict[str, str], secret: str = SECRET) -> list[tuple[bytes, bytes]]:
    """What the deployed Java SDK sends: each parameter loose and in the signed JSON (Gson's
    compact form), the JSON's HMAC in lowercase hex, the keys and the version beside it."""
    signed = json.dumps({f"XroadVnpt-{k}": v for k, v in params.items()}, separators=(",", ":"))
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    return [
        *((f"XroadVnpt-{k}".encode(), v.encode()) for k, v in params.items()),
        (b"XroadVnpt-sign-header-key", ";".join(params).encode()),
        (b"XroadVnpt-sign-header", signed.encode()),
        (b"XroadVnpt-hash-header", digest.encode()),
        (b"XroadVnpt-version", b"3.0.201608"),
        (b"Content-Type", b"application/json"),
    ]


PARAMS = {"systemid": "vxp.saas.03", "timestamp": "20112026T083000+0123", "docId": "m-1"}


def _replace(
    headers: list[tuple[bytes, bytes]], name: bytes, value: bytes
) -> list[tuple[bytes, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


def test_a_request_signed_as_the_sdk_signs_verifies() -> None:
    headers = _headers(PARAMS)
    signed = protocol.read_signed(headers)
    protocol.verify(SECRET, signed)
    protocol.check_only_signed(signed, headers)
    assert signed.system_id == "vxp.saas.03"
    assert signed.param("docid") == signed.param("DOCID") == "m-1"  # whatever its case
    assert signed.param("timestamp") == PARAMS["timestamp"]  # kept, never judged
    assert signed.param("absent") is None


def test_a_wrong_secret_or_a_tampered_sign_header_is_refused() -> None:
    with pytest.raises(AccessDenied) as wrong:
        protocol.verify("another secret", protocol.read_signed(_headers(PARAMS)))
    assert wrong.value.reason is ReasonCode.REQUEST_SIGNATURE_INVALID
    headers = _headers(PARAMS)
    signed = dict(headers)[b"XroadVnpt-sign-header"]
    for tampered in (signed.replace(b"m-1", b"m-2"), signed.replace(b":", b": ", 1)):
        request = protocol.read_signed(_replace(headers, b"XroadVnpt-sign-header", tampered))
        with pytest.raises(AccessDenied) as caught:
            protocol.verify(SECRET, request)
        assert caught.value.reason is ReasonCode.REQUEST_SIGNATURE_INVALID


def test_the_hmac_is_compared_as_hex_whatever_its_case() -> None:
    headers = _headers(PARAMS)
    upper = dict(headers)[b"XroadVnpt-hash-header"].upper()
    protocol.verify(
        SECRET, protocol.read_signed(_replace(headers, b"XroadVnpt-hash-header", upper))
    )
    for garbled in (b"", b"zz" * 32, b"ab" * 31, "é".encode() * 32):
        request = protocol.read_signed(_replace(headers, b"XroadVnpt-hash-header", garbled))
        with pytest.raises(AccessDenied) as caught:
            protocol.verify(SECRET, request)
        assert caught.value.reason is ReasonCode.REQUEST_SIGNATURE_INVALID


def test_the_signature_covers_the_exact_bytes_received_non_ascii_included() -> None:
    params = {**PARAMS, "note": "Văn bản"}
    signed = json.dumps({f"XroadVnpt-{k}": v for k, v in params.items()}, ensure_ascii=False)
    digest = hmac.new(SECRET.encode(), signed.encode("utf-8"), hashlib.sha256).hexdigest()
    request = protocol.read_signed(
        [(b"XroadVnpt-sign-header", signed.encode()), (b"XroadVnpt-hash-header", digest.encode())]
    )
    protocol.verify(SECRET, request)
    assert request.params["note"] == "Văn bản"


def test_a_loose_parameter_the_signature_does_not_cover_is_refused() -> None:
    headers = _headers(PARAMS)
    signed = protocol.read_signed(headers)
    for extra in (
        [*headers, (b"XroadVnpt-from", b"000.00.00.H62")],  # not signed at all
        _replace(headers, b"XroadVnpt-docId", b"m-2"),  # signed, but says otherwise
        _replace(headers, b"XroadVnpt-systemid", b"another"),
    ):
        with pytest.raises(Rejected) as caught:
            protocol.check_only_signed(signed, extra)
        assert caught.value.reason is ReasonCode.PARAMETER_UNSIGNED
    # A signed parameter sent without its loose header, and other headers, are fine.
    protocol.check_only_signed(signed, [(k, v) for k, v in headers if k != b"XroadVnpt-docId"])
    protocol.check_only_signed(signed, [*headers, (b"User-Agent", b"JAVASDKAgent/1.0.0")])


def test_stale_and_extra_signed_parameters_are_tolerated() -> None:
    params = {**PARAMS, "to": '["000.02.00.H62"]', "status": "done", "pageSize": "20"}
    headers = _headers(params)
    signed = protocol.read_signed(headers)
    protocol.verify(SECRET, signed)
    protocol.check_only_signed(signed, headers)
    assert signed.param("pagesize") == "20"


def test_two_spellings_that_disagree_are_refused_only_where_read() -> None:
    """A stale `docId` beside a fresh `docid`: which is meant cannot be known."""
    headers = _headers({**PARAMS, "docid": "m-2"})
    signed = protocol.read_signed(headers)
    protocol.verify(SECRET, signed)
    protocol.check_only_signed(signed, headers)  # each loose header says a signed value
    assert signed.param("status") is None
    with pytest.raises(Rejected) as caught:
        signed.param("docId")
    assert caught.value.reason is ReasonCode.REQUEST_MALFORMED
    agreeing = protocol.read_signed(_headers({**PARAMS, "docid": "m-1"}))
    assert agreeing.param("DocId") == "m-1"


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        (None, ReasonCode.CREDENTIALS_MISSING),
        (b"not json", ReasonCode.REQUEST_MALFORMED),
        (b"\xff\xfe", ReasonCode.REQUEST_MALFORMED),
        (b'["XroadVnpt-systemid"]', ReasonCode.REQUEST_MALFORMED),
        (b'{"systemid": "x"}', ReasonCode.REQUEST_MALFORMED),
        (b'{"XroadVnpt-": "x"}', ReasonCode.REQUEST_MALFORMED),
        (b'{"XroadVnpt-systemid": "a", "XroadVnpt-systemid": "a"}', ReasonCode.REQUEST_MALFORMED),
        (b'{"XroadVnpt-systemid": "a", "XroadVnpt-SystemId": "b"}', ReasonCode.REQUEST_MALFORMED),
        (b'{"XroadVnpt-n": NaN, "XroadVnpt-systemid": "a"}', ReasonCode.REQUEST_MALFORMED),
        (b'{"XroadVnpt-docId": "m"}', ReasonCode.CREDENTIALS_MISSING),
        (b'{"XroadVnpt-systemid": ""}', ReasonCode.CREDENTIALS_MISSING),
        (b'{"XroadVnpt-systemid": "\\ud800"}', ReasonCode.REQUEST_MALFORMED),
        (
            b'{"XroadVnpt-systemid": "a", "XroadVnpt-docId": "m\\udfff"}',
            ReasonCode.REQUEST_MALFORMED,
        ),
        (b'{"XroadVnpt-systemid": "a", "XroadVnpt-\\ud800": "m"}', ReasonCode.REQUEST_MALFORMED),
    ],
)
def test_unreadable_signed_headers_say_why(signed: bytes | None, reason: ReasonCode) -> None:
    headers = [(b"XroadVnpt-hash-header", b"00" * 32)]
    if signed is not None:
        headers.append((b"XroadVnpt-sign-header", signed))
    with pytest.raises((AccessDenied, Rejected)) as caught:
        protocol.read_signed(headers)
    assert caught.value.reason is reason


def test_a_signed_header_sent_twice_is_refused() -> None:
    headers = _headers(PARAMS)
    doubled = [*headers, (b"xroadvnpt-SIGN-HEADER", dict(headers)[b"XroadVnpt-sign-header"])]
    with pytest.raises(Rejected) as caught:
        protocol.read_signed(doubled)
    assert caught.value.reason is ReasonCode.REQUEST_MALFORMED


def test_non_string_signed_values_read_as_their_json_text() -> None:
    signed = b'{"XroadVnpt-systemid": "a", "XroadVnpt-pageSize": 20, "XroadVnpt-x": true}'
    request = protocol.read_signed(
        [(b"XroadVnpt-sign-header", signed), (b"XroadVnpt-hash-header", b"00" * 32)]
    )
    assert (request.param("pagesize"), request.param("x")) == ("20", "true")


def test_the_hash_file_is_unpadded_hex() -> None:
    digest = bytes([0x0A, 0x00, 0xFF, 0x10, *range(28)])
    assert protocol.unpadded_hex(digest).startswith("a0ff10")
    document = b"<edXML/>\n"
    full = hashlib.sha256(document).digest()
    unpadded = "".join(format(b, "x") for b in full)
    protocol.check_hash_file(document, unpadded)
    protocol.check_hash_file(document, full.hex().upper())  # padded hex, any case, too
    for wrong in (hashlib.sha256(document + b"\r\n").hexdigest(), "", "0"):
        with pytest.raises(Rejected) as caught:
            protocol.check_hash_file(document, wrong)
        assert caught.value.reason is ReasonCode.BODY_HASH_MISMATCH


def test_exactly_one_trailing_crlf_is_stripped() -> None:
    assert protocol.strip_crlf(b"<x/>\r\n") == b"<x/>"
    assert protocol.strip_crlf(b"<x/>\n\r\n") == b"<x/>\n"  # the file's own newline stays
    assert protocol.strip_crlf(b"<x/>\r\n\r\n") == b"<x/>\r\n"
    assert protocol.strip_crlf(b"<x/>") == b"<x/>"


def test_a_multipart_body_is_refused_but_a_raw_one_under_its_type_is_not() -> None:
    protocol.check_not_multipart("multipart/form-data; boundary=abc", b"<?xml?>")
    protocol.check_not_multipart("application/octet-stream", b"--abc\r\n")
    with pytest.raises(Rejected) as caught:
        protocol.check_not_multipart('multipart/form-data; boundary="abc"', b"--abc\r\nx")
    assert caught.value.reason is ReasonCode.REQUEST_MALFORMED


def test_to_is_a_json_array_of_unit_codes() -> None:
    assert protocol.recipients('["000.02.00.H62", " 000.03.00.H62"]') == [
        "000.02.00.H62",
        "000.03.00.H62",
    ]
    for bad in ("000.02.00.H62", "[]", "[1]", '{"a": 1}', "[NaN]"):
        with pytest.raises(Rejected) as caught:
            protocol.recipients(bad)
        assert caught.value.reason is ReasonCode.REQUEST_MALFORMED, bad
    with pytest.raises(Rejected) as invalid:
        protocol.recipients('["not a code"]')
    assert invalid.value.reason is ReasonCode.ORGANID_INVALID


def test_answers_are_ascii_and_each_refusal_has_its_own_code() -> None:
    text = protocol.dumps(protocol.success(data=[{"name": "UBND tỉnh Vĩnh Long"}]))
    assert text.isascii()
    assert json.loads(text)["data"][0]["name"] == "UBND tỉnh Vĩnh Long"
    assert json.loads(text)["ErrorCode"] == "0"
    kinds = [
        ReasonCode.REQUEST_SIGNATURE_INVALID,
        ReasonCode.SYSTEM_UNKNOWN,
        ReasonCode.UNIT_FORBIDDEN,
        ReasonCode.REQUEST_MALFORMED,
        ReasonCode.PARAMETER_UNSIGNED,
        ReasonCode.CREDENTIALS_MISSING,
    ]
    codes = [protocol.failure(reason, "x")["ErrorCode"] for reason in kinds]
    assert len(set(codes)) == len(codes)
    assert "0" not in codes
    refused = protocol.failure(ReasonCode.EDXML_MALFORMED, "bad")
    assert (refused["status"], refused["reason_code"]) == ("FAIL", "edxml_malformed")
    assert refused["ErrorDesc"].startswith("edxml_malformed")


# The sealed secrets --------------------------------------------------------------------------


def test_a_secret_is_sealed_to_its_system(tmp_path: Path) -> None:
    key = systems.ensure_key(tmp_path / "pki" / "vxp" / "secrets.key")
    sealed = systems.seal(key, "vxp.a", SECRET)
    assert SECRET.encode() not in sealed
    system = systems.System("vxp.a", "", ("000.00.00.H62",), created_at=NOW)
    assert systems.unseal(key, systems.Sealed(system, sealed, key.id)) == SECRET
    # Copied onto another system's row, it does not open.
    other = systems.System("vxp.b", "", ("000.00.00.H62",), created_at=NOW)
    with pytest.raises(ConfigurationError, match="does not open"):
        systems.unseal(key, systems.Sealed(other, sealed, key.id))
    with pytest.raises(ConfigurationError, match="sealed with key"):
        systems.unseal(key, systems.Sealed(system, sealed, "another-key"))


def test_the_sealing_key_is_private_and_made_once(tmp_path: Path) -> None:
    path = tmp_path / "pki" / "vxp" / "secrets.key"
    first = systems.ensure_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert systems.ensure_key(path).key == first.key
    assert systems.load_key(path).id == first.id
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    path.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="32-byte"):
        systems.load_key(path)
    with pytest.raises(ConfigurationError, match="vxp credentials create"):
        systems.load_key(tmp_path / "absent.key")


@pytest.mark.parametrize("system_id", ["", "a b", "-x", "a" * 65, "x/y", "ừ"])
def test_system_ids_are_plain(system_id: str) -> None:
    with pytest.raises(Rejected) as caught:
        systems.check_system_id(system_id)
    assert caught.value.reason is ReasonCode.SYSTEM_ID_INVALID
    for good in ("vxp.saas.03", "000.00.00.H62", "lt.0a1b2c"):
        assert systems.check_system_id(good) == good
