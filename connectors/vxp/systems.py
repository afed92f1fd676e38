"""The agency systems that speak the axis protocol: their ids, units and shared secrets.

A request's HMAC can only be checked by whoever holds the secret itself, so unlike a bearer
token (`connectors.credentials`, of which only a hash is kept) the secret must be
recoverable by the server. It is kept sealed: AES-256-GCM under a key of 32 random bytes in
`<pki>/vxp/secrets.key` (beside the units' private keys, 0600 in a 0700 folder, made by the
first `lienthong vxp credentials create`), with the system id as associated data, so a
sealed secret copied onto another system's row does not open. A database dump alone reveals
no secret. A connector reads the same key file; on another machine the operator copies it
there like the unit keys.

A system acts for exactly the units it was created for. Creation, rotation and revocation
are audited; rotation and revocation take effect on the next request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.credentials import check_units
from kernel.database import Connection
from kernel.errors import ConfigurationError, Rejected
from kernel.reasons import ReasonCode
from kernel.secrets import FILE_MODE, private_dir
from kernel.settings import Settings

KEY_BYTES = 32
_NONCE_BYTES = 12
_SYSTEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AAD = b"lienthong-vxp-secret|"


@dataclasses.dataclass(frozen=True, slots=True)
class System:
    id: str
    name: str
    units: tuple[str, ...]
    created_at: datetime.datetime
    rotated_at: datetime.datetime | None = None
    revoked_at: datetime.datetime | None = None
    last_used_at: datetime.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "units": list(self.units)}


@dataclasses.dataclass(frozen=True, slots=True)
class SealingKey:
    """The key that seals the systems' secrets, and the short id stored beside each."""

    key: bytes
    path: Path

    @property
    def id(self) -> str:
        return hashlib.sha256(b"lienthong-vxp-key|" + self.key).hexdigest()[:16]

    __repr__ = object.__repr__  # never the key in a log line


@dataclasses.dataclass(frozen=True, slots=True)
class Sealed:
    """A live system with its sealed secret, as the connector reads it."""

    system: System
    secret_sealed: bytes
    key_id: str


def key_path(settings: Settings) -> Path:
    return settings.keys_dir / "vxp" / "secrets.key"


def load_key(path: Path) -> SealingKey:
    """The sealing key, or ConfigurationError saying which file is missing or wrong."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"no axis secret key at {path}",
            hint="`lienthong vxp credentials create` makes it; copy it to each connector host",
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read the axis secret key {path}: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"{path} is not a {KEY_BYTES}-byte key")
    return SealingKey(key, path)


def ensure_key(path: Path) -> SealingKey:
    """The sealing key, made if there is none: written 0600 aside, then linked into place,
    which fails if another process made one meanwhile (whose key is then used)."""
    if path.exists():
        return load_key(path)
    private_dir(path.parent)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return load_key(path)


def _aad(system_id: str) -> bytes:
    return _AAD + system_id.encode("utf-8")


def seal(key: SealingKey, system_id: str, secret: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key.key).encrypt(nonce, secret.encode("utf-8"), _aad(system_id))


def unseal(key: SealingKey, sealed: Sealed) -> str:
    """The shared secret of a system; a key that did not seal it is the operator's problem
    (ConfigurationError), never the caller's wrong signature."""
    system_id = sealed.system.id
    if sealed.key_id != key.id:
        raise ConfigurationError(
            f"the secret of system {system_id} was sealed with key {sealed.key_id}; "
            f"{key.path} is key {key.id}",
            hint="copy the key file `lienthong vxp credentials` used to this host",
        )
    nonce, box = sealed.secret_sealed[:_NONCE_BYTES], sealed.secret_sealed[_NONCE_BYTES:]
    try:
        return AESGCM(key.key).decrypt(nonce, box, _aad(system_id)).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError, ValueError):
        raise ConfigurationError(
            f"the sealed secret of system {system_id} does not open with {key.path}"
        ) from None


