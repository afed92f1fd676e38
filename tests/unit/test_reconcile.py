"""The reconciliation's judgement on plain rows: each kind of discrepancy, and what is not one."""

from __future__ import annotations

import dataclasses
import datetime

from broker.reconcile import (
    Answer,
    Books,
    Counter,
    DeadLetter,
    Delivery,
    Incoming,
    Kind,
    Outgoing,
    Queued,
    Topic,
    compare,
)
from schemas.envelope import status_id

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)
OLD = NOW - datetime.timedelta(minutes=10)
GRACE = datetime.timedelta(seconds=60)
SENDER, A, B = "000.00.00.H62", "000.02.00.H62", "000.03.00.H62"


def clean() -> Books:
    """m1 from SENDER to A and B, both registered and answered 01, everything agreeing."""
    return Books(
        now=NOW,
        since=None,
        verdicts={"m1": "routed"},
        deliveries=[
            Delivery("m1", A, A, "01", "routed", OLD),
            Delivery("m1", B, B, "01", "routed", OLD),
        ],
        incoming=[_entry(A, 1, "m1"), _entry(B, 1, "m1")],
        outgoing=[Outgoing(SENDER, 2026, 1, "m1", OLD)],
        answers=[Answer(SENDER, "m1", A, "01"), Answer(SENDER, "m1", B, "01")],
        counters=[
            Counter(SENDER, 2026, "out", 1),
            Counter(A, 2026, "in", 1),
            Counter(B, 2026, "in", 1),
        ],
        quarantined=frozenset(),
        dead_letters=[],
        outbox=[],
        hosted=frozenset({SENDER, A, B}),
        topics={A: Topic({"m1": 1}, complete=True), B: Topic({"m1": 1}, complete=True)},
    )


def _entry(unit: str, number: int, message_id: str, *, status: str = "01") -> Incoming:
    return Incoming(unit, 2026, number, message_id, SENDER, "document", f"doc-{message_id}",
                    status, OLD)  # fmt: skip


def kinds(books: Books) -> list[tuple[Kind, str | None, str | None]]:
    return [(d.kind, d.message_id, d.unit) for d in compare(books, grace=GRACE)]


def test_books_that_agree_have_no_discrepancy() -> None:
    assert compare(clean(), grace=GRACE) == []


def test_a_document_routed_and_never_registered() -> None:
    books = dataclasses.replace(clean(), incoming=[_entry(A, 1, "m1")])
    assert kinds(books) == [(Kind.NOT_REGISTERED, "m1", B), (Kind.REGISTER_GAP, None, B)]


def test_refused_quarantined_unhosted_or_in_flight_is_not_unregistered() -> None:
    base = clean()
    only_a = [_entry(A, 1, "m1")]
    counters = list(base.counters[:2])
    refused = dataclasses.replace(
        base, incoming=only_a, counters=counters,
        deliveries=[base.deliveries[0], Delivery("m1", B, B, "02", "routed", OLD)],
        answers=[base.answers[0], Answer(SENDER, "m1", B, "02")],
    )  # fmt: skip
    quarantined = dataclasses.replace(
        base, incoming=only_a, counters=counters, quarantined=frozenset({(B, "m1")})
    )
    unhosted = dataclasses.replace(
        base, incoming=only_a, counters=counters, hosted=frozenset({SENDER, A})
    )
    young = dataclasses.replace(
        base, incoming=only_a, counters=counters,
        deliveries=[base.deliveries[0], Delivery("m1", B, B, "routed", "routed", NOW)],
    )  # fmt: skip
    answering = dataclasses.replace(
        base, incoming=only_a, counters=counters,
        outbox=[Queued(B, status_id("m1", B, "02"), NOW, None)],
    )  # fmt: skip
    for books in (refused, quarantined, unhosted, young, answering):
        assert kinds(books) == []


def test_a_document_registered_twice() -> None:
    base = clean()
    again = dataclasses.replace(_entry(A, 2, "m2"), document_id="doc-m1")
    books = dataclasses.replace(
        base,
        verdicts={**base.verdicts, "m2": "routed"},
        deliveries=[*base.deliveries, Delivery("m2", A, A, "01", "routed", OLD)],
        incoming=[*base.incoming, again],
        counters=[*base.counters[:1], Counter(A, 2026, "in", 2), base.counters[2]],
        topics={**base.topics, A: Topic({"m1": 1, "m2": 1}, complete=True)},
    )
    assert kinds(books) == [(Kind.REGISTERED_TWICE, "m2", A)]
    # A follow-up carries its document's id; a document refused (02) may come again
    # corrected under the same id.
    for legitimate in (dataclasses.replace(again, kind="update"),
                       dataclasses.replace(again, status="02")):  # fmt: skip
        found = kinds(dataclasses.replace(books, incoming=[*base.incoming, legitimate]))
        assert Kind.REGISTERED_TWICE not in {kind for kind, _, _ in found}


def test_a_registration_the_ledger_never_routed() -> None:
    base = clean()
    books = dataclasses.replace(
        base,
        incoming=[*base.incoming, _entry(A, 2, "forged")],
        counters=[*base.counters[:1], Counter(A, 2026, "in", 2), base.counters[2]],
    )
    assert kinds(books) == [(Kind.NOT_ROUTED, "forged", A)]


