"""Who may say what, attacked as a dishonest unit would: holding only its own valid key,
it signs envelopes whose edXML, statuses, times or headers claim what is not its to claim.

Each attack is published the way an attacker would (its own Kafka principal, its own key,
bytes it chose) and must be refused with its reason code; nothing is registered or taken
as current state; no router-signed notice reaches a third party; and the honest flow
around it (the real receipt, the real document) still goes through.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from broker import replay
from connectors import packing, registers
from kernel import database
from kernel.errors import ConfigurationError, Rejected
from kernel.reasons import ReasonCode
from schemas import codec, edxml
from schemas.edxml.model import Business, Organization, ResponseFor, StatusPacket
from schemas.envelope import (
    Body,
    EnvelopeBody,
    StatusBody,
    decode_signed,
    notice_id,
    open_body,
    status_id,
)
from signing.identity import Identity
from tests.documents import DOCUMENT, document
from tests.e2e.conftest import (
    CLOSED_DISTRICT,
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    HOSTED,
    PROVINCE,
    Exchange,
    exchange_with,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _identity(exchange: Exchange, unit: str) -> Identity:
    return Identity.load(exchange.pki_dir / "units" / unit, unit)


async def _publish(exchange: Exchange, body: Body, signer: Identity | None = None) -> None:
    """Sign `body` with the sender's own key (or `signer`) and publish it as the sender."""
    identity = signer or _identity(exchange, body.sender)
    headers, value = identity.seal(exchange.connector.registry, body)
    await exchange.connector.producer(body.sender).send_and_wait(
        exchange.topics.submit, value, key=body.sender.encode(), headers=headers
    )


def _crafted(sender: str, recipients: list[str], packet: bytes, **changes: Any) -> EnvelopeBody:
    """An envelope body as an attacker writes it: no check of the packet by the connector."""
    parsed = edxml.parse(packet)
    body = EnvelopeBody(
        message_id=str(uuid.uuid4()), kind="document", sender=sender,
        recipients=tuple(recipients), created_at=NOW, edxml=packet,
        document_id=parsed.document_id,
    )  # fmt: skip
    return dataclasses.replace(body, **changes)


def _status(sender: str, about: str, to: str, code: str, **changes: Any) -> StatusBody:
    body = StatusBody(
        message_id=status_id(about, sender, code, to=to if code == "13" else None),
        responds_to=about, sender=sender, recipient=to, status_code=code,
        created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
    )  # fmt: skip
    return dataclasses.replace(body, **changes)


async def _verdict(exchange: Exchange, message_id: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT verdict, reason_code, sender FROM messages WHERE message_id = $1"
            " AND verdict <> 'routing'",
            message_id,
        )

    return (await exchange.until(probe, what=f"the router's verdict on {message_id}"))[0]


async def _dead_letter(exchange: Exchange, message_id: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT reason_code, stage FROM dead_letters WHERE message_id = $1", message_id
        )

    return (await exchange.until(probe, what=f"a dead letter for {message_id}"))[0]


async def _refused(exchange: Exchange, body: Body, reason: ReasonCode) -> None:
    """Refused with `reason`, told to its verified sender only, registered nowhere.

    The attacker published past its connector, so the router's 02 reaches the attacker's
    topic about a message its connector never sent, and is kept aside there: that is where
    the notice went, and the only place."""
    if reason is ReasonCode.MESSAGE_ID_INVALID:
        # Dead-lettered, but no ledger row under an id that is not the sender's to occupy.
        letter = await _dead_letter(exchange, body.message_id)
        assert letter["reason_code"] == reason.value
        assert not await exchange.fetch(
            "SELECT 1 FROM messages WHERE message_id = $1", body.message_id
        )
    else:
        verdict = await _verdict(exchange, body.message_id)
        assert (verdict["verdict"], verdict["reason_code"]) == ("rejected", reason.value)
    notice = notice_id(body.message_id, "*", "02")
    told = await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT unit FROM incoming_quarantine WHERE message_id = $1", notice,
        ),
        what=f"the router's 02 about {body.message_id} at its sender",
    )  # fmt: skip
    assert told == [{"unit": body.sender}]
    assert (
        await exchange.fetch("SELECT 1 FROM incoming_quarantine WHERE unit <> $1", body.sender)
        == []
    )
    assert (
        await exchange.fetch(
            "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id
        )
        == []
    )
    await _no_notice_to_third_parties(exchange, frozenset({body.sender}))


