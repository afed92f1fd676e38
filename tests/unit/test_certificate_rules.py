"""One set of certificate rules on both paths: each certificate signs an envelope and a PDF,
and both are judged at the same moment with the same verdict.

The certificates come from signing/testpki.py (RSA, built with `cryptography`) and from the
`openssl` CLI (P-256, `openssl req` and `openssl ca` with an extfile, CRLs by `openssl ca
-gencrl`), so the rules hold for certificates we did not shape ourselves.
"""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
from pathlib import Path
from typing import Literal, Protocol

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors import packing
from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from schemas import codec
from schemas import envelope as e
from signing import envelope, keys, pdf
from signing.certificates import TrustStore, load_certificates, load_crl
from signing.testpki import (
    ORGANIZATION,
    PRIVATE_EXTENSION,
    Issued,
    Profile,
    TestPki,
    key_usage,
)
from tests.paths import FIXTURES

SENDER, RECIPIENT = "000.00.00.H62", "000.02.00.H62"
AT = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
"""When the router receives what was signed: the moment every case is judged at."""
CREATED_AT = AT - datetime.timedelta(days=2)
"""The signing time the sender writes into the envelope: never what is judged."""
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()
_DAY = datetime.timedelta(days=1)
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
KEY_CERT_SIGN_ONLY = key_usage("key_cert_sign")

CrlState = Literal["current", "stale", "missing"]


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    reason: ReasonCode | None
    """None: both paths accept."""
    profile: Profile = dataclasses.field(default_factory=Profile)
    not_before: datetime.timedelta = -30 * _DAY
    not_after: datetime.timedelta = 365 * _DAY
    revoked: bool = False
    issuing_crl: CrlState = "current"
    under_sub_ca: bool = False
    """Issued by a CA that the issuing CA (pathLenConstraint 0) made."""


CASES = {
    "good": Case(None),
    "expired-at-receipt-though-valid-when-signed": Case(
        ReasonCode.CERTIFICATE_EXPIRED, not_before=-400 * _DAY, not_after=-_DAY
    ),
    "not-yet-valid": Case(ReasonCode.CERTIFICATE_NOT_YET_VALID, not_before=_DAY),
    "revoked-with-distribution-point": Case(ReasonCode.CERTIFICATE_REVOKED, revoked=True),
    "revoked-without-distribution-point": Case(
        ReasonCode.CERTIFICATE_REVOKED, Profile(distribution_point=False), revoked=True
    ),
    "issuing-ca-crl-stale": Case(ReasonCode.REVOCATION_UNKNOWN, issuing_crl="stale"),
    "issuing-ca-crl-missing": Case(ReasonCode.REVOCATION_UNKNOWN, issuing_crl="missing"),
    "under-a-sub-ca-of-a-path-length-0-ca": Case(
        ReasonCode.CERTIFICATE_PATH_LENGTH, under_sub_ca=True
    ),
    "ca-certificate-as-signer": Case(ReasonCode.CERTIFICATE_IS_CA, Profile(ca=True)),
    "key-cert-sign-only": Case(
        ReasonCode.CERTIFICATE_KEY_USAGE, Profile(key_usage=KEY_CERT_SIGN_ONLY)
    ),
    "eku-server-auth-only": Case(
        ReasonCode.CERTIFICATE_EXTENDED_KEY_USAGE,
        Profile(extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,)),
    ),
    "eku-client-auth-only": Case(
        ReasonCode.CERTIFICATE_EXTENDED_KEY_USAGE,
        Profile(extended_key_usage=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    ),
    "eku-email-protection": Case(
        None, Profile(extended_key_usage=(ExtendedKeyUsageOID.EMAIL_PROTECTION,))
    ),
    "eku-document-signing": Case(None, Profile(extended_key_usage=(DOCUMENT_SIGNING,))),
    "no-eku-no-distribution-point": Case(None, Profile(distribution_point=False)),
    "signed-by-the-ca-with-sha1": Case(ReasonCode.ALGORITHM_UNSUPPORTED, Profile(digest="sha1")),
    "unknown-critical-extension": Case(
        ReasonCode.CERTIFICATE_UNTRUSTED, Profile(critical_unknown=True)
    ),
}


class Maker(Protocol):
    """A CA hierarchy like the Government's: a root (pathLen 1), an issuing CA (pathLen 0)."""

    issuing: Issued

    def sub_ca(self) -> Issued: ...

    def signer(self, case: Case, issuer: Issued) -> Issued: ...

    def revoke(self, issued: Issued) -> None: ...

    def trust_store(self, issuing_crl: CrlState) -> TrustStore: ...


