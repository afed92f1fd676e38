"""The router's endorsement against crafted headers: each refusal names its reason, and a
genuine endorsement still holds beside them."""

from __future__ import annotations

from typing import cast

import pytest

from kernel.errors import Rejected
from schemas import codec
from schemas.codec import Registry
from schemas.envelope import Endorsement
from signing import endorsement
from signing.identity import Identity
from signing.testpki import TestPki

ROUTER, UNIT, OTHER = "000.00.99.H62", "000.02.00.H62", "000.03.00.H62"
VALUE = b"the sender's signed envelope, exactly as routed"


def _identity(pki: TestPki, organ_id: str) -> Identity:
    issued = pki.unit(organ_id)
    return Identity(organ_id, issued.key, issued.chain)


def _endorsed(pki: TestPki, registry: Registry, signer: str = ROUTER) -> tuple[str, bytes]:
    return endorsement.endorse(
        _identity(pki, signer), registry, VALUE, message_id="m-1", delivered_to=UNIT,
        requested=UNIT, paper_copy_required=True,
    )  # fmt: skip


def _check(
    pki: TestPki, registry: Registry, headers: list[tuple[str, bytes]], value: bytes = VALUE
) -> Endorsement:
    return endorsement.check(
        headers, value, unit=UNIT, router_id=ROUTER, trust=pki.trust_store(), registry=registry
    )


def test_a_genuine_endorsement_holds(pki: TestPki, registry: Registry) -> None:
    endorsed = _check(pki, registry, [_endorsed(pki, registry)])
    assert (endorsed.message_id, endorsed.delivered_to, endorsed.paper_copy_required) == (
        "m-1", UNIT, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("craft", "reason"),
    [
        ("absent", "endorsement_missing"),
        ("empty", "endorsement_invalid"),
        ("none", "endorsement_invalid"),
        ("twice", "endorsement_invalid"),
        ("truncated", "endorsement_invalid"),
        ("garbage", "endorsement_invalid"),
        ("no-magic", "endorsement_invalid"),
        ("unit-signed", "endorsement_invalid"),
        ("other-envelope", "endorsement_invalid"),
        ("other-unit", "not_a_recipient"),
    ],
)
def test_a_crafted_endorsement_is_refused_with_its_reason(
    pki: TestPki, registry: Registry, craft: str, reason: str
) -> None:
    name, genuine = _endorsed(pki, registry)
    value = VALUE
    crafted: dict[str, list[tuple[str, bytes | None]]] = {
        "absent": [],
        "empty": [(name, b"")],
        "none": [(name, None)],
        "twice": [(name, genuine), (name, genuine)],
        "truncated": [(name, genuine[: len(genuine) // 2])],
        "garbage": [(name, codec.SINGLE_OBJECT_MAGIC + b"\xff" * 64)],
        "no-magic": [(name, genuine[2:])],
        "unit-signed": [_endorsed(pki, registry, signer=OTHER)],
        "other-envelope": [(name, genuine)],
        "other-unit": [(name, genuine)],
    }
    # Kafka headers may be null whatever the type says: the check reads them as they come.
    headers = cast(codec.Headers, crafted[craft])
    if craft == "other-envelope":
        value = VALUE + b"!"
    with pytest.raises(Rejected) as caught:
        endorsement.check(
            headers, value, unit=OTHER if craft == "other-unit" else UNIT, router_id=ROUTER,
            trust=pki.trust_store(), registry=registry,
        )  # fmt: skip
    assert caught.value.reason == reason, caught.value
    # The genuine one beside it still holds.
    assert _check(pki, registry, [(name, genuine)]).message_id == "m-1"
