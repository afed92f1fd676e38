"""Certificate chains: from a signer's certificate to a trusted Government CA root.

One set of rules for every signature the exchange reads (envelopes, endorsements, PDF
attachments), each with its own reason code: the chain builds to a root of the trust store
through CA certificates (untrusted); every certificate on it is valid at the moment the
caller judges at (expired, not yet valid); no issuer has more CA certificates below it than
its pathLenConstraint allows (path length); the signer is not a CA (is CA), may make digital
signatures (key usage) and, if it names extended key usages, one of them allows signing
documents (extended key usage); and no certificate below the root is on its issuer's CRL
in the trust store, whether or not it names a distribution point (revoked; with no CRL of
that issuer current at that moment, revocation is unknown and refused).

The moment is the caller's (the router's receive time), never the signing time the sender
wrote: nothing trusted dates the signature, so a signer could otherwise backdate it into a
revoked or expired certificate's lifetime.

Built on `cryptography` directly rather than a generic path validator: the rules are few,
the reasons must be precise, and the router verifies every envelope, so built paths are
cached by the chain's bytes and each issuer's CRLs once their signatures are checked.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from kernel.errors import TrustError
from kernel.reasons import ReasonCode

CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer")
CRL_SUFFIXES = (".crl",)
MAX_PATH = 8

DOCUMENT_SIGNING_USAGES = frozenset(
    {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,  # 2.5.29.37.0: the CA restricts nothing
        x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # id-kp-documentSigning (RFC 9336)
        ExtendedKeyUsageOID.EMAIL_PROTECTION,  # 1.3.6.1.5.5.7.3.4
        x509.ObjectIdentifier("1.2.840.113583.1.1.5"),  # Adobe Authentic Documents Trust
        x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),  # Microsoft document signing
    }
)
"""Extended key usages that let a certificate sign documents.

RFC 9336's documentSigning is the purpose made for it; emailProtection (S/MIME) is what
many Vietnamese CAs put on their signing certificates; Adobe's and Microsoft's
document-signing purposes are what PDF and Office signing certificates carry; and
anyExtendedKeyUsage says the CA restricts nothing. A certificate naming only other
purposes (serverAuth, clientAuth, codeSigning, ...) was issued for something else, and
its CA vouched for nothing about documents.
"""


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
    if b"-----BEGIN" not in data:
        return [parse_certificate(data, source=source)]
    try:
        loaded = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise TrustError(
            ReasonCode.CERTIFICATE_MALFORMED, f"{source} is not a certificate: {exc}"
        ) from None
    return [_read_through(certificate, source=source) for certificate in loaded]


def parse_certificate(der: bytes, *, source: str) -> x509.Certificate:
    """A DER certificate with every part the checks read already parsed, or a TrustError.

    cryptography reads the version on load but the names, extensions and key only when
    first asked for, so a crafted one would raise its own exception (InvalidVersion,
    UnsupportedAlgorithm, DuplicateExtension, ValueError, TypeError) wherever that is,
    some of them before the chain meets the trust store.
    """
    try:
        certificate = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        raise TrustError(
            ReasonCode.CERTIFICATE_MALFORMED, f"{source} is not a certificate: {exc}"
        ) from None
    return _read_through(certificate, source=source)


def _read_through(certificate: x509.Certificate, *, source: str) -> x509.Certificate:
    try:
        # A name attribute out of its RFC 5280 bounds (a 3-letter country) is only warned
        # about by cryptography, at every read: it is malformed, so it is refused here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            for extension in certificate.extensions:
                _ = extension.value
            _ = (certificate.subject.rfc4514_string(), certificate.issuer.rfc4514_string())
            certificate.public_key()
    except UnsupportedAlgorithm as exc:
        raise TrustError(ReasonCode.ALGORITHM_UNSUPPORTED, f"{source}: {exc}") from None
    except (ValueError, TypeError, UserWarning, x509.DuplicateExtension) as exc:
        raise TrustError(
            ReasonCode.CERTIFICATE_MALFORMED, f"{source} is not a valid certificate: {exc}"
        ) from None
    return certificate


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


def _constraints(certificate: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    constraints = _constraints(certificate)
    if constraints is None or not constraints.ca:
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
        self._revocations: dict[bytes, tuple[_Crl, ...]] = {}

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

    def validate(self, chain: Sequence[bytes], *, at: datetime.datetime) -> Validated:
        """Check `chain` (DER, signer first, issuers in any order) as of the moment `at`:
        validity and revocation both, so a backdated signing time gains nothing."""
        path = self._path(chain)
        for certificate in path[:-1]:
            _check_algorithm(certificate)
            _check_critical_extensions(certificate)
        for certificate in path:
            _check_validity(certificate, at)
        _check_path_lengths(path)
        _check_signer(path[0])
        for certificate, issuer in itertools.pairwise(path):
            self._check_revocation(certificate, issuer, at)
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
        certificates = [
            parse_certificate(der, source=f"certificate {index} of the chain")
            for index, der in enumerate(chain)
        ]
        _check_algorithm(certificates[0])
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
                if root.subject == current.issuer and _is_ca(root) and _issued_by(current, root):
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
        self, certificate: x509.Certificate, issuer: x509.Certificate, at: datetime.datetime
    ) -> None:
        """The issuer's CRLs in the trust store decide, whatever distribution point the
        certificate names or omits: an attacker chooses those, the operator the store."""
        crl = next((c for c in self._crls_of(issuer) if c.current_at(at)), None)
        if crl is None:
            if self.require_revocation:
                raise TrustError(
                    ReasonCode.REVOCATION_UNKNOWN,
                    f"no CRL from {issuer.subject.rfc4514_string()} current at "
                    f"{at:%Y-%m-%d %H:%M} UTC covers {_name(certificate)}",
                )
            return
        revocation_date = crl.revoked.get(certificate.serial_number)
        if revocation_date is not None:
            raise TrustError(
                ReasonCode.CERTIFICATE_REVOKED,
                f"{_name(certificate)} was revoked on {revocation_date:%Y-%m-%d}",
            )

    def _crls_of(self, issuer: x509.Certificate) -> tuple[_Crl, ...]:
        """The issuer's correctly signed CRLs, newest first.

        Kept per issuer, whatever the moment asked about (each call picks the one current
        at its own moment): checking a CRL's signature costs more than verifying the
        envelope itself.
        """
        key = issuer.signature  # unique per certificate, and free to read
        cached = self._revocations.get(key)
        if cached is None:
            signed = [crl for crl in self.crls if _crl_signed_by(crl, issuer)]
            cached = tuple(
                _Crl(
                    crl.next_update_utc,
                    {entry.serial_number: entry.revocation_date_utc for entry in crl},
                )
                for crl in sorted(signed, key=lambda crl: crl.last_update_utc, reverse=True)
            )
            self._revocations[key] = cached
        return cached


@dataclasses.dataclass(frozen=True, slots=True)
class _Crl:
    """What a CRL whose signature was checked says: until when it is current, and the
    revoked serials."""

    next_update: datetime.datetime | None
    revoked: dict[int, datetime.datetime]

    def current_at(self, at: datetime.datetime) -> bool:
        """Not yet superseded at `at`: a CRL past its next update may miss revocations."""
        return self.next_update is None or at <= self.next_update


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Names the issuer and carries its signature: a forged or corrupt CRL counts as none."""
    return crl.issuer == issuer.subject and crl.is_signature_valid(
        issuer.public_key()  # type: ignore[arg-type]
    )