async def _no_notice_to_third_parties(
    exchange: Exchange, senders: frozenset[str] = frozenset()
) -> None:
    """No router-signed notice sits on any unit's topic but the verified senders': every
    topic is read to its end, so a notice produced before the ledger row is seen."""
    consumer = AIOKafkaConsumer(**exchange.endpoints.kafka.aiokafka(), enable_auto_commit=False)
    await consumer.start()
    try:
        for unit in set(HOSTED) - senders:
            partitions = [
                TopicPartition(exchange.topics.unit(unit), p)
                for p in consumer.partitions_for_topic(exchange.topics.unit(unit)) or {0}
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                    for record in records:
                        body = _notice(exchange, record)
                        assert body is None or body.sender != exchange.settings.router_id, (
                            f"a router notice about {body.responds_to} reached {unit}"
                        )
    finally:
        await consumer.stop()


def _notice(exchange: Exchange, record: ConsumerRecord) -> StatusBody | None:
    """The status a unit-topic record carries, if it is one (read without verifying)."""
    try:
        envelope = decode_signed(
            exchange.connector.registry,
            codec.fingerprint_from(list(record.headers or ())),
            record.value or b"",
        )
        body = open_body(exchange.connector.registry, envelope)
    except Rejected:
        return None
    return body if isinstance(body, StatusBody) else None


async def _honest_flow_still_works(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await _delivered(exchange, COMMUNE_A, body.message_id)
    await _state(exchange, body.message_id, COMMUNE_A, "01")


async def _delivered(exchange: Exchange, unit: str, message_id: str) -> None:
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM incoming_register WHERE unit = $1 AND message_id = $2",
            unit, message_id,
        ),
        what=f"{message_id} registered by {unit}",
    )  # fmt: skip


async def _state(exchange: Exchange, message_id: str, recipient: str, state: str) -> None:
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM deliveries WHERE message_id = $1 AND recipient = $2 AND state = $3",
            message_id, recipient, state,
        ),
        what=f"the ledger's delivery of {message_id} to {recipient} at {state}",
    )  # fmt: skip


async def _sent_to_a(exchange: Exchange) -> EnvelopeBody:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await _delivered(exchange, COMMUNE_A, body.message_id)
    await _state(exchange, body.message_id, COMMUNE_A, "01")
    return body


# Document ↔ envelope binding --------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("another-author", ReasonCode.EDXML_SENDER_MISMATCH),
        ("recipient-not-in-to", ReasonCode.EDXML_RECIPIENT_MISMATCH),
        ("document-id-of-another-organ", ReasonCode.DOCUMENT_ID_WRONG_ORGAN),
        ("document-id-differs", ReasonCode.DOCUMENT_ID_MISMATCH),
        ("kind-is-not-the-business-type", ReasonCode.KIND_MISMATCH),
        ("message-id-not-random", ReasonCode.MESSAGE_ID_INVALID),
    ],
)
async def test_an_edxml_that_contradicts_its_envelope_is_refused(
    exchange: Exchange, attack: str, reason: ReasonCode
) -> None:
    own = document(DEPARTMENT, [COMMUNE_A])
    body = {
        # The Department signs; the packet says the Provincial People's Committee wrote it.
        "another-author": lambda: _crafted(DEPARTMENT, [COMMUNE_A], DOCUMENT),
        "recipient-not-in-to": lambda: _crafted(DEPARTMENT, [COMMUNE_B], own),
        "document-id-of-another-organ": lambda: _crafted(
            DEPARTMENT, [COMMUNE_A], own.replace(b">000.00.02.H62,", b">000.00.00.H62,")
        ),
        "document-id-differs": lambda: _crafted(
            DEPARTMENT, [COMMUNE_A], own, document_id="000.00.02.H62,2026/11/20,1/X"
        ),
        "kind-is-not-the-business-type": lambda: _crafted(
            DEPARTMENT, [COMMUNE_A], own, kind="revoke"
        ),
        "message-id-not-random": lambda: _crafted(
            DEPARTMENT, [COMMUNE_A], own,
            message_id=status_id(str(uuid.uuid4()), COMMUNE_A, "01"),
        ),
    }[attack]()  # fmt: skip
    await _publish(exchange, body)
    await _refused(exchange, body, reason)
    await _honest_flow_still_works(exchange)