def new_secret() -> str:
    """32 random bytes as URL-safe base64 (43 characters): safe in any client's config."""
    return secrets.token_urlsafe(32)


def check_system_id(system_id: str) -> str:
    if not _SYSTEM_ID.fullmatch(system_id):
        raise Rejected(
            ReasonCode.SYSTEM_ID_INVALID,
            f"{system_id!r} is not a system id (letters, digits, '.', '_', '-'; at most 64)",
        )
    return system_id


def _system(row: asyncpg.Record) -> System:
    return System(
        id=row["id"],
        name=row["name"],
        units=tuple(row["units"]),
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


async def _audit(conn: Connection, actor: str, action: str, system: System) -> None:
    await conn.execute(
        "INSERT INTO audit (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        f"vxp-system:{system.id}",
        json.dumps({"name": system.name, "units": list(system.units)}, ensure_ascii=False),
    )


async def create(
    conn: Connection,
    key: SealingKey,
    units: Iterable[str],
    *,
    system_id: str | None,
    name: str,
    actor: str,
) -> tuple[System, str]:
    """A new system for these units; its secret exists in clear only in the return value.
    An id is never reused, not even a revoked system's: the audit trail names it."""
    checked = check_units(units)
    chosen = check_system_id(system_id if system_id is not None else f"lt.{secrets.token_hex(6)}")
    secret = new_secret()
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO vxp_systems (id, name, units, secret_sealed, key_id)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING *",
            chosen,
            name,
            list(checked),
            seal(key, chosen, secret),
            key.id,
        )
        if row is None:
            raise Rejected(ReasonCode.SYSTEM_ID_TAKEN, f"system {chosen} already exists")
        system = _system(row)
        await _audit(conn, actor, "vxp-system-create", system)
    return system, secret


async def rotate(
    conn: Connection, key: SealingKey, system_id: str, *, actor: str
) -> tuple[System, str] | None:
    """A new secret for a live system (the old one fails from the next request); None if
    there is no live system of that id."""
    secret = new_secret()
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE vxp_systems SET secret_sealed = $2, key_id = $3, rotated_at = now()"
            " WHERE id = $1 AND revoked_at IS NULL RETURNING *",
            system_id,
            seal(key, system_id, secret),
            key.id,
        )
        if row is None:
            return None
        system = _system(row)
        await _audit(conn, actor, "vxp-system-rotate", system)
    return system, secret


async def revoke(conn: Connection, system_id: str, *, actor: str) -> System | None:
    """Revoke at once; None if there is no such system. Revoking twice changes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE vxp_systems SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
            " RETURNING *",
            system_id,
        )
        if row is not None:
            system = _system(row)
            await _audit(conn, actor, "vxp-system-revoke", system)
            return system
    row = await conn.fetchrow("SELECT * FROM vxp_systems WHERE id = $1", system_id)
    return _system(row) if row is not None else None


async def listing(conn: Connection) -> list[System]:
    """Every system, revoked ones too, oldest first; never a secret."""
    rows = await conn.fetch("SELECT * FROM vxp_systems ORDER BY created_at, id")
    return [_system(row) for row in rows]


async def live(conn: Connection, system_id: str) -> Sealed | None:
    """The live system of that id with its sealed secret, or None (unknown or revoked alike)."""
    if "\x00" in system_id:
        return None
    row = await conn.fetchrow(
        "SELECT * FROM vxp_systems WHERE id = $1 AND revoked_at IS NULL", system_id
    )
    if row is None:
        return None
    return Sealed(_system(row), bytes(row["secret_sealed"]), row["key_id"])


async def touch(conn: Connection, system_id: str) -> None:
    """Note a request the system proved it sent; at most once a minute, so a polling system
    does not write a row per request."""
    await conn.execute(
        "UPDATE vxp_systems SET last_used_at = now() WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        system_id,
    )
