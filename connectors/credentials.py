"""Credentials of the agency systems that call a connector's HTTP API: create, verify, revoke.

A token reads `lt_<id>_<secret>`: the id (16 hex digits) names the row, the secret is 32
bytes from `secrets` in hex. Only the secret's SHA-256 is stored. A slow password hash
(scrypt, argon2) exists to make guessing a *human-chosen* password expensive; a 256-bit
random secret cannot be guessed whatever the hash costs, so one SHA-256 is as strong and
costs nothing per request. The comparison is in constant time all the same. The id is not
secret (`credentials list` shows it); it only spares a scan of the table.

A credential acts for exactly the units it was created for: `authorise` refuses any other.
Creation and revocation are written to the audit table.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

import asyncpg

from broker.directory.model import check_organ_id
from kernel.database import Connection
from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode

PREFIX = "lt"
_TOKEN = re.compile(r"^lt_(?P<id>[0-9a-f]{16})_(?P<secret>[0-9a-f]{64})$")
_BEARER = re.compile(r"^[Bb][Ee][Aa][Rr][Ee][Rr] +(?P<token>[A-Za-z0-9._~+/-]+=*) *$")
_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Credential:
    id: str
    name: str
    units: tuple[str, ...]
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None = None
    last_used_at: datetime.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "units": list(self.units)}


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    id: str
    secret: bytes

    def __str__(self) -> str:
        return f"{PREFIX}_{self.id}_{self.secret.hex()}"

    __repr__ = object.__repr__  # never the secret in a log line or a traceback


def new_token() -> Token:
    return Token(secrets.token_hex(8), secrets.token_bytes(32))


def digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def parse(token: str) -> Token:
    """A presented token's parts; anything not of our form is simply a wrong credential."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise AccessDenied(ReasonCode.CREDENTIALS_INVALID, "the token is not a lienthong token")
    return Token(match["id"], bytes.fromhex(match["secret"]))


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1).

    No header, another scheme or a garbled value all mean no bearer credentials were given.
    """
    match = _BEARER.fullmatch(authorization or "")
    if match is None:
        raise AccessDenied(
            ReasonCode.CREDENTIALS_MISSING,
            "send `Authorization: Bearer <token>` (`lienthong connector credentials create`)",
        )
    return match["token"]


def matches(token: Token, stored_digest: bytes) -> bool:
    return hmac.compare_digest(digest(token.secret), stored_digest)


def authorise(credential: Credential, unit: str) -> None:
    """A credential acts for the units it names and for no other."""
    if unit not in credential.units:
        raise AccessDenied(
            ReasonCode.UNIT_FORBIDDEN, f"credential {credential.id} may not act for {unit!r}"
        )


def check_units(units: Iterable[str]) -> tuple[str, ...]:
    """Unit codes as written in the directory, each once, at least one."""
    checked = tuple(dict.fromkeys(check_organ_id(u) for u in units))
    if not checked:
        raise Rejected(ReasonCode.ORGANID_INVALID, "a credential acts for at least one unit")
    return checked


def _credential(row: asyncpg.Record) -> Credential:
    return Credential(
        id=row["id"],
        name=row["name"],
        units=tuple(row["units"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


async def _audit(conn: Connection, actor: str, action: str, credential: Credential) -> None:
    await conn.execute(
        "INSERT INTO audit (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        f"api-credential:{credential.id}",
        json.dumps({"name": credential.name, "units": list(credential.units)}, ensure_ascii=False),
    )


async def create(
    conn: Connection, units: Iterable[str], *, name: str, actor: str
) -> tuple[Credential, Token]:
    """A new credential for these units; the token exists only in the return value."""
    checked = check_units(units)
    token = new_token()
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO api_credentials (id, name, units, secret_sha256) VALUES ($1, $2, $3, $4)"
            " RETURNING *",
            token.id,
            name,
            list(checked),
            digest(token.secret),
        )
        assert row is not None  # INSERT … RETURNING always returns the row
        credential = _credential(row)
        await _audit(conn, actor, "api-credential-create", credential)
    return credential, token


async def verify(conn: Connection, presented: str) -> Credential:
    """The live credential a token proves, or AccessDenied (unknown, wrong or revoked alike).

    `last_used_at` is refreshed at most once a minute, so a busy system does not write a row
    per request.
    """
    token = parse(presented)
    row = await conn.fetchrow("SELECT * FROM api_credentials WHERE id = $1", token.id)
    if row is None or row["revoked_at"] is not None or not matches(token, row["secret_sha256"]):
        raise AccessDenied(ReasonCode.CREDENTIALS_INVALID, "the token is unknown, wrong or revoked")
    await conn.execute(
        "UPDATE api_credentials SET last_used_at = now() WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        token.id,
    )
    return _credential(row)


async def revoke(conn: Connection, credential_id: str, *, actor: str) -> Credential | None:
    """Revoke at once (the next request fails); None if there is no such credential.

    Revoking a revoked credential changes nothing and answers it as it is.
    """
    if not _ID.fullmatch(credential_id):
        return None
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE api_credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
            " RETURNING *",
            credential_id,
        )
        if row is not None:
            credential = _credential(row)
            await _audit(conn, actor, "api-credential-revoke", credential)
            return credential
    row = await conn.fetchrow("SELECT * FROM api_credentials WHERE id = $1", credential_id)
    return _credential(row) if row is not None else None


async def listing(conn: Connection) -> list[Credential]:
    """Every credential, revoked ones too, oldest first; never a secret or its hash."""
    rows = await conn.fetch("SELECT * FROM api_credentials ORDER BY created_at, id")
    return [_credential(row) for row in rows]