def _check_validity(certificate: x509.Certificate, at: datetime.datetime) -> None:
    if at < certificate.not_valid_before_utc:
        raise TrustError(
            ReasonCode.CERTIFICATE_NOT_YET_VALID,
            f"{_name(certificate)} is valid from "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC, "
            f"after {at:%Y-%m-%d %H:%M} UTC",
        )
    if at > certificate.not_valid_after_utc:
        raise TrustError(
            ReasonCode.CERTIFICATE_EXPIRED,
            f"{_name(certificate)} expired {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, "
            f"before {at:%Y-%m-%d %H:%M} UTC",
        )


def _check_path_lengths(path: Sequence[x509.Certificate]) -> None:
    """Each issuer's pathLenConstraint bounds the CA certificates between it and the signer:
    a CA allowed to issue only end-entity certificates must not have made a sub-CA."""
    for index, issuer in enumerate(path[1:], start=1):
        constraints = _constraints(issuer)
        limit = constraints.path_length if constraints else None
        if limit is not None and index - 1 > limit:
            raise TrustError(
                ReasonCode.CERTIFICATE_PATH_LENGTH,
                f"{_name(issuer)} allows {limit} CA certificate(s) below it, "
                f"the chain has {index - 1}",
            )


def _check_signer(signer: x509.Certificate) -> None:
    """An end-entity certificate whose key and extended key usages allow signing."""
    constraints = _constraints(signer)
    if constraints is not None and constraints.ca:
        raise TrustError(
            ReasonCode.CERTIFICATE_IS_CA,
            f"{_name(signer)} is a CA certificate; only end-entity certificates sign",
        )
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
    try:
        purposes = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if DOCUMENT_SIGNING_USAGES.isdisjoint(purposes):
        raise TrustError(
            ReasonCode.CERTIFICATE_EXTENDED_KEY_USAGE,
            f"{_name(signer)} is for {', '.join(oid.dotted_string for oid in purposes)}, "
            "not for signing documents",
        )


WEAK_HASHES = frozenset({"md5", "sha1"})


def _check_algorithm(certificate: x509.Certificate) -> None:
    """A CA's signature over a certificate by a broken hash proves nothing (the PDF path's
    pyhanko refuses the same, so both paths say `algorithm_unsupported`)."""
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if algorithm is None or algorithm.name in WEAK_HASHES:
        name = algorithm.name if algorithm is not None else "an unsupported algorithm"
        raise TrustError(
            ReasonCode.ALGORITHM_UNSUPPORTED, f"{_name(certificate)} is signed with {name}"
        )


PROCESSED_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
    }
)
"""Extensions this validator acts on (the distribution point by consulting the store's CRLs
whatever it names) or that only identify: the rest, critical, must refuse the certificate."""


def _check_critical_extensions(certificate: x509.Certificate) -> None:
    """RFC 5280 §4.2: a certificate with a critical extension the validator does not process
    must be refused, whatever the extension would have said. Known to cryptography is not
    processed here: a critical name or policy constraint would otherwise pass unenforced."""
    for extension in certificate.extensions:
        if extension.critical and extension.oid not in PROCESSED_EXTENSIONS:
            raise TrustError(
                ReasonCode.CERTIFICATE_UNTRUSTED,
                f"{_name(certificate)} carries a critical extension {extension.oid.dotted_string} "
                "this validator does not process",
            )


def _name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else certificate.subject.rfc4514_string()
    return f"certificate '{common}' (serial {certificate.serial_number:x})"