async def test_the_connector_refuses_to_send_what_the_router_would_refuse(
    exchange: Exchange,
) -> None:
    """The sender learns before anything is numbered, not from a 02 afterwards."""
    with pytest.raises(Rejected) as refused:
        await exchange.connector.send(DEPARTMENT, DOCUMENT, [COMMUNE_A])
    assert refused.value.reason is ReasonCode.EDXML_SENDER_MISMATCH
    assert await exchange.fetch("SELECT 1 FROM outgoing_register WHERE unit = $1", DEPARTMENT) == []


async def test_a_follow_up_of_a_document_the_signer_never_sent_is_refused(
    exchange: Exchange,
) -> None:
    original = await _sent_to_a(exchange)
    assert original.document_id
    assert original.document_id.startswith(PROVINCE)
    revoke = Business(business_doc_type=1, business_doc_reason="thu hồi")

    def follow_up(sender: str, document_id: str) -> EnvelopeBody:
        packet = edxml.parse(document(sender, [COMMUNE_A]))
        assert isinstance(packet, edxml.DocumentPacket)
        changed = dataclasses.replace(packet, document_id=document_id, business=revoke)
        return _crafted(sender, [COMMUNE_A], edxml.write(changed), kind="revoke")

    # The Department revokes the province's document: the id names another organ.
    theirs = follow_up(DEPARTMENT, original.document_id)
    await _publish(exchange, theirs)
    await _refused(exchange, theirs, ReasonCode.DOCUMENT_ID_WRONG_ORGAN)
    # ... or a document of its own form that it never had routed.
    invented = follow_up(DEPARTMENT, "000.00.02.H62,2026/11/20,999/SNV")
    await _publish(exchange, invented)
    await _refused(exchange, invented, ReasonCode.FOLLOW_UP_UNKNOWN_DOCUMENT)
    # The province's own revoke of its own document goes through.
    genuine, _ = await exchange.connector.follow_up(
        PROVINCE, original.message_id, "revoke", reason="ban hành nhầm"
    )
    await _delivered(exchange, COMMUNE_A, genuine.message_id)


async def test_an_embedded_attachment_passes_the_carried_attachments_checks(
    exchange: Exchange,
) -> None:
    packet = edxml.parse(document(PROVINCE, [COMMUNE_A]))
    assert isinstance(packet, edxml.DocumentPacket)
    exe = edxml.Attachment(
        content_id="1", attachment_name="setup.exe",
        content_type="application/x-msdownload", content=b"MZ\x90\x00",
    )  # fmt: skip
    body = packing.build_body(
        edxml.write(dataclasses.replace(packet, attachments=(exe,))),
        sender=PROVINCE, recipients=[COMMUNE_A],
    )  # fmt: skip
    await _publish(exchange, body)
    await _refused(exchange, body, ReasonCode.ATTACHMENT_TYPE_NOT_ALLOWED)


# Status authority ----------------------------------------------------------------------


async def test_a_status_from_a_unit_the_message_never_reached_is_refused(
    exchange: Exchange,
) -> None:
    sent = await _sent_to_a(exchange)
    for code in ("06", "02"):
        forged = _status(COMMUNE_B, sent.message_id, PROVINCE, code)
        await _publish(exchange, forged)
        await _refused(exchange, forged, ReasonCode.STATUS_NOT_ENTITLED)
    statuses = await exchange.fetch(
        "SELECT recipient FROM outgoing_status WHERE message_id = $1", sent.message_id
    )
    assert {s["recipient"] for s in statuses} == {COMMUNE_A}
    await _state(exchange, sent.message_id, COMMUNE_A, "01")


async def test_a_status_sent_to_anyone_but_the_messages_sender_is_refused(
    exchange: Exchange,
) -> None:
    sent = await _sent_to_a(exchange)
    misdirected = _status(COMMUNE_A, sent.message_id, DEPARTMENT, "06")
    await _publish(exchange, misdirected)
    await _refused(exchange, misdirected, ReasonCode.STATUS_NOT_ENTITLED)