def test_a_registration_before_the_window_is_not_judged_against_it() -> None:
    base = clean()
    books = dataclasses.replace(base, since=NOW - datetime.timedelta(minutes=1), deliveries=[])
    assert kinds(books) == []


def test_a_delivery_whose_state_differs() -> None:
    base = clean()
    books = dataclasses.replace(base, incoming=[_entry(A, 1, "m1", status="06"), base.incoming[1]])
    assert kinds(books) == [(Kind.STATE_DIFFERS, "m1", A)]
    # The register is ahead while its 06 waits in the receiver's outbox: in flight.
    answering = dataclasses.replace(books, outbox=[Queued(A, status_id("m1", A, "06"), NOW, NOW)])
    assert kinds(answering) == []


def test_what_the_sender_heard_differs_from_the_ledger() -> None:
    base = clean()
    ahead = dataclasses.replace(base, answers=[*base.answers, Answer(SENDER, "m1", B, "03")])
    assert kinds(ahead) == [(Kind.STATE_DIFFERS, "m1", SENDER)]
    unheard = dataclasses.replace(base, answers=base.answers[:1])
    assert kinds(unheard) == [(Kind.STATE_DIFFERS, "m1", SENDER)]
    # The router's own notices (a redirect, 00) are not states; the ledger's move is young.
    noticed = dataclasses.replace(base, answers=[*base.answers, Answer(SENDER, "m1", "r", "00")])
    young = dataclasses.replace(
        unheard, deliveries=[base.deliveries[0], Delivery("m1", B, B, "01", "routed", NOW)]
    )
    assert kinds(noticed) == kinds(young) == []


def test_a_redirected_delivery_is_answered_by_its_successor() -> None:
    base = clean()
    closed = "000.00.31.H07"
    books = dataclasses.replace(
        base, deliveries=[base.deliveries[0], Delivery("m1", closed, B, "01", "routed", OLD)]
    )
    assert kinds(books) == []


def test_a_gap_in_a_register_and_at_its_end() -> None:
    base = clean()
    books = dataclasses.replace(
        base,
        outgoing=[*base.outgoing, Outgoing(SENDER, 2026, 4, "m4", OLD)],
        counters=[Counter(SENDER, 2026, "out", 6), *base.counters[1:]],
        verdicts={**base.verdicts, "m4": "rejected"},
    )
    found = compare(books, grace=GRACE)
    assert [(d.kind, d.unit) for d in found] == [(Kind.REGISTER_GAP, SENDER)]
    assert found[0].detail == "out 2026: no entry numbered 2-3, 5-6"


def test_numbers_run_per_year() -> None:
    base = clean()
    books = dataclasses.replace(
        base,
        outgoing=[*base.outgoing, Outgoing(SENDER, 2027, 1, "m2", OLD)],
        counters=[*base.counters, Counter(SENDER, 2027, "out", 1)],
        verdicts={**base.verdicts, "m2": "routed"},
    )
    assert kinds(books) == []


def test_sent_and_never_received_by_the_router() -> None:
    base = clean()
    books = dataclasses.replace(base, verdicts={})
    assert kinds(books) == [(Kind.NOT_RECEIVED, "m1", SENDER)]
    young = dataclasses.replace(books, outgoing=[Outgoing(SENDER, 2026, 1, "m1", NOW)])
    assert kinds(young) == []


def test_routed_with_no_copy_on_the_unit_topic() -> None:
    base = clean()
    books = dataclasses.replace(base, topics={**base.topics, B: Topic({}, complete=True)})
    assert kinds(books) == [(Kind.NOT_ON_TOPIC, "m1", B)]
    trimmed = dataclasses.replace(base, topics={**base.topics, B: Topic({}, complete=False)})
    assert kinds(trimmed) == []


def test_a_dead_letter_never_replayed() -> None:
    base = clean()
    letter = DeadLetter(7, "m9", SENDER, "internal_error", OLD, 0)
    books = dataclasses.replace(base, dead_letters=[letter])
    assert kinds(books) == [(Kind.DEAD_LETTER, "m9", SENDER)]
    for settled in (
        dataclasses.replace(letter, replay_count=1),
        dataclasses.replace(letter, received_at=NOW),
        dataclasses.replace(letter, message_id="m1"),  # it got through later
        dataclasses.replace(letter, reason_code="signature_invalid"),  # a refusal: told
    ):
        assert kinds(dataclasses.replace(base, dead_letters=[settled])) == []


def test_an_outbox_row_never_published_is_listed() -> None:
    base = clean()
    stuck = Queued(B, "s1", OLD, None)
    books = dataclasses.replace(base, outbox=[*base.outbox, stuck])
    assert (Kind.NOT_SENT, "s1", B) in kinds(books)
    young = dataclasses.replace(
        base, outbox=[*base.outbox, dataclasses.replace(stuck, created_at=NOW)]
    )
    assert Kind.NOT_SENT not in {k for k, _, _ in kinds(young)}
