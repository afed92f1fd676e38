"""The copies' endorsements are signed where the router produces (`producing.sealed`): in
waves or one by one, each header on its own record, and nothing unsigned ever sent."""

from __future__ import annotations

import hashlib
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer

from broker import producing
from broker.producing import Record
from schemas import codec
from schemas.codec import Registry
from signing import endorsement
from signing.identity import Identity
from signing.testpki import TestPki

ROUTER, UNITS = "000.00.99.H62", ["000.02.00.H62", "000.03.00.H62", "000.04.00.H62"]


def _records(router: Identity) -> list[Record]:
    copies = [
        Record(f"unit.{unit}", f"envelope {i}".encode(), b"k", (("lienthong.requested", b"x"),),
               endorsement=endorsement.endorsement_of(
                   router, hashlib.sha256(f"envelope {i}".encode()).digest(), message_id=f"m-{i}",
                   delivered_to=unit,
                   requested=unit,
               ))
        for i, unit in enumerate(UNITS)
    ]  # fmt: skip
    return [copies[0], Record("deadletter", b"dead", None), *copies[1:]]


@pytest.mark.parametrize(("waves", "form"), [(True, "EndorsementProof"), (False, "SignedEnvelope")])
def test_each_copy_gets_its_own_header(
    pki: TestPki, registry: Registry, waves: bool, form: str
) -> None:
    issued = pki.unit(ROUTER)
    router = Identity(ROUTER, issued.key, issued.chain)
    sealed = producing.sealed(_records(router), router, registry, waves=waves)
    assert sealed[1] == Record("deadletter", b"dead", None)
    copies = [sealed[0], *sealed[2:]]
    for i, (unit, record) in enumerate(zip(UNITS, copies, strict=True)):
        assert record.endorsement is None
        assert record.headers[0] == ("lienthong.requested", b"x")
        name, header = record.headers[-1]
        assert name == codec.ENDORSEMENT_HEADER
        assert registry.name_of(codec.from_single_object(header)[0]).endswith(form)
        checked = endorsement.check(
            list(record.headers), record.value, unit=unit, router_id=ROUTER,
            trust=pki.trust_store(), registry=registry,
        )  # fmt: skip
        assert checked.message_id == f"m-{i}"


async def test_a_copy_without_its_signed_endorsement_is_never_sent(pki: TestPki) -> None:
    issued = pki.unit(ROUTER)
    unsealed = _records(Identity(ROUTER, issued.key, issued.chain))
    with pytest.raises(ValueError, match="never sent"):
        await producing.send_all(cast(AIOKafkaProducer, None), unsealed)