async def test_nobody_can_take_the_id_of_the_real_receipt(exchange: Exchange) -> None:
    """A unit that learned M's id (it is a recipient too) forges the id A's 01 will carry:
    refused, and A's own 01 is recorded, not dropped as a duplicate."""
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A, COMMUNE_B])
    await _delivered(exchange, COMMUNE_B, body.message_id)
    taken = _status(
        COMMUNE_B, body.message_id, PROVINCE, "06",
        message_id=status_id(body.message_id, COMMUNE_A, "06"),
    )  # fmt: skip
    await _publish(exchange, taken)
    await _refused(exchange, taken, ReasonCode.MESSAGE_ID_INVALID)
    await _delivered(exchange, COMMUNE_A, body.message_id)
    await exchange.connector.post_status(COMMUNE_A, body.message_id, "06")
    await _state(exchange, body.message_id, COMMUNE_A, "06")
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM outgoing_status WHERE message_id = $1 AND recipient = $2"
            " AND status_code = '06'",
            body.message_id, COMMUNE_A,
        ),
        what="A's real 06 reached the province",
    )  # fmt: skip


async def test_a_status_about_an_unknown_message_is_refused(exchange: Exchange) -> None:
    unknown = _status(COMMUNE_A, str(uuid.uuid4()), PROVINCE, "01")
    await _publish(exchange, unknown)
    await _refused(exchange, unknown, ReasonCode.STATUS_UNKNOWN_MESSAGE)


async def test_recall_answers_come_only_after_a_recall_and_a_recall_only_from_the_sender(
    exchange: Exchange,
) -> None:
    sent = await _sent_to_a(exchange)
    unasked = _status(COMMUNE_A, sent.message_id, PROVINCE, "15")
    await _publish(exchange, unasked)
    await _refused(exchange, unasked, ReasonCode.STATUS_NOT_ENTITLED)
    by_recipient = _status(COMMUNE_A, sent.message_id, PROVINCE, "13")
    await _publish(exchange, by_recipient)
    await _refused(exchange, by_recipient, ReasonCode.STATUS_NOT_ENTITLED)
    # The sender's recall, made through its connector, reaches A, which may then agree.
    with pytest.raises(Rejected) as refused:
        await exchange.connector.post_status(COMMUNE_A, sent.message_id, "16")
    assert refused.value.reason is ReasonCode.STATUS_NOT_ENTITLED
    await exchange.connector.recall(PROVINCE, sent.message_id, reason="ban hành nhầm")
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM incoming_register WHERE message_id = $1"
            " AND recall_requested_at IS NOT NULL",
            sent.message_id,
        ),
        what="the recall request noted on A's register",
    )  # fmt: skip
    await exchange.connector.post_status(COMMUNE_A, sent.message_id, "15")
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM outgoing_status WHERE message_id = $1 AND status_code = '15'",
            sent.message_id,
        ),
        what="A's agreement reached the province",
    )  # fmt: skip


async def test_a_status_packet_answering_for_another_document_is_refused(
    exchange: Exchange,
) -> None:
    sent = await _sent_to_a(exchange)
    packet = StatusPacket(
        from_=Organization(organ_id=COMMUNE_A),
        response_for=(ResponseFor(organ_id=PROVINCE, document_id="000.00.00.H62,2020/01/01,1/X"),),
        status_code=edxml.StatusCode.ACCEPTED,
    )  # fmt: skip
    status = _status(COMMUNE_A, sent.message_id, PROVINCE, "03", edxml=edxml.write(packet))
    await _publish(exchange, status)
    await _refused(exchange, status, ReasonCode.STATUS_RESPONSE_MISMATCH)


