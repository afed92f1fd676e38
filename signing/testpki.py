"""A test PKI shaped like the Government's: a root CA, an issuing CA below it (as the
Government Cipher Committee's), organisation certificates carrying `MDDT:<OrganId>`,
personal certificates for heads of units, and CRLs from both CAs.

For tests and the demo only: every name says TEST, and keys are written unencrypted.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kernel.secrets import write_private
from signing import keys
from signing.certificates import TrustStore
from signing.keys import KeyKind, PrivateKey

ORGANIZATION = "lienthong TEST PKI - not for production"
_DAY = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True, slots=True)
class Issued:
    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    """The certificate, then its issuers up to (not including) the root."""

    def write(self, directory: Path) -> None:
        """key.pem 0600 from its creation in a 0700 directory, then the public files."""
        write_private(directory / "key.pem", keys.to_pem(self.key))
        (directory / "cert.pem").write_bytes(_pem(self.certificate))
        (directory / "chain.pem").write_bytes(b"".join(_pem(c) for c in self.chain[1:]))


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


MAX_COMMON_NAME = 64
"""RFC 5280's ub-common-name, which cryptography counts in UTF-8 bytes and refuses past:
a unit's name (or "Thủ trưởng " and it) can be longer. The unit is bound by its UID,
never by this name, so a shortened one loses nothing."""


def _shortened(common_name: str) -> str:
    if len(common_name.encode()) <= MAX_COMMON_NAME:
        return common_name
    while len(f"{common_name}…".encode()) > MAX_COMMON_NAME:
        common_name = common_name[:-1]
    return f"{common_name.rstrip()}…"


def _name(common_name: str, *uids: str) -> x509.Name:
    common_name = _shortened(common_name)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    attributes.extend(x509.NameAttribute(NameOID.USER_ID, uid) for uid in uids)
    return x509.Name(attributes)


def _slug(name: x509.Name) -> str:
    common_name = str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    return "".join(c if c.isalnum() else "-" for c in common_name.lower()).strip("-")


def _crl_url(issuer: x509.Name) -> str:
    return f"http://crl.lienthong.invalid/{_slug(issuer)}.crl"


def key_usage(*granted: str) -> x509.KeyUsage:
    """A KeyUsage with only the `granted` flags (cryptography's attribute names) set."""
    flags = (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    )  # fmt: skip
    return x509.KeyUsage(**{flag: flag in granted for flag in flags})


_SIGNER_USAGE = key_usage("digital_signature", "content_commitment")
_CA_USAGE = key_usage("key_cert_sign", "crl_sign")


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """What a certificate says it is for; the defaults make a unit's signing certificate.

    The other values make the certificates a relying party must refuse: a CA (`ca`, with
    `path_length`), another key usage, extended key usages for something else, or no CRL
    distribution point (the trust store's CRL must still be consulted).
    """

    ca: bool = False
    path_length: int | None = None
    key_usage: x509.KeyUsage | None = None
    """None: digitalSignature and nonRepudiation, or keyCertSign and cRLSign for a CA."""
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] | None = None
    distribution_point: bool = True
    digest: str = "sha256"
    """The issuer's signature hash. `cryptography` signs with SHA-2 only, so a `sha1` one
    comes from the `openssl` CLI (tests/unit/test_certificate_rules.py)."""
    critical_unknown: bool = False
    """A critical extension of a private OID, which RFC 5280 says must make it refused."""

    @property
    def usage(self) -> x509.KeyUsage:
        return self.key_usage or (_CA_USAGE if self.ca else _SIGNER_USAGE)


CA = Profile(ca=True)
PRIVATE_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")