class PythonMaker:
    """signing/testpki.py."""

    def __init__(self, _directory: Path) -> None:
        self.pki = TestPki(now=AT)
        self.issuing = self.pki.issuing

    def sub_ca(self) -> Issued:
        return self.pki.sub_ca("TEST sub-CA (lienthong)")

    def signer(self, case: Case, issuer: Issued) -> Issued:
        return self.pki.unit(
            SENDER,
            not_before=AT + case.not_before,
            not_after=AT + case.not_after,
            issuer=issuer,
            profile=case.profile,
        )

    def revoke(self, issued: Issued) -> None:
        self.pki.revoke(issued)

    def trust_store(self, issuing_crl: CrlState) -> TrustStore:
        if issuing_crl == "stale":
            self.pki.let_crl_go_stale(self.issuing)
        elif issuing_crl == "missing":
            self.pki.withhold_crl(self.issuing)
        return self.pki.trust_store()


_OPENSSL_CONFIG = """[ req ]
distinguished_name = dn
[ dn ]
[ ca ]
default_ca = ca_default
[ ca_default ]
database = index.txt
new_certs_dir = .
serial = serial
crlnumber = crlnumber
default_md = sha256
policy = any_name
unique_subject = no
[ any_name ]
countryName = optional
organizationName = optional
commonName = supplied
UID = optional
"""
_OPENSSL_USAGES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


class OpensslMaker:
    """The `openssl` CLI: `openssl req` makes each key and request, the issuing CA's `openssl
    ca` (a folder with its own database) signs it with the case's extensions from an extfile
    and publishes its CRL with `-gencrl`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "openssl.cnf").write_text(_OPENSSL_CONFIG)
        self.folders: dict[x509.Name, Path] = {}
        self.root = self._authority("TEST openssl Root CA", None, path_length=1)
        self.issuing = self._authority("TEST openssl Issuing CA", self.root, path_length=0)

    def sub_ca(self) -> Issued:
        return self._authority("TEST openssl sub-CA", self.issuing, path_length=None)

    def _authority(self, name: str, issuer: Issued | None, path_length: int | None) -> Issued:
        """A CA: its folder holds the `openssl ca` database it issues and revokes with."""
        folder = self.directory / f"ca-{len(self.folders)}"
        folder.mkdir()
        (folder / "index.txt").touch()
        (folder / "serial").write_text("1000\n")
        (folder / "crlnumber").write_text("1000\n")
        authority = self._make(folder, name, issuer, Profile(ca=True, path_length=path_length))
        self.folders[authority.certificate.subject] = folder
        return authority

    def signer(self, case: Case, issuer: Issued) -> Issued:
        folder = self.directory / "signer"
        folder.mkdir()
        return self._make(
            folder,
            f"Đơn vị {SENDER}",
            issuer,
            case.profile,
            f"MDDT:{SENDER}",
            not_before=AT + case.not_before,
            not_after=AT + case.not_after,
        )

    def revoke(self, issued: Issued) -> None:
        revoked = self.directory / "revoked.pem"
        revoked.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
        self._openssl(
            self.folders[issued.certificate.issuer],
            "ca", "-revoke", str(revoked), "-cert", "cert.pem", "-keyfile", "key.pem",
        )  # fmt: skip

    def trust_store(self, issuing_crl: CrlState) -> TrustStore:
        crls = []
        for subject, folder in self.folders.items():
            state = issuing_crl if subject == self.issuing.certificate.subject else "current"
            if state == "current":
                self._openssl(
                    folder, "ca", "-gencrl", "-crldays", "30", "-out", "crl.pem",
                    "-cert", "cert.pem", "-keyfile", "key.pem",
                )  # fmt: skip
                crls.append(load_crl((folder / "crl.pem").read_bytes(), source=str(folder)))
            elif state == "stale":
                crls.append(_stale_crl(subject, keys.load(folder / "key.pem")))
        return TrustStore([self.root.certificate, self.issuing.certificate], crls)

    def _make(
        self,
        folder: Path,
        common_name: str,
        issuer: Issued | None,
        profile: Profile,
        *uids: str,
        not_before: datetime.datetime = AT - 365 * _DAY,
        not_after: datetime.datetime = AT + 3650 * _DAY,
    ) -> Issued:
        subject = f"/C=VN/O={ORGANIZATION}/CN={common_name}" + "".join(f"/UID={u}" for u in uids)
        self._openssl(
            folder,
            "req", "-new", "-utf8", "-nodes",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-keyout", "key.pem", "-out", "request.csr", "-subj", subject,
        )  # fmt: skip
        (folder / "ext.cnf").write_text(_extfile(profile, issuer))
        self._openssl(
            folder if issuer is None else self.folders[issuer.certificate.subject],
            "ca", "-batch", "-notext", "-preserveDN", "-md", profile.digest,
            *(["-selfsign"] if issuer is None else ["-cert", "cert.pem"]),
            "-keyfile", "key.pem", "-in", str(folder / "request.csr"),
            "-out", str(folder / "cert.pem"),
            "-startdate", f"{not_before:%Y%m%d%H%M%SZ}", "-enddate", f"{not_after:%Y%m%d%H%M%SZ}",
            "-extfile", str(folder / "ext.cnf"), "-extensions", "ext",
        )  # fmt: skip
        (certificate,) = load_certificates((folder / "cert.pem").read_bytes(), source=str(folder))
        issuers = () if issuer is None or issuer is self.root else issuer.chain
        return Issued(keys.load(folder / "key.pem"), certificate, (certificate, *issuers))

    def _openssl(self, cwd: Path, command: str, *args: str) -> None:
        config = str(self.directory / "openssl.cnf")
        subprocess.run(["openssl", command, "-config", config, *args], cwd=cwd, check=True,
                       capture_output=True)  # fmt: skip


def _extfile(profile: Profile, issuer: Issued | None) -> str:
    """The profile as an `openssl ca -extfile` section."""
    constraint = "CA:TRUE" if profile.ca else "CA:FALSE"
    if profile.path_length is not None:
        constraint += f",pathlen:{profile.path_length}"
    usages = [name for attr, name in _OPENSSL_USAGES.items() if getattr(profile.usage, attr)]
    lines = [
        "[ ext ]",
        f"basicConstraints = critical,{constraint}",
        f"keyUsage = critical,{','.join(usages)}",
        "subjectKeyIdentifier = hash",
    ]
    if issuer is not None:
        lines.append("authorityKeyIdentifier = keyid")
        if profile.distribution_point:
            serial = issuer.certificate.serial_number
            lines.append(f"crlDistributionPoints = URI:http://crl.openssl.invalid/{serial:x}.crl")
    if profile.extended_key_usage is not None:
        eku = ",".join(oid.dotted_string for oid in profile.extended_key_usage)
        lines.append(f"extendedKeyUsage = {eku}")
    if profile.critical_unknown:
        lines.append(f"{PRIVATE_EXTENSION.dotted_string} = critical,ASN1:NULL")
    return "\n".join(lines) + "\n"


def _stale_crl(issuer: x509.Name, key: keys.PrivateKey) -> x509.CertificateRevocationList:
    """`openssl ca -gencrl` only dates CRLs from now: an old one is built from the CA's key."""
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(AT - 60 * _DAY)
        .next_update(AT - 29 * _DAY)
        .sign(key, hashes.SHA256())
    )


