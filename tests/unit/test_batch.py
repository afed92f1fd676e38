"""Rounds: records of one batch are judged side by side unless one depends on another."""

from __future__ import annotations

import datetime

from broker.batch import Item, rounds
from broker.stages import Incoming
from schemas.envelope import Body, EnvelopeBody, MessageKind, StatusBody

NOW = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
A, B = "000.00.00.H62", "000.02.00.H62"


def _item(body: Body | None, offset: int) -> Item:
    incoming = Incoming("submit", 0, offset, None, b"", ())
    return Item(incoming, ValueError("not decoded here"), body)


def _document(message_id: str, sender: str = A, kind: MessageKind = "document") -> EnvelopeBody:
    return EnvelopeBody(
        message_id=message_id, kind=kind, sender=sender, recipients=(B,), created_at=NOW,
        edxml=b"",
    )  # fmt: skip


def _status(message_id: str, about: str) -> StatusBody:
    return StatusBody(
        message_id=message_id, responds_to=about, sender=B, recipient=A, status_code="01",
        created_at=NOW,
    )  # fmt: skip


def _offsets(bodies: list[Body | None]) -> list[list[int]]:
    items = [_item(body, n) for n, body in enumerate(bodies)]
    return [[i.incoming.offset for i in group] for group in rounds(items)]


def test_independent_records_share_a_round() -> None:
    bodies: list[Body | None] = [_document("m1"), _document("m2", B), None, _status("s1", "m0")]
    assert _offsets(bodies) == [[0, 1, 2, 3]]


def test_the_same_message_twice_starts_a_round() -> None:
    assert _offsets([_document("m1"), _document("m2"), _document("m1")]) == [[0, 1], [2]]


def test_a_status_about_a_message_of_the_round_starts_one() -> None:
    assert _offsets([_document("m1"), _status("s1", "m1")]) == [[0], [1]]


def test_two_statuses_about_one_message_are_judged_in_turn() -> None:
    assert _offsets([_status("s1", "m0"), _status("s2", "m0")]) == [[0], [1]]


def test_a_follow_up_waits_for_its_senders_documents() -> None:
    bodies: list[Body | None] = [_document("m1"), _document("m2", A, kind="revoke")]
    assert _offsets(bodies) == [[0], [1]]
    other: list[Body | None] = [_document("m1", B), _document("m2", A, kind="revoke")]
    assert _offsets(other) == [[0, 1]], "another sender's documents are no reason to wait"
