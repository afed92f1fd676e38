"""Envelope signatures and certificate chains: what passes, and each way to fail."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import packing
from kernel.errors import Rejected, TrustError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas import envelope as e
from signing import envelope as signatures
from signing.certificates import TrustStore
from signing.keys import KeyKind
from signing.testpki import Issued, Profile, TestPki
from tests.paths import FIXTURES
from tests.unit.test_edxml import BILLION_LAUGHS, XXE

SENDER, RECIPIENT = "000.00.00.H62", "000.02.00.H62"
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


def _body(
    sender: str = SENDER, created_at: datetime.datetime = NOW, edxml: bytes = DOCUMENT
) -> e.EnvelopeBody:
    return packing.build_body(edxml, sender=sender, recipients=[RECIPIENT], now=created_at)


def _signed(
    registry: codec.Registry,
    issued: Issued,
    body: e.EnvelopeBody | None = None,
    *,
    pss: bool = False,
) -> e.SignedEnvelope:
    body_schema, payload = e.encode(registry, body or _body())
    return signatures.sign(body_schema, payload, issued.key, issued.chain, pss=pss)


def _verify(
    registry: codec.Registry, trust: TrustStore, envelope: e.SignedEnvelope
) -> signatures.Verified:
    return signatures.verify(envelope, trust=trust, registry=registry)


@pytest.mark.parametrize(
    ("kind", "pss"),
    [("rsa2048", False), ("rsa2048", True), ("rsa3072", False), ("rsa3072", True), ("p256", False)],
)
def test_a_signed_envelope_verifies(registry: codec.Registry, kind: KeyKind, pss: bool) -> None:
    pki = TestPki(kind=kind)
    verified = _verify(registry, pki.trust_store(), _signed(registry, pki.unit(SENDER), pss=pss))
    assert verified.unit == SENDER
    assert not verified.personal
    assert isinstance(verified.body, e.EnvelopeBody)
    assert verified.body.recipients == (RECIPIENT,)
    assert len(verified.chain.path) == 3


def test_a_head_of_unit_signs_with_a_personal_certificate(
    registry: codec.Registry, pki: TestPki
) -> None:
    head = pki.person(SENDER, "Nguyễn Văn A", "079123456789")
    verified = _verify(registry, pki.trust_store(), _signed(registry, head))
    assert verified.personal
    assert verified.unit == SENDER


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


BadCase = Callable[[codec.Registry, TestPki], tuple[e.SignedEnvelope, TrustStore]]


def _tampered_body(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    signed = _signed(registry, pki.unit(SENDER))
    return dataclasses.replace(
        signed, body=_flip(signed.body, len(signed.body) // 2)
    ), pki.trust_store()


def _wrong_key(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    unit, other = pki.unit(SENDER), pki.unit(SENDER)
    signed = _signed(registry, Issued(other.key, unit.certificate, unit.chain))
    return signed, pki.trust_store()


def _expired(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    old = pki.unit(
        SENDER,
        not_before=NOW - datetime.timedelta(days=400),
        not_after=NOW - datetime.timedelta(days=1),
    )
    return _signed(registry, old), pki.trust_store()


def _not_yet_valid(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    early = pki.unit(SENDER, not_before=NOW + datetime.timedelta(days=1))
    return _signed(registry, early), pki.trust_store()


def _revoked(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    unit = pki.unit(SENDER)
    pki.revoke(unit)
    return _signed(registry, unit), pki.trust_store()


def _untrusted_root(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    return _signed(registry, TestPki().unit(SENDER)), pki.trust_store()


def _other_unit(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    return _signed(registry, pki.unit("000.03.00.H62")), pki.trust_store()


def _unknown_algorithm(
    registry: codec.Registry, pki: TestPki
) -> tuple[e.SignedEnvelope, TrustStore]:
    return dataclasses.replace(
        _signed(registry, pki.unit(SENDER)), algorithm="UNKNOWN"
    ), pki.trust_store()


def _algorithm_of_another_key(
    registry: codec.Registry, pki: TestPki
) -> tuple[e.SignedEnvelope, TrustStore]:
    signed = _signed(registry, pki.unit(SENDER))
    return dataclasses.replace(signed, algorithm="ECDSA_P256_SHA256"), pki.trust_store()


def _malformed_certificate(
    registry: codec.Registry, pki: TestPki
) -> tuple[e.SignedEnvelope, TrustStore]:
    signed = _signed(registry, pki.unit(SENDER))
    return dataclasses.replace(
        signed, certificate_chain=(b"\x30\x03not a certificate",)
    ), pki.trust_store()


def _no_certificate(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    return dataclasses.replace(
        _signed(registry, pki.unit(SENDER)), certificate_chain=()
    ), pki.trust_store()


def _no_crl(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    trust = TrustStore([pki.root.certificate, pki.issuing.certificate], [])
    return _signed(registry, pki.unit(SENDER)), trust


def _crl_signed_by_another_key(
    registry: codec.Registry, pki: TestPki
) -> tuple[e.SignedEnvelope, TrustStore]:
    """The issuing CA's name on a CRL someone else signed: no CRL of that CA at all."""
    forger = TestPki(now=pki.now)
    forged = dataclasses.replace(forger.issuing, certificate=pki.issuing.certificate)
    crl = forger._crl(forged)
    trust = TrustStore([pki.root.certificate, pki.issuing.certificate], [crl, *pki.crls()[1:]])
    return _signed(registry, pki.unit(SENDER)), trust


