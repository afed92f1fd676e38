"""Avro envelopes: decoding what came off the wire, and verifying its signature and chain."""

from __future__ import annotations

import datetime
import functools

from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from connectors import packing
from schemas import codec
from schemas import envelope as e
from signing import envelope as signatures
from signing.testpki import Issued, TestPki
from tests.fuzz import crafted
from tests.fuzz.contract import examples, holds, mutants
from tests.paths import FIXTURES

SENDER, RECIPIENT = "000.00.00.H62", "000.02.00.H62"
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


class World:
    """A PKI, the unit's certificate and one good envelope, made once per session."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)
        self.pki = TestPki()
        self.trust = self.pki.trust_store()
        self.registry = codec.Registry.load()
        self.unit: Issued = self.pki.unit(SENDER)
        body = packing.build_body(DOCUMENT, sender=SENDER, recipients=[RECIPIENT], now=self.now)
        self.body_schema, self.body = e.encode(self.registry, body)
        self.envelope = signatures.sign(self.body_schema, self.body, self.unit.key, self.unit.chain)
        self.record = codec.to_single_object(*e.encode(self.registry, self.envelope))
        der = [c.public_bytes(Encoding.DER) for c in self.unit.chain]
        self.certificates = [*der, crafted.certificate(self.pki.issuing)]

    def verify(self, envelope: e.SignedEnvelope) -> signatures.Verified:
        return signatures.verify(envelope, trust=self.trust, registry=self.registry, at=self.now)


@functools.cache
def world() -> World:
    return World()


def _decode_and_verify(record: bytes) -> signatures.Verified:
    w = world()
    envelope = e.decode_signed(w.registry, *codec.from_single_object(record))
    return w.verify(envelope)


@examples(ci=150, fuzz=20_000)
@given(st.data())
def test_damaged_records(data: st.DataObject) -> None:
    record = data.draw(mutants([world().record], max_edits=4))
    holds(lambda: _decode_and_verify(record))


@examples(ci=150, fuzz=20_000)
@given(st.data())
def test_damaged_bodies_signed_by_their_sender(data: st.DataObject) -> None:
    """Signed again after the damage, so the body's decoding is what is tried."""
    w = world()
    body = data.draw(mutants([w.body], max_edits=4))
    envelope = signatures.sign(w.body_schema, body, w.unit.key, w.unit.chain)
    holds(lambda: w.verify(envelope))


@examples(ci=150, fuzz=20_000)
@given(st.data())
def test_damaged_certificate_chains(data: st.DataObject) -> None:
    """The chain is the sender's to write: any certificate in it may be damaged."""
    w = world()
    chain = data.draw(
        st.lists(mutants(w.certificates, max_edits=3), min_size=1, max_size=3).map(tuple)
    )
    envelope = e.SignedEnvelope(
        body_schema=w.envelope.body_schema,
        body=w.envelope.body,
        signature=w.envelope.signature,
        algorithm=w.envelope.algorithm,
        certificate_chain=chain,
    )
    holds(lambda: w.verify(envelope))
