"""The router's endorsement of a delivery: made when it routes, checked by the receiving
connector before anything is registered.

A record on a unit topic is the sender's envelope, untouched, so its own signature cannot
say where it was meant to land or whether it passed the router. The endorsement says that,
signed by the router: this envelope (by SHA-256), to this unit, for this recipient, with
this redirect and paper-copy flag. Whoever can write to a unit topic without the router's
key (a stolen admin credential, a misconfigured ACL) can only copy endorsements, and a copy
names another topic's unit or the same message id, which is a duplicate.
"""

from __future__ import annotations

import datetime
import hashlib

from kernel.errors import EnvelopeError, Rejected, TrustError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas.envelope import Endorsement, decode_signed, encode, open_endorsement
from signing.certificates import Binding, TrustStore, parse_certificate
from signing.envelope import check_signature, sign
from signing.identity import Identity


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
    endorsement = Endorsement(
        message_id=message_id,
        envelope_sha256=hashlib.sha256(value).digest(),
        delivered_to=delivered_to,
        requested=requested,
        sender=router.unit,
        created_at=datetime.datetime.now(datetime.UTC),
        redirected_from=redirected_from,
        paper_copy_required=paper_copy_required,
        received_at=received_at,
    )
    body_schema, body = encode(registry, endorsement)
    fingerprint, signed = encode(registry, sign(body_schema, body, router.key, router.chain))
    return codec.ENDORSEMENT_HEADER, codec.to_single_object(fingerprint, signed)


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
    try:
        fingerprint, payload = codec.from_single_object(found[0])
        envelope = decode_signed(registry, fingerprint, payload)
        signer = parse_certificate(envelope.certificate_chain[0], source="the router's certificate")
        check_signature(envelope, signer)
        if router_id not in binding.units_of(signer):
            raise Rejected(
                ReasonCode.ENDORSEMENT_INVALID,
                f"the endorsement is not signed by the router ({router_id})",
            )
        endorsement = open_endorsement(registry, envelope)
        trust.validate(envelope.certificate_chain, at=endorsement.created_at)
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