async def test_delivery_states_only_move_forward_everywhere(exchange: Exchange) -> None:
    sent = await _sent_to_a(exchange)
    await exchange.connector.post_status(COMMUNE_A, sent.message_id, "06")
    await _state(exchange, sent.message_id, COMMUNE_A, "06")
    for code in ("04", "03"):
        with pytest.raises(Rejected) as refused:
            await exchange.connector.post_status(COMMUNE_A, sent.message_id, code)
        assert refused.value.reason is ReasonCode.STATUS_BACKWARDS
    # Crafted past the connector, signed with A's own key: the router refuses it too and
    # keeps it on the timeline.
    backwards = _status(COMMUNE_A, sent.message_id, PROVINCE, "04")
    await _publish(exchange, backwards)
    await _refused(exchange, backwards, ReasonCode.STATUS_BACKWARDS)
    timeline = await exchange.fetch(
        "SELECT state, reason_code FROM delivery_events WHERE message_id = $1"
        " AND recipient = $2 ORDER BY id",
        sent.message_id, COMMUNE_A,
    )  # fmt: skip
    assert {"state": "04", "reason_code": "status_backwards"} in timeline
    await _state(exchange, sent.message_id, COMMUNE_A, "06")
    register = await exchange.fetch(
        "SELECT status FROM incoming_register WHERE message_id = $1", sent.message_id
    )
    assert register == [{"status": "06"}]
    async with exchange.connector.pool.acquire() as conn:
        entry = await registers.outgoing_entry(conn, PROVINCE, sent.message_id)
    assert entry is not None
    assert entry["states"] == {COMMUNE_A: "06"}


# The router's voice ----------------------------------------------------------------------


async def test_an_unauthenticated_envelope_gets_no_router_signed_word(exchange: Exchange) -> None:
    """Signed by a key no Government CA issued, naming the province as sender and a real
    message's id: dead-lettered and counted, no 02 to anyone, the real message untouched."""
    sent = await _sent_to_a(exchange)
    stranger = exchange.pki.__class__().unit(PROVINCE)
    forged = _crafted(PROVINCE, [COMMUNE_A], DOCUMENT, message_id=sent.message_id)
    await _publish(exchange, forged, Identity(PROVINCE, stranger.key, stranger.chain))
    letter = await _dead_letter_with(exchange, "certificate_untrusted")
    assert letter["stage"] == "authenticate"
    verdict = await _verdict(exchange, sent.message_id)
    assert verdict["verdict"] == "routed"
    assert verdict["reason_code"] is None
    assert (
        await exchange.fetch(
            "SELECT 1 FROM outgoing_status WHERE message_id = $1 AND status_code = '02'",
            sent.message_id,
        )
        == []
    )
    await _no_notice_to_third_parties(exchange)
    await _honest_flow_still_works(exchange)


async def _dead_letter_with(exchange: Exchange, reason: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT reason_code, stage, message_id FROM dead_letters WHERE reason_code = $1",
            reason,
        )

    return (await exchange.until(probe, what=f"a dead letter {reason}"))[0]


async def test_the_router_will_not_speak_as_a_unit_of_the_directory(
    settings: Any, services: Any, tmp_path: Any
) -> None:
    with pytest.raises(ConfigurationError, match="is a unit of the directory"):
        async with exchange_with(settings, services, tmp_path, router_id=DEPARTMENT):
            pass


async def test_headers_the_router_sets_are_not_the_senders_to_set(exchange: Exchange) -> None:
    body = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = _identity(exchange, PROVINCE).seal(exchange.connector.registry, body)
    headers += [(codec.PAPER_HEADER, b"1"), (codec.HOPS_HEADER, CLOSED_DISTRICT.encode())]
    await exchange.connector.producer(PROVINCE).send_and_wait(
        exchange.topics.submit, value, key=PROVINCE.encode(), headers=headers
    )
    await _delivered(exchange, COMMUNE_A, body.message_id)
    entry = await exchange.fetch(
        "SELECT paper_copy_required, redirected_from FROM incoming_register WHERE message_id = $1",
        body.message_id,
    )
    assert entry == [{"paper_copy_required": False, "redirected_from": None}]