MAKERS: dict[str, type[PythonMaker | OpensslMaker]] = {
    "testpki": PythonMaker,
    "openssl": OpensslMaker,
}


def _envelope_outcome(
    registry: codec.Registry, signer: Issued, trust: TrustStore
) -> ReasonCode | None:
    body = packing.build_body(DOCUMENT, sender=SENDER, recipients=[RECIPIENT], now=CREATED_AT)
    body_schema, payload = e.encode(registry, body)
    signed = envelope.sign(body_schema, payload, signer.key, signer.chain)
    try:
        envelope.verify(signed, trust=trust, registry=registry, at=AT)
    except TrustError as exc:
        return exc.reason
    return None


async def _pdf_outcome(signer: Issued, trust: TrustStore) -> ReasonCode | None:
    signed = await pdf.sign_pdf(minimal_pdf(), signer.key, signer.chain)
    try:
        await pdf.validate_pdf(signed, trust=trust, sender=SENDER, at=AT)
    except TrustError as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("maker", "name"),
    [
        (maker, name)
        for maker in sorted(MAKERS)
        for name in CASES
        # cryptography no longer signs with SHA-1: only openssl can make that certificate.
        if not (maker == "testpki" and CASES[name].profile.digest == "sha1")
    ],
)
async def test_both_paths_give_the_same_verdict(
    tmp_path: Path, registry: codec.Registry, maker: str, name: str
) -> None:
    case = CASES[name]
    pki: Maker = MAKERS[maker](tmp_path)
    signer = pki.signer(case, pki.sub_ca() if case.under_sub_ca else pki.issuing)
    if case.revoked:
        pki.revoke(signer)
    trust = pki.trust_store(case.issuing_crl)
    verdicts = (_envelope_outcome(registry, signer, trust), await _pdf_outcome(signer, trust))
    assert verdicts == (case.reason, case.reason)
