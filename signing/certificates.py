"""Certificate chains: from a signer's certificate to a trusted Government CA root.

The checks, each with its own reason code: the chain builds to a root of the trust store
(untrusted), every certificate on it is valid at the signing time (expired, not yet valid),
issuers are CAs and the signer may sign (key usage), no certificate on it is on its
issuer's CRL (revoked; with no current CRL at all, revocation is unknown and refused),
and the signer belongs to the sending unit (wrong unit).

Built on `cryptography` directly rather than a generic path validator: the rules are few,
the reasons must be precise, and the router verifies every envelope, so built paths are
cached by the chain's bytes.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from kernel.errors import TrustError
from kernel.reasons import ReasonCode

CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer")
CRL_SUFFIXES = (".crl",)
MAX_PATH = 8


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    """How a certificate names its unit: a subject attribute holding `<prefix><OrganId>`.

    Vietnamese CAs put identifiers in the subject UID attribute with a prefix (`MST:` tax
    code, `CCCD:` citizen id); units carry `MDDT:` (mã định danh điện tử).
    """

    oid: x509.ObjectIdentifier = NameOID.USER_ID
    unit_prefix: str = "MDDT:"
    person_prefix: str = "CCCD:"

    def units_of(self, certificate: x509.Certificate) -> set[str]:
        return {
            value[len(self.unit_prefix) :]
            for value in self._values(certificate)
            if value.startswith(self.unit_prefix)
        }

    def is_personal(self, certificate: x509.Certificate) -> bool:
        return any(v.startswith(self.person_prefix) for v in self._values(certificate))

    def _values(self, certificate: x509.Certificate) -> list[str]:
        return [str(a.value) for a in certificate.subject.get_attributes_for_oid(self.oid)]


def load_certificates(data: bytes, *, source: str) -> list[x509.Certificate]:
    """PEM (one or many) or DER; anything else is a malformed certificate."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TrustError(
            ReasonCode.CERTIFICATE_MALFORMED, f"{source} is not a certificate: {exc}"
        ) from exc


def load_crl(data: bytes, *, source: str) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise TrustError(ReasonCode.CERTIFICATE_MALFORMED, f"{source} is not a CRL: {exc}") from exc


def _self_signed(certificate: x509.Certificate) -> bool:
    if certificate.subject != certificate.issuer:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


@dataclasses.dataclass(frozen=True, slots=True)
class Validated:
    """A chain that passed: the signer first, the trusted root last."""

    path: tuple[x509.Certificate, ...]

    @property
    def signer(self) -> x509.Certificate:
        return self.path[0]


