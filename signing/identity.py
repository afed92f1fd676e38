"""A signing identity: one unit's (or the router's) key and certificate chain, from disk.

The folder layout is what `lienthong pki init` writes and what an operator provides for a
real unit: `key.pem`, `cert.pem` and `chain.pem` (the issuing CAs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
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

    @classmethod
    def speaking_for(
        cls,
        folder: Path,
        units: Iterable[str] | None = None,
        binding: Binding = Binding(),  # noqa: B008
    ) -> dict[str, Identity]:
        """One key and certificate that names several units, as a gateway's does (a UID
        `MDDT:<OrganId>` for each unit behind it): an identity for each unit it names among
        `units` (None: every unit it names), and none for the others."""
        wanted = None if units is None else list(units)
        if wanted == []:
            return {}
        first = cls.load(folder, _named(folder, binding), binding)
        named = binding.units_of(first.chain[0])
        chosen = sorted(named) if wanted is None else [u for u in wanted if u in named]
        return {unit: dataclasses.replace(first, unit=unit) for unit in chosen}

    def seal(self, registry: codec.Registry, body: Body) -> tuple[codec.Headers, bytes]:
        """Sign `body` and encode the envelope: (Kafka headers, record value)."""
        body_schema, payload = encode(registry, body)
        fingerprint, value = encode(registry, sign(body_schema, payload, self.key, self.chain))
        return codec.fingerprint_header(fingerprint), value


def _named(folder: Path, binding: Binding) -> str:
    """Any unit the certificate in `folder` names (to load it through the usual checks)."""
    if not (folder / "cert.pem").is_file():
        raise TrustError(
            ReasonCode.CERTIFICATE_MALFORMED,
            f"no certificate at {folder}/cert.pem",
            hint="install the gateway's key and certificate (key.pem, cert.pem, chain.pem)",
        )
    certificate = load_certificates((folder / "cert.pem").read_bytes(), source=str(folder))[0]
    units = sorted(binding.units_of(certificate))
    if not units:
        raise TrustError(
            ReasonCode.CERTIFICATE_WRONG_UNIT, f"the certificate in {folder} names no unit"
        )
    return units[0]