async def test_the_receiving_connector_rechecks_the_binding(exchange: Exchange) -> None:
    """Even a record the router endorsed (a router key misused, a router defect) is not
    registered when its edXML contradicts its envelope."""
    body = _crafted(DEPARTMENT, [COMMUNE_A], DOCUMENT)
    headers, value = _identity(exchange, DEPARTMENT).seal(exchange.connector.registry, body)
    headers = [*headers, exchange.router_endorsement(value, body.message_id, COMMUNE_A)]
    producer = exchange.router.producer
    await producer.send_and_wait(
        exchange.topics.unit(COMMUNE_A), value, key=body.message_id.encode(), headers=headers
    )
    kept = await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT reason_code FROM incoming_quarantine WHERE message_id = $1",
            body.message_id,
        ),
        what="the contradicting record quarantined",
    )  # fmt: skip
    assert kept == [{"reason_code": "edxml_sender_mismatch"}]
    assert (
        await exchange.fetch(
            "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id
        )
        == []
    )


# Time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "reason"),
    [
        (datetime.timedelta(days=300), ReasonCode.ENVELOPE_FROM_FUTURE),
        (datetime.timedelta(days=-10), ReasonCode.ENVELOPE_TOO_OLD),
    ],
)
async def test_an_envelope_outside_the_time_window_is_refused(
    exchange: Exchange, created: datetime.timedelta, reason: ReasonCode
) -> None:
    body = _crafted(
        PROVINCE, [COMMUNE_A], document(PROVINCE, [COMMUNE_A]), created_at=NOW + created
    )
    await _publish(exchange, body)
    await _refused(exchange, body, reason)
    await _honest_flow_still_works(exchange)


async def test_a_certificate_is_judged_at_the_routers_receive_time(exchange: Exchange) -> None:
    """Expired yesterday, signing with created_at two days back: refused."""
    expired = exchange.pki.unit(
        PROVINCE, not_before=NOW - datetime.timedelta(days=30),
        not_after=NOW - datetime.timedelta(days=1),
    )  # fmt: skip
    body = _crafted(
        PROVINCE, [COMMUNE_A], document(PROVINCE, [COMMUNE_A]),
        created_at=NOW - datetime.timedelta(days=2),
    )  # fmt: skip
    await _publish(exchange, body, Identity(PROVINCE, expired.key, expired.chain))
    letter = await _dead_letter_with(exchange, "certificate_expired")
    assert letter["message_id"] == body.message_id  # what it claimed, kept for the operator
    assert (
        await exchange.fetch("SELECT 1 FROM messages WHERE message_id = $1", body.message_id) == []
    )
    await _no_notice_to_third_parties(exchange)


async def test_a_back_dated_envelope_to_a_closed_district_is_not_routed_as_of_then(
    exchange: Exchange,
) -> None:
    """Back-dated to before the 2025 merger, it would reach the closed district's topic
    without a redirect; judged at the receive time it is far too old."""
    body = _crafted(
        PROVINCE, [CLOSED_DISTRICT], document(PROVINCE, [CLOSED_DISTRICT]),
        created_at=datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC),
    )  # fmt: skip
    await _publish(exchange, body)
    await _refused(exchange, body, ReasonCode.ENVELOPE_TOO_OLD)
    assert (
        await exchange.fetch("SELECT 1 FROM deliveries WHERE message_id = $1", body.message_id)
        == []
    )


async def test_ids_the_ledger_cannot_hold_are_refused_not_fatal(exchange: Exchange) -> None:
    """A NUL in a message id (signed, or only claimed) is refused; the router goes on."""
    own = document(DEPARTMENT, [COMMUNE_A])
    body = _crafted(DEPARTMENT, [COMMUNE_A], own, message_id=f"\x00{uuid.uuid4()}")
    await _publish(exchange, body)
    stranger = exchange.pki.__class__().unit(DEPARTMENT)
    claimed = _crafted(DEPARTMENT, [COMMUNE_A], own, message_id=f"\x00{uuid.uuid4()}")
    await _publish(exchange, claimed, Identity(DEPARTMENT, stranger.key, stranger.chain))
    stored = body.message_id.replace("\x00", "\ufffd")
    assert (await _dead_letter(exchange, stored))["reason_code"] == "message_id_invalid"
    letter = await _dead_letter_with(exchange, "certificate_untrusted")
    assert letter["message_id"] == claimed.message_id.replace("\x00", "\ufffd")
    await _honest_flow_still_works(exchange)


