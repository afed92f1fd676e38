"""Stage 3: who may say what. The edXML agrees with its signed envelope, and a status comes
from the party entitled to send it, moving its delivery forward only.

The signature proved which unit signed; this stage decides whether that unit may say this:
- a document's edXML names its signer as author, its recipients among the `To` units, a
  DocumentId of the signer's own, and the business type of the envelope's kind
  (schemas/binding.py); a revoke, update or replace refers to a document the signer had
  routed (the ledger knows);
- a status about message M comes from a unit M was delivered to (as recipient or as the
  successor it was redirected to) and goes to M's sender; a recall request (13) comes only
  from M's sender, and its answers (15, 16) only from a recipient it was put to; its edXML
  answers for M's document; and it moves the delivery forward (schemas/statuses.py).

The ledger facts it needs come in a `Context` the service reads first, so the stage is pure.
"""

from __future__ import annotations

import dataclasses

from broker.stages import Refusal
from broker.stages.authenticate import Authenticated
from kernel.errors import BindingError, Rejected
from kernel.reasons import ReasonCode
from schemas import binding, edxml, statuses
from schemas.envelope import EnvelopeBody, StatusBody

STAGE = "entitle"


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    recipient: str
    delivered_to: str | None
    state: str
    codes: frozenset[str] = frozenset()
    """Every state and status code on its timeline (refused ones left out)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Original:
    """A message as the ledger recorded it: what a status is about."""

    message_id: str
    sender: str
    kind: str
    document_id: str | None
    verdict: str
    deliveries: tuple[Delivery, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    original: Original | None = None
    """For a status: the message it is about (None: the ledger has none)."""
    follows_sent_document: bool = False
    """For a revoke, update or replace: the signer had a document of that id routed."""
    urgent_lane: bool = False
    """It came on the urgent lane, which only urgent documents and what follows them take."""
    stored: frozenset[str] = frozenset()
    """The SHA-256s, of those the envelope names by reference, of content the sender put in
    the claim-check store itself."""


@dataclasses.dataclass(frozen=True, slots=True)
class Entitled:
    authenticated: Authenticated
    delivery: Delivery | None = None
    """For a status: the delivery it is about."""
    step: statuses.Step | None = None


def entitle(
    authenticated: Authenticated, context: Context, packet: edxml.Packet | None
) -> Entitled | Refusal:
    """`packet`: the body's edXML, parsed once for every stage (None: the body has none)."""
    body = authenticated.verified.body
    try:
        binding.check(body, packet)
        if isinstance(body, StatusBody):
            delivery, step = _authority(body, packet, context.original)
            return Entitled(authenticated, delivery, step)
        _check_follow_up(body, context)
        _check_lane(body, context)
        _check_references(body, context)
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    return Entitled(authenticated)


def _check_follow_up(body: EnvelopeBody, context: Context) -> None:
    if body.kind in binding.FOLLOW_UPS and not context.follows_sent_document:
        raise BindingError(
            ReasonCode.FOLLOW_UP_UNKNOWN_DOCUMENT,
            f"a {body.kind} of document {body.document_id or '(none)'}, which {body.sender} "
            "never had routed",
        )


def _check_lane(body: EnvelopeBody, context: Context) -> None:
    """A new document on the urgent lane must be marked urgent (the priority its edXML
    states, which the binding holds to the envelope's): otherwise any unit could put its
    routine mail ahead of every other unit's. Follow-ups and recalls ride their document's
    lane, whatever their own priority."""
    if context.urgent_lane and body.kind == "document" and body.priority < 1:
        raise BindingError(
            ReasonCode.LANE_NOT_URGENT,
            f"a document of priority {body.priority} on the urgent lane: only khẩn, thượng "
            "khẩn and hỏa tốc documents (priority 1-4) take it",
        )


def _check_references(body: EnvelopeBody, context: Context) -> None:
    """A sender names by reference only content it stored itself: a hash is no secret
    (every recipient sees it), so knowing one must not let a unit send, and so read back
    through a recipient it controls, another unit's file."""
    for attachment in body.attachments:
        if attachment.reference is not None and attachment.sha256 not in context.stored:
            raise BindingError(
                ReasonCode.ATTACHMENT_MISSING,
                f"{attachment.name}: {body.sender} stored nothing under {attachment.reference}",
            )


def _authority(
    status: StatusBody, packet: edxml.Packet | None, original: Original | None
) -> tuple[Delivery, statuses.Step]:
    code = status.status_code
    # `routing`: delivered, the router's bookkeeping not finished yet (a fast receipt).
    if (
        original is None
        or original.verdict not in ("routing", "routed")
        or original.kind == "status"
    ):
        raise BindingError(
            ReasonCode.STATUS_UNKNOWN_MESSAGE,
            f"status {code} is about {status.responds_to}, which no unit had routed",
        )
    if code == "13":
        delivery = delivery_of(original, status.recipient)
        if status.sender != original.sender or delivery is None or delivery.state == "rejected":
            raise BindingError(
                ReasonCode.STATUS_NOT_ENTITLED,
                f"only {original.sender} may ask a recipient of {original.message_id} for it "
                f"back; {status.sender} asked {status.recipient}",
            )
    else:
        delivery = delivery_of(original, status.sender)
        if delivery is None or delivery.state == "rejected":
            raise BindingError(
                ReasonCode.STATUS_NOT_ENTITLED,
                f"{original.message_id} was not delivered to {status.sender}",
            )
        if status.recipient != original.sender:
            raise BindingError(
                ReasonCode.STATUS_NOT_ENTITLED,
                f"a status about {original.message_id} goes to its sender {original.sender}, "
                f"not to {status.recipient}",
            )
        if code in ("15", "16") and "13" not in delivery.codes:
            raise BindingError(
                ReasonCode.STATUS_NOT_ENTITLED,
                f"status {code} answers a recall request, and {original.sender} made none "
                f"to {status.sender}",
            )
    binding.check_response(status, packet, document_id=original.document_id, author=original.sender)
    step = statuses.step(delivery.state, code)
    if step is statuses.Step.UNKNOWN:
        raise BindingError(ReasonCode.STATUS_NOT_ENTITLED, f"{code!r} is not a status a unit sends")
    if step is statuses.Step.BACKWARDS:
        raise BindingError(
            ReasonCode.STATUS_BACKWARDS,
            f"the delivery of {original.message_id} to {delivery.recipient} is at "
            f"{delivery.state}; {code} would move it back",
        )
    return delivery, step


def delivery_of(original: Original, unit: str) -> Delivery | None:
    """The delivery `unit` answers for: as the recipient, or as the successor it reached."""
    for delivery in original.deliveries:
        if delivery.recipient == unit:
            return delivery
    return next((d for d in original.deliveries if d.delivered_to == unit), None)