class TrustStore:
    """Trusted roots (the self-signed certificates), intermediates and CRLs."""

    def __init__(
        self,
        certificates: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        require_revocation: bool = True,
    ) -> None:
        self.roots: list[x509.Certificate] = []
        self.intermediates: list[x509.Certificate] = []
        for certificate in certificates:
            (self.roots if _self_signed(certificate) else self.intermediates).append(certificate)
        self.crls = list(crls)
        self.require_revocation = require_revocation
        self._paths: dict[bytes, tuple[x509.Certificate, ...]] = {}
        self._revocations: dict[
            bytes, tuple[datetime.datetime | None, dict[int, datetime.datetime]]
        ] = {}

    @classmethod
    def load(cls, directory: Path, *, require_revocation: bool = True) -> TrustStore:
        """A folder of CA certificates (*.pem, *.crt, *.cer; PEM or DER) and CRLs (*.crl)."""
        if not directory.is_dir():
            raise TrustError(
                ReasonCode.CERTIFICATE_UNTRUSTED, f"the trust store {directory} is not a folder"
            )
        certificates: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        for path in sorted(directory.iterdir()):
            suffix = path.suffix.lower()
            if suffix in CERTIFICATE_SUFFIXES:
                certificates.extend(load_certificates(path.read_bytes(), source=str(path)))
            elif suffix in CRL_SUFFIXES:
                crls.append(load_crl(path.read_bytes(), source=str(path)))
        return cls(certificates, crls, require_revocation=require_revocation)

    def validate(
        self,
        chain: Sequence[bytes],
        *,
        at: datetime.datetime,
        now: datetime.datetime | None = None,
    ) -> Validated:
        """Check `chain` (DER, signer first) as of signing time `at`; CRLs as of `now`."""
        path = self._path(chain)
        for certificate in path:
            if at < certificate.not_valid_before_utc:
                raise TrustError(
                    ReasonCode.CERTIFICATE_NOT_YET_VALID,
                    f"{_name(certificate)} is valid from "
                    f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC, "
                    f"after the signing time {at:%Y-%m-%d %H:%M} UTC",
                )
            if at > certificate.not_valid_after_utc:
                raise TrustError(
                    ReasonCode.CERTIFICATE_EXPIRED,
                    f"{_name(certificate)} expired "
                    f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, "
                    f"before the signing time {at:%Y-%m-%d %H:%M} UTC",
                )
        _check_signer_usage(path[0])
        checked_at = now or datetime.datetime.now(datetime.UTC)
        for certificate, issuer in itertools.pairwise(path):
            self._check_revocation(certificate, issuer, checked_at)
        return Validated(path)

    def _path(self, chain: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
        if not chain:
            raise TrustError(
                ReasonCode.CERTIFICATE_MALFORMED, "the envelope carries no certificate"
            )
        key = hashlib.sha256(b"".join(hashlib.sha256(der).digest() for der in chain)).digest()
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        certificates: list[x509.Certificate] = []
        for index, der in enumerate(chain):
            try:
                certificates.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                raise TrustError(
                    ReasonCode.CERTIFICATE_MALFORMED, f"certificate {index} of the chain: {exc}"
                ) from exc
        path = self._build(certificates[0], certificates[1:] + self.intermediates)
        if len(self._paths) > 10_000:
            self._paths.clear()
        self._paths[key] = path
        return path

    def _build(
        self, signer: x509.Certificate, pool: list[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        path = [signer]
        current = signer
        while len(path) <= MAX_PATH:
            for root in self.roots:
                if root.subject == current.issuer and _issued_by(current, root):
                    return (*path, root)
            issuer = next(
                (
                    candidate
                    for candidate in pool
                    if candidate.subject == current.issuer
                    and candidate not in path
                    and _is_ca(candidate)
                    and _issued_by(current, candidate)
                ),
                None,
            )
            if issuer is None:
                break
            path.append(issuer)
            current = issuer
        raise TrustError(
            ReasonCode.CERTIFICATE_UNTRUSTED,
            f"{_name(signer)} does not chain to a trusted root (stopped at issuer "
            f"{current.issuer.rfc4514_string()})",
        )

    def _check_revocation(
        self, certificate: x509.Certificate, issuer: x509.Certificate, now: datetime.datetime
    ) -> None:
        revoked = self._revoked_by(issuer, now)
        if revoked is None:
            if self.require_revocation:
                raise TrustError(
                    ReasonCode.REVOCATION_UNKNOWN,
                    f"no current CRL from {issuer.subject.rfc4514_string()} "
                    f"covers {_name(certificate)}",
                )
            return
        revocation_date = revoked.get(certificate.serial_number)
        if revocation_date is not None:
            raise TrustError(
                ReasonCode.CERTIFICATE_REVOKED,
                f"{_name(certificate)} was revoked on {revocation_date:%Y-%m-%d}",
            )

    def _revoked_by(
        self, issuer: x509.Certificate, now: datetime.datetime
    ) -> dict[int, datetime.datetime] | None:
        """Serial -> revocation date from the issuer's newest current CRL, or None if none.

        Kept per issuer until the CRL's next update: checking a CRL's signature costs more
        than verifying the envelope itself.
        """
        key = issuer.signature  # unique per certificate, and free to read
        cached = self._revocations.get(key)
        if cached is not None and (cached[0] is None or now <= cached[0]):
            return cached[1]
        current = [
            crl
            for crl in self.crls
            if crl.issuer == issuer.subject
            and crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            and (crl.next_update_utc is None or crl.next_update_utc >= now)
        ]
        if not current:
            return None
        newest = max(current, key=lambda crl: crl.last_update_utc)
        revoked = {entry.serial_number: entry.revocation_date_utc for entry in newest}
        self._revocations[key] = (newest.next_update_utc, revoked)
        return revoked


def _check_signer_usage(signer: x509.Certificate) -> None:
    try:
        usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise TrustError(
            ReasonCode.CERTIFICATE_KEY_USAGE, f"{_name(signer)} has no key usage extension"
        ) from None
    if not (usage.digital_signature or usage.content_commitment):
        raise TrustError(
            ReasonCode.CERTIFICATE_KEY_USAGE, f"{_name(signer)} may not make digital signatures"
        )


def _name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else certificate.subject.rfc4514_string()
    return f"certificate '{common}' (serial {certificate.serial_number:x})"
