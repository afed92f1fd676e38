"""Avro by fingerprint: round trips, refusals with reasons, and schema evolution both ways."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest

from kernel.errors import EnvelopeError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas import envelope as e

NOW = datetime.datetime(2026, 11, 24, 8, 30, 15, 123000, tzinfo=datetime.UTC)
BODY = e.EnvelopeBody(
    message_id="7c1f0e1e-0000-4000-8000-000000000001",
    kind="document",
    sender="000.00.00.H62",
    recipients=("000.02.00.H62", "000.03.00.H62"),
    created_at=NOW,
    edxml="<edXML>văn bản</edXML>".encode(),
    document_id="000.00.00.H62,2026/11/20,125/UBND-VP",
    priority=2,
    attachments=(e.AttachmentRef("cv.pdf", "application/pdf", "ab" * 32, 3, b"pdf"),),
    trace=(e.TraceEntry("000.00.00.H62", NOW, "signed"),),
)


@pytest.mark.parametrize(
    "record",
    [
        BODY,
        e.StatusBody("s-1", BODY.message_id, "000.02.00.H62", "000.00.00.H62", "03", NOW),
        e.DeadLetter(
            "d-1", NOW, "lienthong.submit", 0, 42, b"\x00garbage", "decode", "envelope_malformed",
            "cannot decode", key=b"000.00.00.H62", headers=(e.Header("lienthong.schema", None),),
        ),
        e.SignedEnvelope(b"\x01" * 8, b"body", b"sig", "RSA_PSS_SHA256", (b"c1", b"c2")),
    ],
    ids=lambda r: type(r).__name__,
)  # fmt: skip
def test_every_record_round_trips(registry: codec.Registry, record: e.Record) -> None:
    fingerprint, payload = e.encode(registry, record)
    assert registry.name_of(fingerprint).endswith(type(record).__name__)
    decoded = e.from_record(
        type(record), registry.decode(fingerprint, payload, type(record).__name__)
    )
    assert decoded == record


def test_signed_body_opens_to_the_same_body(registry: codec.Registry) -> None:
    body_schema, body = e.encode(registry, BODY)
    signed = e.SignedEnvelope(body_schema, body, b"sig", "ECDSA_P256_SHA256", ())
    fingerprint, payload = e.encode(registry, signed)
    assert e.open_body(registry, e.decode_signed(registry, fingerprint, payload)) == BODY


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(lambda fp, p: (fp, p[:-5]), ReasonCode.ENVELOPE_TRUNCATED, id="truncated"),
        pytest.param(
            lambda fp, p: (fp, p + b"\x00\x01"), ReasonCode.ENVELOPE_MALFORMED, id="trailing"
        ),
        pytest.param(
            lambda fp, p: (b"\xde\xad\xbe\xef" * 2, p),
            ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT,
            id="unknown-fingerprint",
        ),
        pytest.param(lambda fp, p: (fp, b"\xff" * 64), ReasonCode.ENVELOPE_MALFORMED, id="garbage"),
        pytest.param(lambda fp, p: (fp, b""), ReasonCode.ENVELOPE_TRUNCATED, id="empty"),
    ],
)
def test_bad_avro_is_refused_with_its_reason(
    registry: codec.Registry,
    mutate: Callable[[bytes, bytes], tuple[bytes, bytes]],
    reason: ReasonCode,
) -> None:
    fingerprint, payload = mutate(*e.encode(registry, BODY))
    with pytest.raises(EnvelopeError) as caught:
        registry.decode(fingerprint, payload, "EnvelopeBody")
    assert caught.value.reason == reason


def test_encoding_is_strict(registry: codec.Registry) -> None:
    record = e.to_record(BODY)
    del record["sender"]
    with pytest.raises(EnvelopeError, match="cannot encode"):
        registry.encode("EnvelopeBody", record)
    with pytest.raises(EnvelopeError, match="cannot encode"):
        registry.encode("EnvelopeBody", {**e.to_record(BODY), "surprise": 1})


def _v2_schema() -> dict[str, Any]:
    """EnvelopeBody as a later release might have it: one more field, with a default."""
    schema: dict[str, Any] = json.loads((codec.SCHEMA_DIR / "envelope_body.avsc").read_text())
    schema["fields"].append({"name": "language", "type": "string", "default": "vi"})
    return schema


def test_v1_reads_v2_and_v2_reads_v1() -> None:
    v1 = codec.Registry.load()
    v2 = codec.Registry()
    v2.add(json.loads((codec.SCHEMA_DIR / "envelope_body.avsc").read_text()), current=False)
    v2_fingerprint = v2.add(_v2_schema())
    v1.add(_v2_schema(), current=False)  # v1 learns of v2 as a writer schema only
    assert v2_fingerprint != v1.fingerprint("EnvelopeBody")

    fp2, payload2 = v2.encode("EnvelopeBody", {**e.to_record(BODY), "language": "en"})
    read_by_v1 = v1.decode(fp2, payload2, "EnvelopeBody")
    assert "language" not in read_by_v1
    assert e.from_record(e.EnvelopeBody, read_by_v1) == BODY

    fp1, payload1 = v1.encode("EnvelopeBody", e.to_record(BODY))
    read_by_v2 = v2.decode(fp1, payload1, "EnvelopeBody")
    assert read_by_v2["language"] == "vi"
    assert e.from_record(e.EnvelopeBody, read_by_v2) == BODY


def test_single_object_file_form() -> None:
    data = codec.to_single_object(b"\x01" * 8, b"payload")
    assert data[:2] == b"\xc3\x01"
    assert codec.from_single_object(data) == (b"\x01" * 8, b"payload")
    with pytest.raises(EnvelopeError) as caught:
        codec.from_single_object(b"PK\x03\x04 a zip file")
    assert caught.value.reason == ReasonCode.ENVELOPE_MALFORMED
