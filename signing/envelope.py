"""Sign and verify envelopes over the exact bytes of their body.

The signature covers `body_schema || body` (see `SignedEnvelope.signed_bytes`): the body is
never re-encoded before verifying, because Avro encoding is deterministic but not canonical.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from schemas.codec import Registry
from schemas.envelope import Algorithm, Body, SignedEnvelope, open_body
from signing.certificates import Binding, TrustStore, Validated, parse_certificate
from signing.keys import PrivateKey

MIN_RSA_BITS = 2048
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def algorithm_for(key: PrivateKey, *, pss: bool = False) -> Algorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise TrustError(
                ReasonCode.ALGORITHM_UNSUPPORTED, f"curve {key.curve.name} is not P-256"
            )
        return "ECDSA_P256_SHA256"
    if key.key_size < MIN_RSA_BITS:
        raise TrustError(ReasonCode.ALGORITHM_UNSUPPORTED, f"RSA-{key.key_size} is too short")
    return "RSA_PSS_SHA256" if pss else "RSA_PKCS1V15_SHA256"


def sign(
    body_schema: bytes,
    body: bytes,
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    pss: bool = False,
) -> SignedEnvelope:
    """Sign the body bytes with `key`; `chain` is the signer's certificate then its issuers."""
    algorithm = algorithm_for(key, pss=pss)
    data = body_schema + body
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(data, _PSS if pss else padding.PKCS1v15(), hashes.SHA256())
    return SignedEnvelope(
        body_schema=body_schema,
        body=body,
        signature=signature,
        algorithm=algorithm,
        certificate_chain=tuple(c.public_bytes(Encoding.DER) for c in chain),
    )


def check_signature(envelope: SignedEnvelope, signer: x509.Certificate) -> None:
    """The signature is the signer's over the signed bytes, by an accepted algorithm."""
    public_key = signer.public_key()
    data = envelope.signed_bytes
    try:
        if envelope.algorithm == "ECDSA_P256_SHA256":
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
                public_key.curve, ec.SECP256R1
            ):
                raise _unsupported(envelope.algorithm, public_key)
            public_key.verify(envelope.signature, data, ec.ECDSA(hashes.SHA256()))
        elif envelope.algorithm in ("RSA_PKCS1V15_SHA256", "RSA_PSS_SHA256"):
            if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < MIN_RSA_BITS:
                raise _unsupported(envelope.algorithm, public_key)
            scheme = _PSS if envelope.algorithm == "RSA_PSS_SHA256" else padding.PKCS1v15()
            public_key.verify(envelope.signature, data, scheme, hashes.SHA256())
        else:
            raise TrustError(
                ReasonCode.ALGORITHM_UNSUPPORTED,
                f"signature algorithm {envelope.algorithm} is not accepted",
            )
    except InvalidSignature:
        raise TrustError(
            ReasonCode.SIGNATURE_INVALID,
            "the signature does not match the body and the signer's certificate",
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Verified:
    body: Body
    chain: Validated
    unit: str
    personal: bool


def verify(
    envelope: SignedEnvelope,
    *,
    trust: TrustStore,
    registry: Registry,
    binding: Binding = Binding(),  # noqa: B008 (frozen)
    expected_sender: str | None = None,
    at: datetime.datetime | None = None,
) -> Verified:
    """Signature, then the body it covers, then the chain as of `at` (None: now).

    Not as of the body's `created_at`: the sender wrote that, and a backdated body would
    otherwise be judged in an expired or since revoked certificate's lifetime.
    """
    if not envelope.certificate_chain:
        raise TrustError(ReasonCode.CERTIFICATE_MALFORMED, "the envelope carries no certificate")
    signer = parse_certificate(envelope.certificate_chain[0], source="the signer's certificate")
    check_signature(envelope, signer)
    body = open_body(registry, envelope)
    units = binding.units_of(signer)
    if body.sender not in units or (expected_sender and expected_sender != body.sender):
        raise TrustError(
            ReasonCode.CERTIFICATE_WRONG_UNIT,
            f"the envelope says it is from {body.sender}"
            + (f" (published as {expected_sender})" if expected_sender else "")
            + f" but its certificate belongs to {', '.join(sorted(units)) or 'no unit'}",
        )
    validated = trust.validate(
        envelope.certificate_chain, at=at or datetime.datetime.now(datetime.UTC)
    )
    return Verified(
        body=body, chain=validated, unit=body.sender, personal=binding.is_personal(signer)
    )


def _unsupported(algorithm: str, public_key: object) -> TrustError:
    return TrustError(
        ReasonCode.ALGORITHM_UNSUPPORTED,
        f"{algorithm} cannot be made with the certificate's {type(public_key).__name__}",
    )