class TestPki:
    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        *,
        kind: KeyKind = "rsa2048",
        now: datetime.datetime | None = None,
        key_cache: KeyCache | None = None,
    ) -> None:
        self.kind = kind
        self.now = now or datetime.datetime.now(datetime.UTC)
        root_key = cached_key(key_cache, kind, "root") or keys.generate(kind)
        root_name = _name("TEST Root CA (lienthong)")
        root_cert = self._build(
            subject=root_name,
            issuer_name=root_name,
            issuer_key=root_key,
            public_key=root_key,
            profile=Profile(ca=True, path_length=1),
            not_before=self.now - 365 * _DAY,
            not_after=self.now + 20 * 365 * _DAY,
        )
        self.root = Issued(root_key, root_cert, (root_cert,))
        self.issuing = self.issue(
            "TEST Government Cipher Committee CA (lienthong)",
            key=cached_key(key_cache, kind, "issuing"),
            issuer=self.root,
            profile=Profile(ca=True, path_length=0),
            not_before=self.now - 365 * _DAY,
            not_after=self.now + 10 * 365 * _DAY,
        )
        self.authorities: list[Issued] = [self.issuing, self.root]
        """Every CA, each publishing a CRL (the trust store holds only the root's and the
        issuing CA's certificates; a sub-CA's travels in the signer's chain)."""
        self.revoked: list[x509.Certificate] = []
        self.stale: list[x509.Certificate] = []
        self.withheld: list[x509.Certificate] = []

    def _build(
        self,
        *,
        subject: x509.Name,
        issuer_name: x509.Name,
        issuer_key: PrivateKey,
        public_key: PrivateKey,
        not_before: datetime.datetime,
        not_after: datetime.datetime,
        profile: Profile = Profile(),
    ) -> x509.Certificate:
        self_signed = subject == issuer_name
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.BasicConstraints(ca=profile.ca, path_length=profile.path_length),
                critical=True,
            )
            .add_extension(profile.usage, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if profile.extended_key_usage is not None:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(profile.extended_key_usage), critical=False
            )
        if profile.distribution_point and not self_signed:
            # Where real certificates say their CRL is; nothing fetches it here, the trust
            # store holds the file.
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(_crl_url(issuer_name))],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
        if profile.critical_unknown:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(PRIVATE_EXTENSION, b"\x05\x00"), critical=True
            )
        return builder.sign(issuer_key, hashes.SHA256())

    def issue(
        self,
        common_name: str,
        *uids: str,
        kind: KeyKind | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        issuer: Issued | None = None,
        profile: Profile = Profile(),
        key: keys.PrivateKey | None = None,
    ) -> Issued:
        """A certificate from `issuer` (the issuing CA by default), for `key` or a new one."""
        issuer = issuer or self.issuing
        key = key or keys.generate(kind or self.kind)
        certificate = self._build(
            subject=_name(common_name, *uids),
            issuer_name=issuer.certificate.subject,
            issuer_key=issuer.key,
            public_key=key,
            profile=profile,
            not_before=not_before or self.now - 30 * _DAY,
            not_after=not_after or self.now + 2 * 365 * _DAY,
        )
        chain = (certificate,) if issuer is self.root else (certificate, *issuer.chain)
        return Issued(key, certificate, chain)

    def sub_ca(self, common_name: str, *, issuer: Issued | None = None) -> Issued:
        """A CA below `issuer` (the issuing CA by default), publishing CRLs of its own."""
        authority = self.issue(common_name, issuer=issuer, profile=CA)
        self.authorities.append(authority)
        return authority

    def unit(
        self,
        organ_id: str,
        name: str | None = None,
        *,
        kind: KeyKind | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        issuer: Issued | None = None,
        profile: Profile = Profile(),
        key: keys.PrivateKey | None = None,
    ) -> Issued:
        """An organisation certificate: the unit's clerks sign with it."""
        return self.issue(
            name or f"Đơn vị {organ_id}",
            f"MDDT:{organ_id}",
            kind=kind,
            not_before=not_before,
            not_after=not_after,
            issuer=issuer,
            profile=profile,
            key=key,
        )

    def person(
        self,
        organ_id: str,
        full_name: str,
        citizen_id: str,
        *,
        kind: KeyKind | None = None,
        key: keys.PrivateKey | None = None,
    ) -> Issued:
        """A personal certificate for a head of unit: a citizen id and the unit's code."""
        return self.issue(full_name, f"CCCD:{citizen_id}", f"MDDT:{organ_id}", kind=kind, key=key)

    def revoke(self, issued: Issued) -> None:
        self.revoked.append(issued.certificate)

    def let_crl_go_stale(self, authority: Issued) -> None:
        """The authority's CRL is past its next update: it may miss recent revocations."""
        self.stale.append(authority.certificate)

    def withhold_crl(self, authority: Issued) -> None:
        """The trust store gets no CRL from the authority."""
        self.withheld.append(authority.certificate)

    def crls(self) -> list[x509.CertificateRevocationList]:
        """Each CA's CRL (current unless made stale) with the certificates it revoked."""
        return [
            self._crl(authority)
            for authority in self.authorities
            if authority.certificate not in self.withheld
        ]

    def _crl(self, authority: Issued) -> x509.CertificateRevocationList:
        last_update = self.now - (60 if authority.certificate in self.stale else 1) * _DAY
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(authority.certificate.subject)
            .last_update(last_update)
            .next_update(last_update + 31 * _DAY)
        )
        for certificate in self.revoked:
            if certificate.issuer == authority.certificate.subject:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(certificate.serial_number)
                    .revocation_date(self.now - _DAY)
                    .build()
                )
        return builder.sign(authority.key, hashes.SHA256())

    def trust_store(self, *, require_revocation: bool = True) -> TrustStore:
        return TrustStore(
            [self.root.certificate, self.issuing.certificate],
            self.crls(),
            require_revocation=require_revocation,
        )

    def write_trust(self, directory: Path) -> None:
        """The trust-store folder format: CA certificates and CRLs, one file each (the
        root's CRL in DER, the others in PEM: Government CAs publish either)."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "root-ca.pem").write_bytes(_pem(self.root.certificate))
        (directory / "issuing-ca.pem").write_bytes(_pem(self.issuing.certificate))
        names = {
            self.root.certificate.subject: "root-ca",
            self.issuing.certificate.subject: "issuing-ca",
        }
        for crl in self.crls():
            name = names.get(crl.issuer) or _slug(crl.issuer)
            encoding = Encoding.DER if name == "root-ca" else Encoding.PEM
            (directory / f"{name}.crl").write_bytes(crl.public_bytes(encoding))


def write_pki(
    out: Path,
    units: Iterable[tuple[str, str | None]],
    *,
    router_id: str,
    kind: KeyKind = "rsa2048",
    pki: TestPki | None = None,
    key_cache: KeyCache | None = None,
) -> TestPki:
    """The folder layout the services read: `trust/`, `units/<OrganId>/` (with `head/`,
    a personal certificate for the head of unit) and `router/`. With `pki`, its CAs issue
    them (two deployments under one Government root, as provinces are). With `key_cache`,
    the keys of what this call issues are reused from earlier calls (see `cached_key`)."""
    pki = pki or TestPki(kind=kind, key_cache=key_cache)
    pki.write_trust(out / "trust")
    for organ_id, name in units:
        unit_key = cached_key(key_cache, kind, organ_id)
        pki.unit(organ_id, name, key=unit_key).write(out / "units" / organ_id)
        citizen_id = f"{int(hashlib.sha256(organ_id.encode()).hexdigest(), 16) % 10**12:012d}"
        head_key = cached_key(key_cache, kind, f"head {organ_id}")
        pki.person(organ_id, f"Thủ trưởng {name or organ_id}", citizen_id, key=head_key).write(
            out / "units" / organ_id / "head"
        )
    router_key = cached_key(key_cache, kind, router_id)
    pki.unit(router_id, "lienthong router", key=router_key).write(out / "router")
    return pki


KeyCache = dict[tuple[str, str], keys.PrivateKey]
"""Keys by (kind, role in a PKI): a test suite that builds a fresh PKI for each of hundreds
of exchanges spends seconds each on RSA key generation; the certificates, CAs and trust
stores stay new every time, only the key material repeats between exchanges."""


def cached_key(cache: KeyCache | None, kind: KeyKind, label: str) -> keys.PrivateKey | None:
    """The key `label` had in an earlier PKI of `cache`, or a new one it keeps; None (a new
    key each time) without a cache."""
    if cache is None:
        return None
    if (kind, label) not in cache:
        cache[kind, label] = keys.generate(kind)
    return cache[kind, label]


def write_gateway(pki: TestPki, out: Path, name: str, units: Iterable[str]) -> Issued:
    """A gateway's key and certificate in `gateways/<name>/`: one organisation certificate
    naming every unit reached through it (a UID `MDDT:<OrganId>` each), as the deployment's
    CA would issue for a bridge to the national axis."""
    issued = pki.issue(f"lienthong gateway {name}", *(f"MDDT:{unit}" for unit in units))
    issued.write(out / "gateways" / name)
    return issued
