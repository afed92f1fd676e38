"""The claim-check store: attachments too large to ride in a Kafka record.

The sending connector streams such an attachment into the store and the envelope carries
`sha256:<hex>`, a reference the sender signs along with the attachment's SHA-256 and size.
The store is content-addressed and written once, and nobody needs to trust it: every
reader (the router, the receiving connector, an agency system downloading) streams the
bytes through SHA-256 and refuses them unless they are the signed ones. Nothing over the
threshold is held whole in memory: writes and reads go in `CHUNK`s.

A `Store` is either of two: `DirectoryStore`, a folder (a shared filesystem in
production), or `S3Store`, a bucket of an S3-compatible object store. OSError, and the
`minio` client's and urllib3's errors, are mapped here: `ClaimStoreUnavailable` (retriable)
for a store that does not answer or refuses us (credentials, bucket: an operator's fix),
`Rejected` (`attachment_missing`, `attachment_hash_mismatch`, `attachment_too_large`) for
content that is absent, altered or too big.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, ParamSpec, Protocol, TypeVar
from xml.etree import ElementTree

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error, ServerError
from urllib3.exceptions import HTTPError, MaxRetryError

from kernel.errors import ClaimStoreUnavailable, ConfigurationError, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Secret, Settings

CHUNK = 1024 * 1024
PREFIX = "sha256:"
_REFERENCE = re.compile(r"sha256:([0-9a-f]{64})")
LEFT_BEHIND_SECONDS = 24 * 3600.0
INCOMING = "incoming"
MARKER = ".lienthong-claims"
"""Written with the store's first entry: a folder without it is a store not mounted (an
empty mount point), whose misses are the store's outage, not the sender's fault."""


def reference_of(sha256: str) -> str:
    return PREFIX + sha256


def digest_of(reference: str) -> str:
    """The SHA-256 a well-formed reference names; `attachment_reference_invalid` otherwise."""
    found = _REFERENCE.fullmatch(reference)
    if found is None:
        raise Rejected(
            ReasonCode.ATTACHMENT_REFERENCE_INVALID,
            f"{reference[:80]!r} is not a claim-check reference (sha256:<64 hex digits>)",
        )
    return found.group(1)


class Claim:
    """What `put` answers: the reference and what was actually written."""

    __slots__ = ("reference", "sha256", "size")

    def __init__(self, sha256: str, size: int) -> None:
        self.reference = reference_of(sha256)
        self.sha256 = sha256
        self.size = size


class Store(Protocol):
    """Where referenced attachments live. Readers never trust it (`verified`)."""

    async def put(self, chunks: AsyncIterable[bytes], *, limit: int) -> Claim: ...

    async def size(self, reference: str) -> int | None:
        """The stored size, None when nothing is stored under the reference."""
        ...

    def read(self, reference: str) -> AsyncGenerator[bytes]:
        """The stored bytes in `CHUNK`s, unchecked; `attachment_missing` when absent."""
        ...

    async def sweep(self, older_than: float) -> None:
        """Remove what a killed `put` left half-written."""
        ...


def _too_large(limit: int) -> Rejected:
    return Rejected(
        ReasonCode.ATTACHMENT_TOO_LARGE, f"the attachment is over the limit of {limit} bytes"
    )


async def verified(store: Store, reference: str, sha256: str, size: int) -> AsyncGenerator[bytes]:
    """The referenced bytes, streamed; the last chunk is given only once the whole content
    has been seen to match `sha256` and `size`, so a consumer that acts on the end of the
    stream never acts on altered content."""
    if digest_of(reference) != sha256:
        raise Rejected(
            ReasonCode.ATTACHMENT_REFERENCE_INVALID,
            "the reference does not name the attachment's declared SHA-256",
        )
    digest = hashlib.sha256()
    seen = 0
    held: bytes | None = None
    async with contextlib.aclosing(store.read(reference)) as chunks:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > size:
                break
            digest.update(chunk)
            if held is not None:
                yield held
            held = chunk
    if seen != size or digest.hexdigest() != sha256:
        raise Rejected(
            ReasonCode.ATTACHMENT_HASH_MISMATCH,
            "the stored content does not match the attachment's declared SHA-256 and size",
        )
    if held is not None:
        yield held


async def spool(store: Store, reference: str, sha256: str, size: int, into: Path) -> None:
    """Copy the referenced content into a private file, checked on the way: what is read
    afterwards (by clamd, by a PDF reader) is what was signed, whatever the store does."""
    try:
        out = await asyncio.to_thread(into.open, "wb")
    except OSError as exc:
        raise ClaimStoreUnavailable(f"the spool file {into}: {exc}") from exc
    with out:
        async for chunk in verified(store, reference, sha256, size):
            try:
                await asyncio.to_thread(out.write, chunk)
            except OSError as exc:
                raise ClaimStoreUnavailable(f"the spool file {into}: {exc}") from exc


async def file_chunks(path: Path) -> AsyncGenerator[bytes]:
    """A spooled file read in `CHUNK`s off the event loop."""
    try:
        source = await asyncio.to_thread(path.open, "rb")
        with source:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                yield chunk
    except OSError as exc:
        raise ClaimStoreUnavailable(f"the spool file {path}: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class Claims:
    """The store as a service uses it, with its limits and a private spool folder."""

    store: Store
    spool_dir: Path
    threshold: int
    max_bytes: int
    """The most one envelope carries by reference, all its attachments together."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Claims:
        spool_dir = settings.state_dir / "spool"
        store: Store = DirectoryStore(settings.claims_dir)
        if settings.claims_s3_endpoint is not None:
            store = S3Store.from_settings(settings, spool_dir)
        return cls(
            store,
            spool_dir,
            settings.claim_threshold,
            settings.max_attachment_bytes,
        )

    @contextlib.asynccontextmanager
    async def spooled(self) -> AsyncIterator[Path]:
        """A private folder for fetched attachments, removed with what it holds."""
        try:
            await asyncio.to_thread(self.spool_dir.mkdir, parents=True, exist_ok=True)
            folder = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.spool_dir))
        except OSError as exc:
            raise ClaimStoreUnavailable(f"the spool folder {self.spool_dir}: {exc}") from exc
        try:
            yield folder
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def sweep(self, older_than: float = LEFT_BEHIND_SECONDS) -> None:
        """What a killed process left: spool folders and half-written uploads."""
        await asyncio.to_thread(_sweep, self.spool_dir, older_than)
        await self.store.sweep(older_than)


