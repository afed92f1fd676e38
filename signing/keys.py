"""Private keys: the kinds the exchange accepts, generated or read from PEM files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kernel.errors import TrustError
from kernel.reasons import ReasonCode

KeyKind = Literal["rsa2048", "rsa3072", "p256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KEY_KINDS: tuple[KeyKind, ...] = ("rsa2048", "rsa3072", "p256")


def generate(kind: KeyKind) -> PrivateKey:
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))


def to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load(path: Path, password: bytes | None = None) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TrustError(
            ReasonCode.ALGORITHM_UNSUPPORTED, f"cannot read a private key from {path}: {exc}"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TrustError(
            ReasonCode.ALGORITHM_UNSUPPORTED,
            f"{path} holds a {type(key).__name__}; only RSA and ECDSA P-256 keys sign",
        )
    return key
