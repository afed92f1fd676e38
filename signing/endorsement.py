"""The router's endorsement of a delivery: made when it routes, checked by the receiving
connector before anything is registered.

A record on a unit topic is the sender's envelope, untouched, so its own signature cannot
say where it was meant to land or whether it passed the router. The endorsement says that,
signed by the router: this envelope (by SHA-256), to this unit, for this recipient, with
this redirect and paper-copy flag. Whoever can write to a unit topic without the router's
key (a stolen admin credential, a misconfigured ACL) can only copy endorsements, and a copy
names another topic's unit or the same message id, which is a duplicate.

An endorsement travels in one of two forms. Alone, it is signed by itself (a notice, a
wave of one). With its wave (`endorse_all`), the router signs once the root of a Merkle
tree over the wave's endorsements (RFC 9162's hashing, through pymerkle), and each copy
carries its endorsement with an inclusion proof: an RSA signature cost a quarter of a
millisecond per copy, the largest single cost of routing a document. A proof binds its
endorsement exactly as a signature does: no leaf other than the one signed into the tree
reaches the signed root.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence

from pymerkle import InclusionProof, InmemoryTree, InvalidProof, verify_inclusion
from pymerkle.hasher import MerkleHasher

from kernel.errors import EnvelopeError, Rejected, TrustError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas.envelope import (
    Endorsement,
    EndorsementBatch,
    EndorsementProof,
    SignedEnvelope,
    decode_proof,
    decode_signed,
    encode,
    open_batch,
    open_endorsement,
    read_endorsement,
)
from signing.certificates import Binding, TrustStore, parse_certificate
from signing.envelope import check_signature, sign
from signing.identity import Identity

HASH = "sha256"
MAX_PATH = 64
MAX_HEADER = 64 * 1024
"""The longest endorsement header read: a certificate chain and a proof of 64 hashes fit
many times over; a crafted one of megabytes is refused before it is decoded."""
"""Hashes an inclusion proof may carry: a tree of 2^63 leaves needs 64 with the leaf's."""
_HASHER = MerkleHasher(HASH, security=True)
"""Leaves hashed as RFC 9162 does (0x00 before a leaf, 0x01 before a node), as the tree
`endorse_all` builds hashes them."""


def endorsement_of(
    router: Identity,
    envelope_sha256: bytes,
    *,
    message_id: str,
    delivered_to: str,
    requested: str,
    redirected_from: tuple[str, ...] = (),
    paper_copy_required: bool = False,
    received_at: datetime.datetime | None = None,
) -> Endorsement:
    """What the router says of delivering the envelope of that SHA-256, not yet signed."""
    return Endorsement(
        message_id=message_id,
        envelope_sha256=envelope_sha256,
        delivered_to=delivered_to,
        requested=requested,
        sender=router.unit,
        created_at=datetime.datetime.now(datetime.UTC),
        redirected_from=redirected_from,
        paper_copy_required=paper_copy_required,
        received_at=received_at,
    )


def endorse(
    router: Identity,
    registry: codec.Registry,
    value: bytes,
    *,
    message_id: str,
    delivered_to: str,
    requested: str,
    redirected_from: tuple[str, ...] = (),
    paper_copy_required: bool = False,
    received_at: datetime.datetime | None = None,
) -> tuple[str, bytes]:
    """The (header name, header value) to put on the record delivering `value`."""
    endorsement = endorsement_of(
        router, hashlib.sha256(value).digest(), message_id=message_id,
        delivered_to=delivered_to, requested=requested, redirected_from=redirected_from,
        paper_copy_required=paper_copy_required, received_at=received_at,
    )  # fmt: skip
    return endorse_all(router, registry, [endorsement])[0]


def endorse_all(
    router: Identity, registry: codec.Registry, endorsements: Sequence[Endorsement]
) -> list[tuple[str, bytes]]:
    """The header of each endorsement, in order, for one signature: a wave of one is
    signed by itself; a larger wave as the root of its Merkle tree, each header carrying
    its endorsement's inclusion proof."""
    if not endorsements:
        return []
    if len(endorsements) == 1:
        body_schema, body = encode(registry, endorsements[0])
        return [_header(registry, sign(body_schema, body, router.key, router.chain))]
    leaves = [encode(registry, e) for e in endorsements]
    tree = InmemoryTree.init_from_entries([schema + body for schema, body in leaves], HASH)
    size = tree.get_size()
    batch = EndorsementBatch(
        tree.get_root(size), size, router.unit, datetime.datetime.now(datetime.UTC)
    )
    batch_schema, batch_body = encode(registry, batch)
    _, signed = _header(registry, sign(batch_schema, batch_body, router.key, router.chain))
    headers = []
    for index, (schema, body) in enumerate(leaves, start=1):
        proof = tree.prove_inclusion(index, size)
        record = EndorsementProof(schema, body, index, tuple(proof.rule), tuple(proof.path), signed)
        headers.append(
            (codec.ENDORSEMENT_HEADER, codec.to_single_object(*encode(registry, record)))
        )
    return headers


