"""Large attachments by reference (a claim-check) on the real exchange: streamed in over
the connector API, carried as `sha256:` references the sender signs, fetched and checked
by the router (hash, clamd, PDF worker) and by the receiver, streamed out byte-identical.
Every way a sender or the store's writer could cheat is refused with its reason code."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import functools
import hashlib
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors import api, packing
from kernel import claims
from lienthong.samples import minimal_pdf
from schemas import codec, edxml
from schemas.envelope import AttachmentRef, EnvelopeBody, decode_signed, open_body
from signing.identity import Identity
from tests.documents import document
from tests.e2e.apiclient import bearer
from tests.e2e.conftest import COMMUNE_A, DEPARTMENT, PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SCAN = minimal_pdf("Bien ban nghiem thu", scan_side=2200)  # about 4.6 MiB, over the threshold


def _large(exchange: Exchange) -> bytes:
    assert len(SCAN) > exchange.settings.claim_threshold
    return SCAN


def _blob(exchange: Exchange, sha256: str) -> Path:
    return exchange.settings.claims_dir / sha256[:2] / sha256


def _tamper(exchange: Exchange, sha256: str) -> None:
    path = _blob(exchange, sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


async def _registered(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch(
        "SELECT a.reference, a.content, a.size FROM incoming_register r JOIN incoming_attachments"
        " a USING (unit, message_id) WHERE r.message_id = $1",
        message_id,
    )


async def _verdict(exchange: Exchange, message_id: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT verdict, reason_code FROM messages WHERE message_id = $1"
            " AND verdict <> 'routing'",
            message_id,
        )

    return (await exchange.until(probe, what=f"the router's verdict on {message_id}"))[0]


async def _body_on_topic(exchange: Exchange, topic: str, message_id: str) -> EnvelopeBody:
    registry = exchange.connector.registry
    for record in await exchange.records(topic):
        fingerprint = codec.fingerprint_from(list(record.headers or ()))
        body = open_body(registry, decode_signed(registry, fingerprint, record.value or b""))
        if isinstance(body, EnvelopeBody) and body.message_id == message_id:
            return body
    raise AssertionError(f"{message_id} is not on {topic}")


async def test_uploaded_over_http_delivered_and_downloaded_byte_identical(
    exchange: Exchange,
) -> None:
    scan = _large(exchange)
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        base = f"http://127.0.0.1:{port}"

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(scan), 256 * 1024):
                yield scan[start : start + 256 * 1024]

        async with s.post(
            f"{base}/units/{PROVINCE}/attachments", data=streamed(),
            headers={"Content-Type": "application/octet-stream"},
        ) as answer:  # fmt: skip
            assert answer.status == 201, await answer.text()
            claim = await answer.json()
        assert claim == {
            "reference": f"sha256:{hashlib.sha256(scan).hexdigest()}",
            "sha256": hashlib.sha256(scan).hexdigest(),
            "size": len(scan),
        }
        # Another unit cannot send (and so read back) what this one stored, by its hash.
        async with s.post(
            f"{base}/units/{DEPARTMENT}/documents",
            json={
                "to": [COMMUNE_A],
                "edxml": base64.b64encode(document(DEPARTMENT, [COMMUNE_A])).decode(),
                "attachments": [{"name": "x.pdf", "media_type": "application/pdf",
                                 "reference": claim["reference"]}],
            },
        ) as answer:  # fmt: skip
            assert answer.status == 422
            assert (await answer.json())["reason_code"] == "attachment_missing"
        async with s.post(
            f"{base}/units/{PROVINCE}/documents",
            json={
                "to": [COMMUNE_A],
                "edxml": base64.b64encode(document(PROVINCE, [COMMUNE_A])).decode(),
                "attachments": [{"name": "bien-ban.pdf", "media_type": "application/pdf",
                                 "reference": claim["reference"]}],
            },
        ) as answer:  # fmt: skip
            assert answer.status == 201, await answer.text()
            message_id = (await answer.json())["message_id"]

        rows = await exchange.until(
            functools.partial(_registered, exchange, message_id), what="registered"
        )
        assert rows == [{"reference": claim["reference"], "content": None, "size": len(scan)}]
        routed = await _body_on_topic(exchange, exchange.topics.unit(COMMUNE_A), message_id)
        assert routed.attachments[0].content is None  # the record carries the reference only
        scans = await exchange.fetch(
            "SELECT verdict FROM malware_scans WHERE message_id = $1 AND attachment = $2",
            message_id,
            "bien-ban.pdf",
        )
        assert scans == [{"verdict": "clean"}]  # scanned whole, streamed from the spool

        url = f"{base}/units/{COMMUNE_A}/inbox/{message_id}/attachments/0"
        async with s.get(url) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/octet-stream"
            digest = base64.b64encode(hashlib.sha256(scan).digest()).decode()
            assert answer.headers["Repr-Digest"] == f"sha-256=:{digest}:"
            assert await answer.read() == scan

        # Altered in the store after delivery: the download breaks off short, never whole,
        # and a redelivery of the record (its offset not committed) is still a duplicate:
        # a document answered 01 never gets a 02.
        _tamper(exchange, claim["sha256"])
        [record] = [
            r
            for r in await exchange.records(exchange.topics.unit(COMMUNE_A))
            if r.key == message_id.encode()
        ]
        assert await exchange.connector.receive_batch(COMMUNE_A, [record]) == ["duplicate"]
        with pytest.raises(aiohttp.ClientPayloadError):
            async with s.get(url) as answer:
                await answer.read()
        for position in ("9", "²", "1" * 5000):
            async with s.get(
                f"{base}/units/{COMMUNE_A}/inbox/{message_id}/attachments/{position}"
            ) as answer:
                assert answer.status == 404
        async with s.post(
            f"{base}/units/{PROVINCE}/attachments", data=b"x",
            headers={"Content-Type": "text/plain"},
        ) as answer:  # fmt: skip
            assert answer.status == 415


async def test_an_inline_attachment_over_the_threshold_travels_by_reference(
    exchange: Exchange,
) -> None:
    scan = _large(exchange)
    sent, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [COMMUNE_A]), [COMMUNE_A],
        [packing.attachment_of("bien-ban.pdf", "application/pdf", scan)],
    )  # fmt: skip
    [attachment] = sent.attachments
    assert attachment.content is None
    assert attachment.reference == f"sha256:{hashlib.sha256(scan).hexdigest()}"
    assert (await _verdict(exchange, sent.message_id))["verdict"] == "routed"
    await exchange.until(functools.partial(_registered, exchange, sent.message_id), what="reg")


def _signed_by(exchange: Exchange, unit: str) -> Identity:
    return Identity.load(exchange.pki_dir / "units" / unit, unit)


async def _publish(exchange: Exchange, body: EnvelopeBody) -> None:
    headers, value = _signed_by(exchange, body.sender).seal(exchange.connector.registry, body)
    await exchange.connector.producer(body.sender).send_and_wait(
        exchange.topics.submit, value, key=body.sender.encode(), headers=headers
    )


def _crafted(attachment: AttachmentRef) -> EnvelopeBody:
    packet = document(PROVINCE, [COMMUNE_A])
    return EnvelopeBody(
        message_id=str(uuid.uuid4()), kind="document", sender=PROVINCE, recipients=(COMMUNE_A,),
        created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0), edxml=packet,
        document_id=edxml.parse(packet).document_id, attachments=(attachment,),
    )  # fmt: skip


async def test_every_way_to_cheat_with_a_reference_is_refused_with_its_reason(
    exchange: Exchange,
) -> None:
    """Crafted by the sender itself, signed with its own key, published as itself."""
    scan = _large(exchange)
    store = exchange.connector.claims.store

    async def one(content: bytes) -> AsyncIterator[bytes]:
        yield content

    stored = await store.put(one(scan), limit=len(scan))
    tampered = await store.put(one(scan + b"\n"), limit=len(scan) + 1)
    theirs = await store.put(one(scan + b"\n\n"), limit=len(scan) + 2)
    for claim in (stored, tampered):
        await exchange.connector.record_upload(PROVINCE, claim.sha256, claim.size)
    await exchange.connector.record_upload(DEPARTMENT, theirs.sha256, theirs.size)
    other = hashlib.sha256(b"another file").hexdigest()
    honest = AttachmentRef("a.pdf", "application/pdf", stored.sha256, stored.size,
                           reference=stored.reference)  # fmt: skip
    cases = {
        "attachment_missing": dataclasses.replace(
            honest, sha256=other, reference=claims.reference_of(other)
        ),
        "attachment_reference_invalid": dataclasses.replace(
            honest, reference=claims.reference_of(other)
        ),
        "attachment_too_large": dataclasses.replace(
            honest, size=exchange.settings.max_attachment_bytes + 1
        ),
    }
    bodies = {reason: _crafted(attachment) for reason, attachment in cases.items()}
    bodies["attachment_missing (another unit's file)"] = _crafted(
        dataclasses.replace(
            honest, sha256=theirs.sha256, size=theirs.size, reference=theirs.reference
        )
    )
    bodies["attachment_reference_invalid (both)"] = _crafted(
        dataclasses.replace(honest, content=scan)
    )
    bodies["attachment_reference_invalid (neither)"] = _crafted(
        dataclasses.replace(honest, reference=None)
    )
    bodies["attachment_reference_invalid (a path)"] = _crafted(
        dataclasses.replace(honest, reference="sha256:../../pki/router/key.pem")
    )
    bodies["attachment_hash_mismatch (size)"] = _crafted(dataclasses.replace(honest, size=1000))
    _tamper(exchange, tampered.sha256)
    bodies["attachment_hash_mismatch"] = _crafted(
        dataclasses.replace(
            honest, sha256=tampered.sha256, size=tampered.size, reference=tampered.reference
        )
    )
    for body in bodies.values():
        await _publish(exchange, body)
    after = _crafted(honest)
    await _publish(exchange, after)

    for expected, body in bodies.items():
        verdict = await _verdict(exchange, body.message_id)
        assert verdict == {"verdict": "rejected", "reason_code": expected.split(" ")[0]}, expected
        assert not await _registered(exchange, body.message_id)
    assert (await _verdict(exchange, after.message_id))["verdict"] == "routed"
    await exchange.until(functools.partial(_registered, exchange, after.message_id), what="reg")


async def test_the_receiver_refuses_content_altered_after_the_router_passed_it(
    exchange: Exchange,
) -> None:
    """The store is shared: whoever writes it after the router's check is caught again by
    the receiving connector, which answers 02 and registers nothing."""
    scan = _large(exchange)
    digest = hashlib.sha256(scan).hexdigest()
    async with exchange.connector_held_back(COMMUNE_A):
        sent, _ = await exchange.connector.send(
            PROVINCE, document(PROVINCE, [COMMUNE_A]), [COMMUNE_A],
            [packing.attachment_of("bien-ban.pdf", "application/pdf", scan)],
        )  # fmt: skip
        assert (await _verdict(exchange, sent.message_id))["verdict"] == "routed"
        _tamper(exchange, digest)
    refusal = await exchange.refusals(sent.message_id)
    assert refusal[0]["reason_code"] == "attachment_hash_mismatch"
    assert not await _registered(exchange, sent.message_id)


async def test_a_100_mb_attachment_end_to_end_under_3x_its_size_per_process(
    tmp_path: Path,
) -> None:
    """In a process of its own (its peak memory is this flow's alone): uploaded by curl,
    routed, scanned, read by a worker, registered and downloaded byte-identical; no
    process's high-water mark reaches three times the attachment (Domibus documents 3-4x)."""
    out = tmp_path / "claims.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.claims", "--mb", "100", "--out", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), timeout=900)
    assert process.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.read_text())
    assert result["delivered_byte_identical"]
    assert result["attachment_mb"] >= 100
    assert len(result["peak_rss_mb"]) >= 2  # the service and at least one worker
    assert all(ratio < 3 for ratio in result["peak_ratio"].values()), result["peak_rss_mb"]
    # Nothing held whole in the service: the flow raised its high-water mark by far less
    # than the attachment (its start-up baseline is most of the figure above).
    assert result["service_growth_ratio"] < 0.5, result
