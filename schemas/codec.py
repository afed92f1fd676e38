"""Avro encoding by schema fingerprint.

Every record on Kafka carries its writer schema's CRC-64-AVRO fingerprint in the header
`lienthong.schema`. A reader looks that writer schema up here and resolves it against its
own current (reader) schema of the same name, so producers and consumers can upgrade at
different times. Encoding is `strict=True`: a missing or extra field is an error, never a
silent default.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _crc64
from fastavro.schema import to_parsing_canonical_form

from kernel.errors import EnvelopeError
from kernel.reasons import ReasonCode

SCHEMA_DIR = Path(__file__).with_name("avro")
FINGERPRINT_HEADER = "lienthong.schema"
# What the router adds to a document it delivers (the envelope itself stays as signed).
REQUESTED_HEADER = "lienthong.requested"
HOPS_HEADER = "lienthong.redirected-from"
PAPER_HEADER = "lienthong.paper-copy"
"""Present (b"1") when the document must also go on paper (Article 5.3)."""
ENDORSEMENT_HEADER = "lienthong.endorsement"
"""The router's signed `Endorsement` of the delivery (Avro single-object encoding)."""


def fingerprint_of(schema: Mapping[str, Any]) -> bytes:
    parsed = fastavro.parse_schema(dict(schema), named_schemas={})
    return bytes.fromhex(_crc64(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class Registry:
    """Writer schemas by fingerprint, and the current reader schema by full name."""

    def __init__(self) -> None:
        self._writers: dict[bytes, Any] = {}
        self._current: dict[str, tuple[bytes, Any]] = {}

    @classmethod
    def load(cls, directory: Path = SCHEMA_DIR) -> Registry:
        """The `.avsc` files of `directory` are current; those in `history/` readable only."""
        registry = cls()
        for path in sorted((directory / "history").glob("*.avsc")):
            registry.add(json.loads(path.read_text(encoding="utf-8")), current=False)
        for path in sorted(directory.glob("*.avsc")):
            registry.add(json.loads(path.read_text(encoding="utf-8")))
        return registry

    def add(self, schema: Mapping[str, Any], *, current: bool = True) -> bytes:
        parsed = fastavro.parse_schema(dict(schema), named_schemas={})
        digest = fingerprint_of(schema)
        self._writers[digest] = parsed
        if current:
            self._current[_full_name(schema)] = (digest, parsed)
        return digest

    def name_of(self, fingerprint: bytes) -> str:
        """The full name of the record written under `fingerprint`."""
        writer = self._writers.get(fingerprint)
        if writer is None:
            raise EnvelopeError(
                ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT,
                f"no known schema has fingerprint {fingerprint.hex()}",
            )
        return str(writer["name"])

    def fingerprint(self, name: str) -> bytes:
        return self._reader(name)[0]

    def encode(self, name: str, record: Mapping[str, Any]) -> tuple[bytes, bytes]:
        """(fingerprint, payload) of `record` under the current schema called `name`."""
        digest, schema = self._reader(name)
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, schema, dict(record), strict=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EnvelopeError(
                ReasonCode.ENVELOPE_MALFORMED, f"cannot encode a {name}: {exc}"
            ) from exc
        return digest, buffer.getvalue()

    def decode(self, fingerprint: bytes, payload: bytes, name: str) -> dict[str, Any]:
        """Read `payload`, written under `fingerprint`, as the current `name` schema."""
        writer = self._writers.get(fingerprint)
        if writer is None:
            raise EnvelopeError(
                ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT,
                f"no known schema has fingerprint {fingerprint.hex()}",
            )
        _digest, reader = self._reader(name)
        buffer = io.BytesIO(payload)
        try:
            record = fastavro.schemaless_reader(buffer, writer, reader)
        except (EOFError, StopIteration) as exc:
            raise EnvelopeError(
                ReasonCode.ENVELOPE_TRUNCATED, f"the {name} ends early ({len(payload)} bytes)"
            ) from exc
        except Exception as exc:  # fastavro raises whatever its reader trips over
            raise EnvelopeError(
                ReasonCode.ENVELOPE_MALFORMED, f"cannot decode a {name}: {type(exc).__name__}"
            ) from exc
        if buffer.tell() != len(payload):
            raise EnvelopeError(
                ReasonCode.ENVELOPE_MALFORMED,
                f"{len(payload) - buffer.tell()} bytes follow the end of the {name}",
            )
        if not isinstance(record, dict):
            raise EnvelopeError(ReasonCode.ENVELOPE_MALFORMED, f"a {name} must be a record")
        return record

    def _reader(self, name: str) -> tuple[bytes, Any]:
        for full_name, found in self._current.items():
            if full_name == name or full_name.rsplit(".", 1)[-1] == name:
                return found
        raise EnvelopeError(ReasonCode.SCHEMA_UNKNOWN_FINGERPRINT, f"no current schema {name}")


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


SINGLE_OBJECT_MAGIC = b"\xc3\x01"


def to_single_object(fingerprint: bytes, payload: bytes) -> bytes:
    """Avro single-object encoding: a marker, the writer fingerprint, the payload.

    The file form of one record (`envelope pack -o FILE`), carrying what the Kafka header
    carries on the wire.
    """
    return SINGLE_OBJECT_MAGIC + fingerprint + payload


def from_single_object(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 10 or not data.startswith(SINGLE_OBJECT_MAGIC):
        raise EnvelopeError(
            ReasonCode.ENVELOPE_MALFORMED,
            "not an Avro single-object record (it must start with C3 01 and a fingerprint)",
        )
    return data[2:10], data[10:]


Headers = list[tuple[str, bytes]]


def fingerprint_header(fingerprint: bytes) -> Headers:
    return [(FINGERPRINT_HEADER, fingerprint.hex().encode("ascii"))]


def fingerprint_from(headers: Headers | None) -> bytes:
    """The writer fingerprint a Kafka record carries; a record without one is malformed."""
    for key, value in headers or []:
        if key == FINGERPRINT_HEADER:
            try:
                fingerprint = bytes.fromhex(value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                break
            if len(fingerprint) == 8:
                return fingerprint
            break
    raise EnvelopeError(
        ReasonCode.ENVELOPE_MALFORMED, f"the record has no valid {FINGERPRINT_HEADER} header"
    )


def stored_headers(stored: str) -> Headers:
    """Headers as the ledger keeps them (JSON pairs, values hex or null), ready to produce."""
    return [
        (key, bytes.fromhex(value) if value is not None else None)  # type: ignore[misc]
        for key, value in json.loads(stored)
    ]