def _ca_as_signer(registry: codec.Registry, pki: TestPki) -> tuple[e.SignedEnvelope, TrustStore]:
    """The issuing CA's own key and certificate: a CA may certify, not sign documents."""
    return _signed(registry, pki.issuing), pki.trust_store()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        (_tampered_body, ReasonCode.SIGNATURE_INVALID),
        (_wrong_key, ReasonCode.SIGNATURE_INVALID),
        (_expired, ReasonCode.CERTIFICATE_EXPIRED),
        (_not_yet_valid, ReasonCode.CERTIFICATE_NOT_YET_VALID),
        (_revoked, ReasonCode.CERTIFICATE_REVOKED),
        (_untrusted_root, ReasonCode.CERTIFICATE_UNTRUSTED),
        (_other_unit, ReasonCode.CERTIFICATE_WRONG_UNIT),
        (_unknown_algorithm, ReasonCode.ALGORITHM_UNSUPPORTED),
        (_algorithm_of_another_key, ReasonCode.ALGORITHM_UNSUPPORTED),
        (_malformed_certificate, ReasonCode.CERTIFICATE_MALFORMED),
        (_no_certificate, ReasonCode.CERTIFICATE_MALFORMED),
        (_no_crl, ReasonCode.REVOCATION_UNKNOWN),
        (_crl_signed_by_another_key, ReasonCode.REVOCATION_UNKNOWN),
        (_ca_as_signer, ReasonCode.CERTIFICATE_WRONG_UNIT),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)).strip("_"),
)
def test_bad_envelopes_are_refused_with_their_reason(
    registry: codec.Registry, case: BadCase, reason: ReasonCode
) -> None:
    envelope, trust = case(registry, TestPki())
    with pytest.raises(TrustError) as caught:
        _verify(registry, trust, envelope)
    assert caught.value.reason == reason


def test_a_ca_certificate_of_the_unit_is_refused(registry: codec.Registry, pki: TestPki) -> None:
    """A CA certificate that does carry the unit's code: still not a document signer."""
    ca_like = pki.unit(SENDER, profile=Profile(ca=True, path_length=0))
    with pytest.raises(TrustError) as caught:
        _verify(registry, pki.trust_store(), _signed(registry, ca_like))
    assert caught.value.reason == ReasonCode.CERTIFICATE_IS_CA


