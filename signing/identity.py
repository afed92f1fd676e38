"""A signing identity: one unit's (or the router's) key and certificate chain, from disk.

The folder layout is what `lienthong pki init` writes and what an operator provides for a
real unit: `key.pem`, `cert.pem` and `chain.pem` (the issuing CAs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography import x509

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas.envelope import Body, encode
from signing import keys
from signing.certificates import Binding, load_certificates
from signing.envelope import sign
from signing.keys import PrivateKey


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    unit: str
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def load(cls, folder: Path, unit: str, binding: Binding = Binding()) -> Identity:  # noqa: B008
        if not (folder / "key.pem").is_file():
            raise TrustError(
                ReasonCode.CERTIFICATE_MALFORMED,
                f"no signing key for {unit} at {folder}/key.pem",
                hint="create a demo PKI with `lienthong pki init`, or install the unit's files",
            )
        certificate = load_certificates((folder / "cert.pem").read_bytes(), source=str(folder))[0]
        chain_file = folder / "chain.pem"
        issuers = (
            load_certificates(chain_file.read_bytes(), source=str(chain_file))
            if chain_file.is_file() and chain_file.stat().st_size
            else []
        )
        if unit not in binding.units_of(certificate):
            raise TrustError(
                ReasonCode.CERTIFICATE_WRONG_UNIT,
                f"the certificate in {folder} does not belong to {unit}",
            )
        return cls(unit, keys.load(folder / "key.pem"), (certificate, *issuers))

    def seal(self, registry: codec.Registry, body: Body) -> tuple[codec.Headers, bytes]:
        """Sign `body` and encode the envelope: (Kafka headers, record value)."""
        body_schema, payload = encode(registry, body)
        fingerprint, value = encode(registry, sign(body_schema, payload, self.key, self.chain))
        return codec.fingerprint_header(fingerprint), value
