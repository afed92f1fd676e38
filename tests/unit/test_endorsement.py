"""The router's endorsement against crafted headers: each refusal names its reason, and a
genuine endorsement still holds beside them."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import cast

import pytest

from kernel.errors import EnvelopeError, Rejected
from schemas import codec
from schemas.codec import Registry
from schemas.envelope import (
    Endorsement,
    EndorsementProof,
    SignedEnvelope,
    decode_proof,
    decode_signed,
    encode,
)
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


def _wave(pki: TestPki, registry: Registry, size: int, signer: str = ROUTER) -> list[bytes]:
    """`size` copies endorsed together, the i-th of VALUE + i to UNIT (the last to OTHER)."""
    router = _identity(pki, signer)
    return [
        header
        for _, header in endorsement.endorse_all(router, registry, [
            endorsement.endorsement_of(
                router, hashlib.sha256(VALUE + bytes([i])).digest(), message_id=f"m-{i}",
                delivered_to=OTHER if i == size - 1 else UNIT, requested=UNIT,
            )
            for i in range(size)
        ])
    ]  # fmt: skip


@pytest.mark.parametrize("size", [2, 3, 7, 64, 65])
def test_every_copy_of_a_wave_holds_with_its_proof(
    pki: TestPki, registry: Registry, size: int
) -> None:
    """One signature for the wave; each copy's endorsement is its own, for its envelope."""
    wave = _wave(pki, registry, size)
    for i, header in enumerate(wave[:-1]):
        assert _check(pki, registry, [(codec.ENDORSEMENT_HEADER, header)], VALUE + bytes([i])
                      ).message_id == f"m-{i}"  # fmt: skip
    last = endorsement.check(
        [(codec.ENDORSEMENT_HEADER, wave[-1])], VALUE + bytes([size - 1]), unit=OTHER,
        router_id=ROUTER, trust=pki.trust_store(), registry=registry,
    )  # fmt: skip
    assert last.delivered_to == OTHER
    assert len({endorsement.claimed(registry, h).message_id for h in wave}) == size


def _proof(registry: Registry, header: bytes) -> EndorsementProof:
    return decode_proof(registry, *codec.from_single_object(header))


def _resealed(registry: Registry, batch: SignedEnvelope) -> bytes:
    """The wave's signed envelope with another root in its body (a root's 32 bytes follow
    its one-byte length) and the router's signature left as it was."""
    other_root = batch.body[:1] + b"\0" * 32 + batch.body[33:]
    return codec.to_single_object(*encode(registry, dataclasses.replace(batch, body=other_root)))


def _header(registry: Registry, proof: EndorsementProof) -> list[tuple[str, bytes]]:
    return [(codec.ENDORSEMENT_HEADER, codec.to_single_object(*encode(registry, proof)))]


@pytest.mark.parametrize(
    "craft",
    [
        "other-leaf",  # another endorsement, with this copy's proof
        "index",  # the proof of another position
        "rule",  # the path's sides swapped
        "path-short",
        "path-long",
        "path-digest",  # a hash of the wrong length
        "other-wave",  # a proof under another wave's signed root
        "unsigned-root",  # a root the router never signed
        "unit-signed",  # a wave signed by a unit
        "not-endorsement",  # a leaf that is the signed root itself
        "schema",  # a leaf under a fingerprint of 7 bytes
    ],
)
def test_a_crafted_proof_is_refused(pki: TestPki, registry: Registry, craft: str) -> None:
    """Whoever writes to a unit topic can copy a wave's signed root and any proof: none
    of that makes an endorsement the router did not sign into the tree hold."""
    wave, other = _wave(pki, registry, 5), _wave(pki, registry, 5)
    proof, second = _proof(registry, wave[0]), _proof(registry, wave[1])
    value = VALUE + bytes([0])
    forged_leaf = encode(registry, dataclasses.replace(
        endorsement.claimed(registry, wave[0]), message_id="m-forged"
    ))  # fmt: skip
    batch = decode_signed(registry, *codec.from_single_object(proof.batch))
    crafted = {
        "other-leaf": dataclasses.replace(proof, endorsement=forged_leaf[1]),
        "index": dataclasses.replace(proof, index=2),
        "rule": dataclasses.replace(proof, rule=tuple(1 - b for b in proof.rule)),
        "path-short": dataclasses.replace(proof, path=proof.path[:-1]),
        "path-long": dataclasses.replace(proof, path=(*proof.path, b"\0" * 32)),
        "path-digest": dataclasses.replace(proof, path=(proof.path[0][:31], *proof.path[1:])),
        "other-wave": dataclasses.replace(proof, batch=_proof(registry, other[0]).batch),
        "unsigned-root": dataclasses.replace(proof, batch=_resealed(registry, batch)),
        "unit-signed": dataclasses.replace(
            proof, batch=_proof(registry, _wave(pki, registry, 5, signer=OTHER)[0]).batch
        ),
        "not-endorsement": dataclasses.replace(
            proof, endorsement_schema=batch.body_schema, endorsement=batch.body
        ),
        "schema": dataclasses.replace(proof, endorsement_schema=proof.endorsement_schema[:7]),
    }[craft]
    with pytest.raises(Rejected) as caught:
        _check(pki, registry, _header(registry, crafted), value)
    assert caught.value.reason == "endorsement_invalid", caught.value
    # The genuine copies beside it still hold.
    assert _check(pki, registry, [(codec.ENDORSEMENT_HEADER, wave[0])], value).message_id == "m-0"
    assert _check(pki, registry, _header(registry, second), VALUE + bytes([1])).message_id == "m-1"


def test_a_header_of_megabytes_is_refused_before_it_is_read(
    pki: TestPki, registry: Registry
) -> None:
    """A proof of two million empty hashes decodes for seconds into a huge list: refused
    by its length first, and by `claimed` (reconcile's read) as well."""
    proof = _proof(registry, _wave(pki, registry, 3)[0])
    huge = _header(registry, dataclasses.replace(proof, path=(b"",) * 2_000_000))
    assert len(huge[0][1]) > endorsement.MAX_HEADER
    with pytest.raises(Rejected) as caught:
        _check(pki, registry, huge, VALUE + bytes([0]))
    assert caught.value.reason == "endorsement_invalid"
    assert "none is over" in caught.value.message
    with pytest.raises(EnvelopeError):
        endorsement.claimed(registry, huge[0][1])