async def test_only_an_operators_replay_is_judged_at_the_first_reception(
    exchange: Exchange,
) -> None:
    """Bytes first received eight days ago (the clock is moved back in the ledger) and
    refused then: the same bytes published again are judged now and are too old; the
    operator's replay of that dead letter is judged as of the first reception and goes
    through. A sender cannot bank an early receive time by sending twice."""
    eight_days = datetime.timedelta(days=8)
    body = _crafted(
        PROVINCE, [COMMUNE_A], document(PROVINCE, [COMMUNE_A]), created_at=NOW - eight_days
    )
    await _publish(exchange, body)
    await _refused(exchange, body, ReasonCode.ENVELOPE_TOO_OLD)
    first = NOW - eight_days + datetime.timedelta(minutes=1)
    await exchange.fetch("UPDATE dead_letters SET received_at = $1", first)
    await exchange.fetch(
        "UPDATE messages SET first_received_at = $1 WHERE message_id = $2", first, body.message_id
    )
    await _publish(exchange, body)  # the sender again, with the very same bytes
    letters = await exchange.until(
        lambda: _rows_if(exchange, 2, body.message_id), what="two dead letters"
    )
    assert [row["reason_code"] for row in letters] == ["envelope_too_old"] * 2
    producer = AIOKafkaProducer(**exchange.endpoints.kafka.aiokafka(), acks="all")
    await producer.start()
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        await replay.run(
            conn, producer, exchange.topics, [letters[0]["id"]], actor="vận hành",
            why="thử phát lại",
        )  # fmt: skip
    finally:
        await conn.close()
        await producer.stop()
    await _delivered(exchange, COMMUNE_A, body.message_id)


async def _rows_if(exchange: Exchange, count: int, message_id: str) -> list[dict[str, Any]]:
    rows = await exchange.fetch(
        "SELECT id, reason_code FROM dead_letters WHERE message_id = $1 ORDER BY id", message_id
    )
    return rows if len(rows) >= count else []


async def test_a_closed_unit_cannot_send_by_back_dating(exchange: Exchange) -> None:
    """A district closed in the 2025 merger, holding a still-valid certificate, signs with
    a created_at two days back: the directory is read at the router's receive time, so it
    is closed whatever it wrote (its Kafka principal lost WRITE too: the admin publishes)."""
    district = exchange.pki.unit(CLOSED_DISTRICT)
    body = _crafted(
        CLOSED_DISTRICT, [COMMUNE_A], document(CLOSED_DISTRICT, [COMMUNE_A]),
        created_at=NOW - datetime.timedelta(days=2),
    )  # fmt: skip
    headers, value = Identity(CLOSED_DISTRICT, district.key, district.chain).seal(
        exchange.connector.registry, body
    )
    producer = AIOKafkaProducer(**exchange.endpoints.kafka.aiokafka(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            exchange.topics.submit, value, key=CLOSED_DISTRICT.encode(), headers=headers
        )
    finally:
        await producer.stop()
    verdict = await _verdict(exchange, body.message_id)
    assert (verdict["verdict"], verdict["reason_code"]) == ("rejected", "unit_closed")
    assert (
        await exchange.fetch("SELECT 1 FROM deliveries WHERE message_id = $1", body.message_id)
        == []
    )
    await _no_notice_to_third_parties(exchange, frozenset({CLOSED_DISTRICT}))


async def test_a_routine_document_cannot_jump_the_queue_on_the_urgent_lane(
    exchange: Exchange,
) -> None:
    """Published by the unit itself on the urgent lane, which its ACL lets it write: a
    document of priority 0 is refused there; one marked khẩn (priority 1) goes through."""
    routine = _crafted(PROVINCE, [COMMUNE_A], document(PROVINCE, [COMMUNE_A]))
    headers, value = _identity(exchange, PROVINCE).seal(exchange.connector.registry, routine)
    producer = exchange.connector.producer(PROVINCE)
    await producer.send_and_wait(
        exchange.topics.submit_urgent, value, key=PROVINCE.encode(), headers=headers
    )
    await _refused(exchange, routine, ReasonCode.LANE_NOT_URGENT)
    urgent, _ = await exchange.connector.send(
        PROVINCE,
        packing.edxml_from_fields(PROVINCE, {"subject": "Hỏa tốc", "priority": 1}, [COMMUNE_A]),
        [COMMUNE_A],
    )
    await _delivered(exchange, COMMUNE_A, urgent.message_id)