class DirectoryStore:
    """`<root>/<2 hex>/<64 hex>`, written to a temporary name and linked into place, so a
    reader never sees half a file. Whoever else can write the folder is not trusted: an
    entry is opened without following links and must be a regular file (a FIFO, a folder or
    a link planted there is a missing entry, never a stall or another file's bytes), and
    an existing entry is replaced only when its content is not its name's."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, reference: str) -> Path:
        digest = digest_of(reference)
        return self.root / digest[:2] / digest

    def _unavailable(self, exc: OSError) -> ClaimStoreUnavailable:
        return ClaimStoreUnavailable(f"the claim store at {self.root}: {exc}")

    async def put(self, chunks: AsyncIterable[bytes], *, limit: int) -> Claim:
        incoming = self.root / INCOMING
        try:
            await asyncio.to_thread(_prepare, self.root, incoming)
            temporary = incoming / uuid.uuid4().hex
            out = await asyncio.to_thread(temporary.open, "wb")
            try:
                with out:
                    claim = await _write(out, chunks, limit)
                    await asyncio.to_thread(_flush, out)
                await asyncio.to_thread(_place, temporary, self._path(claim.reference), claim)
            finally:
                await asyncio.to_thread(temporary.unlink, True)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return claim

    async def size(self, reference: str) -> int | None:
        path = self._path(reference)
        try:
            found = await asyncio.to_thread(_entry_stat, path)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        if found is None:
            await self._missing()
        return found

    async def read(self, reference: str) -> AsyncGenerator[bytes]:
        path = self._path(reference)
        try:
            descriptor = await asyncio.to_thread(_open_entry, path)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        if descriptor is None:
            await self._missing()
            raise Rejected(ReasonCode.ATTACHMENT_MISSING, f"nothing is stored under {reference}")
        with os.fdopen(descriptor, "rb") as source:
            while True:
                try:
                    chunk = await asyncio.to_thread(source.read, CHUNK)
                except OSError as exc:
                    raise self._unavailable(exc) from exc
                if not chunk:
                    return
                yield chunk

    async def sweep(self, older_than: float) -> None:
        await asyncio.to_thread(_sweep, self.root / INCOMING, older_than)

    async def _missing(self) -> None:
        """A miss in a folder without the marker is the store missing, not the entry."""
        try:
            marked = await asyncio.to_thread((self.root / MARKER).is_file)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        if not marked:
            raise ClaimStoreUnavailable(
                f"{self.root} is not a claim store (no {MARKER}): is the shared folder mounted?"
            )


_PRESIGNED = datetime.timedelta(minutes=15)
"""An upload's URL is good this long after it is signed; it is used at once."""
_P = ParamSpec("_P")
_T = TypeVar("_T")
_DENIED = frozenset({"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken"})
"""What an S3 store answers to keys it does not know or that may not touch the bucket."""