def _header(registry: codec.Registry, envelope: SignedEnvelope) -> tuple[str, bytes]:
    return codec.ENDORSEMENT_HEADER, codec.to_single_object(*encode(registry, envelope))


def check(
    headers: codec.Headers,
    value: bytes,
    *,
    unit: str,
    router_id: str,
    trust: TrustStore,
    registry: codec.Registry,
    binding: Binding = Binding(),  # noqa: B008 (frozen)
) -> Endorsement:
    """The router's endorsement of delivering `value` to `unit`, or a refusal naming why."""
    found = [v for k, v in headers if k == codec.ENDORSEMENT_HEADER]
    if not found:
        raise Rejected(
            ReasonCode.ENDORSEMENT_MISSING,
            f"the record has no {codec.ENDORSEMENT_HEADER} header: it did not come from the router",
        )
    if len(found) > 1 or found[0] is None:
        raise Rejected(ReasonCode.ENDORSEMENT_INVALID, "the record carries a malformed endorsement")
    if len(found[0]) > MAX_HEADER:
        raise Rejected(
            ReasonCode.ENDORSEMENT_INVALID,
            f"the endorsement is {len(found[0])} bytes; none is over {MAX_HEADER}",
        )
    try:
        proof, envelope = _signed(registry, found[0])
        signer = parse_certificate(envelope.certificate_chain[0], source="the router's certificate")
        check_signature(envelope, signer)
        if router_id not in binding.units_of(signer):
            raise Rejected(
                ReasonCode.ENDORSEMENT_INVALID,
                f"the endorsement is not signed by the router ({router_id})",
            )
        if proof is None:
            endorsement = open_endorsement(registry, envelope)
            signed_at = endorsement.created_at
        else:
            batch = open_batch(registry, envelope)
            endorsement = _proven(registry, proof, batch)
            signed_at = batch.created_at
        trust.validate(envelope.certificate_chain, at=signed_at)
    except (EnvelopeError, TrustError) as exc:
        raise Rejected(
            ReasonCode.ENDORSEMENT_INVALID, f"the endorsement does not hold: {exc.message}"
        ) from exc
    except (IndexError, ValueError) as exc:
        raise Rejected(
            ReasonCode.ENDORSEMENT_INVALID, f"the endorsement's certificate: {exc}"
        ) from exc
    if endorsement.envelope_sha256 != hashlib.sha256(value).digest():
        raise Rejected(
            ReasonCode.ENDORSEMENT_INVALID, "the endorsement was made for another envelope"
        )
    if endorsement.delivered_to != unit:
        raise Rejected(
            ReasonCode.NOT_A_RECIPIENT,
            f"the router delivered this to {endorsement.delivered_to}, not to {unit}",
        )
    return endorsement


def claimed(registry: codec.Registry, header: bytes) -> Endorsement:
    """The endorsement a header carries, read without checking it (an operator's view of
    a topic; nothing is accepted on its word)."""
    proof, envelope = _signed(registry, header)
    if proof is None:
        return open_endorsement(registry, envelope)
    return _leaf(registry, proof)


def _signed(
    registry: codec.Registry, header: bytes
) -> tuple[EndorsementProof | None, SignedEnvelope]:
    """What the router signed in this header: the endorsement itself, or its wave's root
    (with the proof that leads from the endorsement to it)."""
    if len(header) > MAX_HEADER:
        raise EnvelopeError(
            ReasonCode.ENDORSEMENT_INVALID, f"an endorsement over {MAX_HEADER} bytes"
        )
    fingerprint, payload = codec.from_single_object(header)
    if registry.name_of(fingerprint).rsplit(".", 1)[-1] != "EndorsementProof":
        return None, decode_signed(registry, fingerprint, payload)
    proof = decode_proof(registry, fingerprint, payload)
    return proof, decode_signed(registry, *codec.from_single_object(proof.batch))


def _proven(
    registry: codec.Registry, proof: EndorsementProof, batch: EndorsementBatch
) -> Endorsement:
    """The proof's endorsement, once its inclusion proof leads to the signed root."""
    if len(proof.path) > MAX_PATH or len(proof.rule) > MAX_PATH:
        raise EnvelopeError(ReasonCode.ENDORSEMENT_INVALID, "the inclusion proof is too long")
    leaf = _HASHER.hash_buff(proof.endorsement_schema + proof.endorsement)
    try:
        verify_inclusion(
            leaf, batch.root,
            InclusionProof(HASH, True, batch.size, proof.index, list(proof.rule), list(proof.path)),
            index=proof.index, size=batch.size, algorithm=HASH, security=True,
        )  # fmt: skip
    except InvalidProof as exc:
        raise EnvelopeError(
            ReasonCode.ENDORSEMENT_INVALID,
            f"its inclusion proof does not lead to the signed root ({exc})",
        ) from None
    return _leaf(registry, proof)


def _leaf(registry: codec.Registry, proof: EndorsementProof) -> Endorsement:
    return read_endorsement(registry, proof.endorsement_schema, proof.endorsement)