def test_a_backdated_body_does_not_revive_an_expired_certificate(
    registry: codec.Registry, pki: TestPki
) -> None:
    """The sender writes created_at; the moment judged is the verifier's."""
    old = pki.unit(SENDER, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    envelope = _signed(registry, old, _body(created_at=NOW - 2 * DAY))
    trust = pki.trust_store()
    assert signatures.verify(envelope, trust=trust, registry=registry, at=NOW - 2 * DAY)
    with pytest.raises(TrustError) as caught:
        signatures.verify(envelope, trust=trust, registry=registry)
    assert caught.value.reason == ReasonCode.CERTIFICATE_EXPIRED


def test_the_caches_judge_each_moment_afresh(pki: TestPki) -> None:
    """Paths and CRLs are cached, verdicts are not: the same chain at another moment meets
    its CRL's next update and its own expiry, then passes again."""
    unit = pki.unit(SENDER, not_after=NOW + 60 * DAY)
    chain = [c.public_bytes(Encoding.DER) for c in unit.chain]
    trust = pki.trust_store()
    crl_next_update = min(c.next_update_utc for c in trust.crls if c.next_update_utc)
    moments = [
        (NOW, None),
        (crl_next_update + DAY, ReasonCode.REVOCATION_UNKNOWN),
        (NOW + 61 * DAY, ReasonCode.CERTIFICATE_EXPIRED),
        (NOW - 31 * DAY, ReasonCode.CERTIFICATE_NOT_YET_VALID),
        (NOW, None),
    ]
    for at, reason in moments:
        try:
            trust.validate(chain, at=at)
            outcome = None
        except TrustError as exc:
            outcome = exc.reason
        assert outcome == reason, at


def test_truncated_avro_envelope(registry: codec.Registry, pki: TestPki) -> None:
    fingerprint, payload = e.encode(registry, _signed(registry, pki.unit(SENDER)))
    with pytest.raises(Rejected) as caught:
        e.decode_signed(registry, fingerprint, payload[:-7])
    assert caught.value.reason == ReasonCode.ENVELOPE_TRUNCATED


def test_unknown_fingerprint(registry: codec.Registry, pki: TestPki) -> None:
    signed = dataclasses.replace(_signed(registry, pki.unit(SENDER)), body_schema=b"\x00" * 8)
    with pytest.raises(Rejected) as caught:
        _verify(registry, pki.trust_store(), signed)
    # The body schema is covered by the signature: changing it breaks the signature first.
    assert caught.value.reason == ReasonCode.SIGNATURE_INVALID
    _fingerprint, payload = e.encode(registry, _signed(registry, pki.unit(SENDER)))
    with pytest.raises(Rejected) as caught:
        e.decode_signed(registry, b"\x00" * 8, payload)
    assert caught.value.reason == ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT


@pytest.mark.parametrize(
    ("edxml", "reason"),
    [(XXE, ReasonCode.EDXML_EXTERNAL_ENTITY), (BILLION_LAUGHS, ReasonCode.EDXML_ENTITY_EXPANSION)],
    ids=["xxe", "billion-laughs"],
)
def test_hostile_edxml_is_refused_before_signing(edxml: bytes, reason: ReasonCode) -> None:
    with pytest.raises(Rejected) as caught:
        _body(edxml=edxml)
    assert caught.value.reason == reason


def test_the_trust_store_folder_reads_pem_and_der(
    tmp_path: Path, registry: codec.Registry, pki: TestPki
) -> None:
    pki.write_trust(tmp_path)
    (tmp_path / "issuing-ca.pem").rename(tmp_path / "issuing-ca.cer")
    (tmp_path / "issuing-ca.cer").write_bytes(pki.issuing.certificate.public_bytes(Encoding.DER))
    (tmp_path / "README.txt").write_text("ignored")
    trust = TrustStore.load(tmp_path)
    assert len(trust.roots) == 1
    assert len(trust.intermediates) == 1
    assert len(trust.crls) == 2
    assert _verify(registry, trust, _signed(registry, pki.unit(SENDER))).unit == SENDER
    (tmp_path / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(TrustError) as caught:
        TrustStore.load(tmp_path)
    assert caught.value.reason == ReasonCode.CERTIFICATE_MALFORMED


_PKIS = {kind: TestPki(kind=kind) for kind in ("rsa2048", "p256")}
_UNITS = {kind: pki.unit(SENDER) for kind, pki in _PKIS.items()}
_REGISTRY = codec.Registry.load()


@given(
    kind=st.sampled_from(sorted(_PKIS)),
    edxml=st.binary(max_size=200),
    recipients=st.lists(st.from_regex(r"\A\d{3}\.\d{2}\.\d{2}\.H\d{2}\Z"), min_size=1, max_size=4),
    data=st.data(),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_signed_envelope_verifies_and_any_flipped_byte_fails(
    kind: str, edxml: bytes, recipients: list[str], data: st.DataObject
) -> None:
    body = e.EnvelopeBody("m", "document", SENDER, tuple(recipients), NOW, edxml)
    body_schema, payload = e.encode(_REGISTRY, body)
    signed = signatures.sign(body_schema, payload, _UNITS[kind].key, _UNITS[kind].chain)
    trust = _PKIS[kind].trust_store()
    assert signatures.verify(signed, trust=trust, registry=_REGISTRY).body == body

    flip_body = data.draw(st.booleans())
    original = signed.body if flip_body else signed.signature
    # ECDSA signatures vary in length: draw a position, not an index, to stay reproducible.
    index = data.draw(st.integers(0, 10**6)) % len(original)
    bit = data.draw(st.integers(0, 7))
    flipped = original[:index] + bytes([original[index] ^ (1 << bit)]) + original[index + 1 :]
    tampered = (
        dataclasses.replace(signed, body=flipped)
        if flip_body
        else dataclasses.replace(signed, signature=flipped)
    )
    with pytest.raises(TrustError) as caught:
        signatures.verify(tampered, trust=trust, registry=_REGISTRY)
    assert caught.value.reason == ReasonCode.SIGNATURE_INVALID