class S3Store:
    """`<prefix><2 hex>/<64 hex>` in a bucket of an S3-compatible store. An upload is
    spooled to an unnamed local file while it is hashed, so the object's name is known (and
    the limit enforced) before a byte is sent; an object appears only whole. As in the
    folder, whoever else can write the bucket is not trusted: an object already under the
    name stays only when its content is the name's."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: Secret,
        *,
        scratch: Path,
        prefix: str = "",
        region: str | None = None,
    ) -> None:
        url = urllib.parse.urlsplit(endpoint)
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.scratch = scratch
        # Two quick retries at most: the caller retries unavailability itself, and a dead
        # endpoint must not hold a request for minutes.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=60),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self._client = Minio(
            url.netloc,
            access_key=access_key,
            secret_key=secret_key.reveal(),
            secure=url.scheme == "https",
            region=region,
            http_client=self._http,
        )

    @classmethod
    def from_settings(cls, settings: Settings, scratch: Path) -> S3Store:
        if (
            settings.claims_s3_endpoint is None
            or settings.claims_s3_bucket is None
            or settings.claims_s3_access_key is None
            or settings.claims_s3_secret_key is None
        ):
            raise ConfigurationError(
                "LIENTHONG_CLAIMS_S3_ENDPOINT needs LIENTHONG_CLAIMS_S3_BUCKET, "
                "LIENTHONG_CLAIMS_S3_ACCESS_KEY and LIENTHONG_CLAIMS_S3_SECRET_KEY"
            )
        return cls(
            settings.claims_s3_endpoint,
            settings.claims_s3_bucket,
            settings.claims_s3_access_key,
            settings.claims_s3_secret_key,
            scratch=scratch,
            prefix=settings.claims_s3_prefix,
            region=settings.claims_s3_region,
        )

    def _key(self, reference: str) -> str:
        digest = digest_of(reference)
        return f"{self.prefix}{digest[:2]}/{digest}"

    def _unavailable(self, exc: Exception) -> ClaimStoreUnavailable:
        where = f"the claim store's bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, S3Error) and exc.code in _DENIED:
            return ClaimStoreUnavailable(
                f"{where} refused access ({exc.code})",
                hint="check LIENTHONG_CLAIMS_S3_ACCESS_KEY, LIENTHONG_CLAIMS_S3_SECRET_KEY "
                "and what the bucket's policy allows that key",
            )
        if isinstance(exc, S3Error) and exc.code == "NoSuchBucket":
            return self._no_bucket()
        if isinstance(exc, S3Error):
            return ClaimStoreUnavailable(f"{where} answered {exc.code}: {exc.message}")
        if isinstance(exc, MaxRetryError) and exc.reason is not None:
            exc = exc.reason  # its own message quotes the URL, a presigned one's signature too
        return ClaimStoreUnavailable(f"{where} did not answer: {exc}")

    def _no_bucket(self) -> ClaimStoreUnavailable:
        return ClaimStoreUnavailable(
            f"the claim store's bucket {self.bucket!r} does not exist at {self.endpoint}",
            hint="create it, or correct LIENTHONG_CLAIMS_S3_BUCKET",
        )

    async def _run(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """`call` off the event loop, the client's errors mapped to ours."""
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except (MinioException, HTTPError, OSError, ElementTree.ParseError) as exc:
            raise self._unavailable(exc) from exc

    async def put(self, chunks: AsyncIterable[bytes], *, limit: int) -> Claim:
        try:
            spooled = await asyncio.to_thread(_scratch_file, self.scratch)
        except OSError as exc:
            raise ClaimStoreUnavailable(f"the spool folder {self.scratch}: {exc}") from exc
        with spooled:
            try:
                claim = await _write(spooled, chunks, limit)
                await asyncio.to_thread(spooled.flush)
            except OSError as exc:
                raise ClaimStoreUnavailable(f"the spool folder {self.scratch}: {exc}") from exc
            await self._run(self._place, spooled, claim)
        return claim

    async def size(self, reference: str) -> int | None:
        found = await self._run(self._stat, self._key(reference))
        if found is None and not await self._run(self._client.bucket_exists, self.bucket):
            # A HEAD of an object cannot tell a missing bucket from a missing object.
            raise self._no_bucket()
        return found

    async def read(self, reference: str) -> AsyncGenerator[bytes]:
        response = await self._run(self._get, self._key(reference))
        if response is None:
            raise Rejected(ReasonCode.ATTACHMENT_MISSING, f"nothing is stored under {reference}")
        try:
            while chunk := await self._run(response.read, CHUNK):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def sweep(self, older_than: float) -> None:
        """Nothing to sweep: `put` spools into an unnamed file that goes with its process,
        and uploads in a single PUT, so an object appears whole or not at all."""

    def _stat(self, key: str) -> int | None:
        try:
            found = self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        if found.size is None:
            raise ClaimStoreUnavailable(f"the claim store gave no size for {key}")
        return found.size

    def _get(self, key: str) -> urllib3.BaseHTTPResponse | None:
        try:
            return self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise

    def _place(self, spooled: BinaryIO, claim: Claim) -> None:
        """Uploaded unless the object there holds the same content already; one that does
        not (planted under a name it does not hash to) is replaced, as in the folder."""
        key = self._key(claim.reference)
        if self._stat(key) == claim.size and self._holds(key, claim):
            return
        self._upload(spooled, key, claim.size)

    def _upload(self, spooled: BinaryIO, key: str, size: int) -> None:
        """One PUT streamed from the spooled file to a presigned URL. The client's
        put_object holds each part in memory (5 MiB, the whole of a smaller attachment) and
        a multipart upload a killed process began stays behind; a single PUT does neither
        (S3 takes up to 5 GiB in one)."""
        url = self._client.presigned_put_object(self.bucket, key, expires=_PRESIGNED)
        spooled.seek(0)
        response = self._http.request(
            "PUT", url, body=spooled, headers={"Content-Length": str(size)}, redirect=False
        )
        if response.status == 200:
            return
        if response.data and "xml" in response.headers.get("Content-Type", ""):
            raise S3Error.fromxml(response)
        raise ServerError(f"the upload was answered HTTP {response.status}", response.status)

    def _holds(self, key: str, claim: Claim) -> bool:
        response = self._get(key)
        if response is None:
            return False
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := response.read(CHUNK):
                size += len(chunk)
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return size == claim.size and digest.hexdigest() == claim.sha256


async def _write(out: BinaryIO, chunks: AsyncIterable[bytes], limit: int) -> Claim:
    digest = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        digest.update(chunk)
        await asyncio.to_thread(out.write, chunk)
    return Claim(digest.hexdigest(), size)


def _scratch_file(folder: Path) -> BinaryIO:
    """A file without a name (O_TMPFILE): a killed process leaves nothing to sweep."""
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile("w+b", dir=folder)


def _prepare(root: Path, incoming: Path) -> None:
    incoming.mkdir(parents=True, exist_ok=True)
    (root / MARKER).touch(exist_ok=True)


def _flush(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def _place(temporary: Path, target: Path, claim: Claim) -> None:
    """Linked into place, read-only. An entry already there stays when it holds the same
    content; one that does not (planted under a name it does not hash to) is replaced, so
    nobody can spoil a content for the senders who come after."""
    target.parent.mkdir(exist_ok=True)
    temporary.chmod(0o444)
    try:
        os.link(temporary, target)
    except FileExistsError:
        if not _holds(target, claim):
            os.replace(temporary, target)


def _holds(path: Path, claim: Claim) -> bool:
    descriptor = _open_entry(path)
    if descriptor is None:
        return False
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(descriptor, "rb") as source:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return size == claim.size and digest.hexdigest() == claim.sha256


def _within(path: Path) -> bool:
    """The entry's folder is the store's own, not a link planted to lead elsewhere."""
    return path.parent.resolve().parent == path.parent.parent.resolve()


def _open_entry(path: Path) -> int | None:
    """A descriptor of the entry if it is a regular file in the store, else None. Opened
    non-blocking (a FIFO must not stall) and without following a final link."""
    if not _within(path):
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link, refused by O_NOFOLLOW
            return None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    os.set_blocking(descriptor, True)
    return descriptor


def _entry_stat(path: Path) -> int | None:
    if not _within(path):
        return None
    try:
        found = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return found.st_size if stat.S_ISREG(found.st_mode) else None


def _sweep(folder: Path, older_than: float) -> None:
    cutoff = time.time() - older_than
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            if entry.lstat().st_mtime < cutoff:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
