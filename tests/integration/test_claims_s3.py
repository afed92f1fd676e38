"""The S3 claim store against a real S3-compatible server: s3proxy, started here.

mvn and java fetch and run it; without them these tests fail with the reason, never skip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio import Minio

from kernel import claims
from kernel.claims import S3Store
from kernel.errors import ClaimStoreUnavailable, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Secret, Settings
from lienthong.devstack.s3proxy import REGION, LocalS3, free_port

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
BUCKET = "lienthong-claims"
PREFIX = "claims/"


@pytest.fixture(scope="module")
async def local_s3(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalS3]:
    local = LocalS3(dataclasses.replace(settings, state_dir=tmp_path_factory.mktemp("s3")))
    await local.start()
    try:
        admin(local).make_bucket(BUCKET)
        yield local
    finally:
        local.stop()


def admin(local: LocalS3) -> Minio:
    """A client of the test's own, to look into the bucket and plant objects in it."""
    return Minio(
        local.endpoint.removeprefix("http://"),
        access_key=local.access_key,
        secret_key=local.secret_key.reveal(),
        secure=False,
        region=REGION,
    )


def store_of(
    local: LocalS3,
    scratch: Path,
    *,
    endpoint: str | None = None,
    bucket: str = BUCKET,
    secret_key: Secret | None = None,
) -> S3Store:
    return S3Store(
        endpoint or local.endpoint,
        bucket,
        local.access_key,
        secret_key or local.secret_key,
        scratch=scratch,
        prefix=PREFIX,
        region=REGION,
    )


@pytest.fixture
def store(local_s3: LocalS3, tmp_path: Path) -> S3Store:
    return store_of(local_s3, tmp_path / "scratch")


async def chunks_of(content: bytes, size: int = 300_000) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


async def read_all(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def key_of(digest: str) -> str:
    return f"{PREFIX}{digest[:2]}/{digest}"


async def test_a_multi_chunk_attachment_reads_back_verified(
    store: S3Store, local_s3: LocalS3, tmp_path: Path
) -> None:
    content = os.urandom(3 * MiB + MiB // 2)
    digest = hashlib.sha256(content).hexdigest()
    claim = await store.put(chunks_of(content), limit=len(content))
    assert (claim.reference, claim.sha256, claim.size) == (f"sha256:{digest}", digest, len(content))
    assert await store.size(claim.reference) == len(content)
    pieces = [c async for c in claims.verified(store, claim.reference, digest, len(content))]
    assert b"".join(pieces) == content
    assert len(pieces) == 4  # in CHUNKs, never whole
    assert admin(local_s3).stat_object(BUCKET, key_of(digest)).size == len(content)
    # A second put of the same content keeps the object; the spool holds nothing after.
    again = await store.put(chunks_of(content), limit=len(content))
    assert again.reference == claim.reference
    assert list((tmp_path / "scratch").iterdir()) == []


async def test_an_empty_attachment_round_trips(store: S3Store) -> None:
    claim = await store.put(chunks_of(b""), limit=10)
    assert claim.size == 0
    assert await store.size(claim.reference) == 0
    assert await read_all(claims.verified(store, claim.reference, claim.sha256, 0)) == b""


async def test_a_missing_reference_is_attachment_missing(store: S3Store) -> None:
    reference = "sha256:" + "ab" * 32
    assert await store.size(reference) is None
    with pytest.raises(Rejected) as refused:
        await read_all(claims.verified(store, reference, "ab" * 32, 10))
    assert refused.value.reason == ReasonCode.ATTACHMENT_MISSING


@pytest.mark.parametrize("planted_size", ["same", "other"])
async def test_a_planted_object_is_refused_then_replaced_by_an_honest_put(
    store: S3Store, local_s3: LocalS3, planted_size: str
) -> None:
    content = os.urandom(MiB + 17)
    digest = hashlib.sha256(content).hexdigest()
    wrong = os.urandom(len(content) if planted_size == "same" else 100)
    admin(local_s3).put_object(BUCKET, key_of(digest), io.BytesIO(wrong), len(wrong))
    with pytest.raises(Rejected) as refused:
        await read_all(claims.verified(store, f"sha256:{digest}", digest, len(content)))
    assert refused.value.reason == ReasonCode.ATTACHMENT_HASH_MISMATCH

    claim = await store.put(chunks_of(content), limit=len(content))
    assert await read_all(claims.verified(store, claim.reference, digest, len(content))) == content


async def test_over_the_limit_is_refused_and_nothing_is_left(
    local_s3: LocalS3, tmp_path: Path
) -> None:
    store = store_of(local_s3, tmp_path / "scratch", bucket="lienthong-limit")
    admin(local_s3).make_bucket("lienthong-limit")
    content = os.urandom(2 * MiB)
    with pytest.raises(Rejected) as refused:
        await store.put(chunks_of(content), limit=MiB)
    assert refused.value.reason == ReasonCode.ATTACHMENT_TOO_LARGE
    assert list(admin(local_s3).list_objects("lienthong-limit", recursive=True)) == []
    assert list((tmp_path / "scratch").iterdir()) == []


async def unavailable(store: S3Store) -> list[ClaimStoreUnavailable]:
    """What each of put, size and read raises, all three required to be unavailability."""
    content = b"x" * 1000
    reference = claims.reference_of(hashlib.sha256(content).hexdigest())
    raised = []
    for attempt in (
        store.put(chunks_of(content), limit=len(content)),
        store.size(reference),
        read_all(store.read(reference)),
    ):
        with pytest.raises(ClaimStoreUnavailable) as failed:
            await attempt
        assert failed.value.retriable
        raised.append(failed.value)
    return raised


async def test_nothing_listening_is_unavailable(local_s3: LocalS3, tmp_path: Path) -> None:
    store = store_of(local_s3, tmp_path, endpoint=f"http://127.0.0.1:{free_port()}")
    for error in await unavailable(store):
        assert "did not answer" in error.message


async def test_a_stopped_server_is_unavailable(settings: Settings, tmp_path: Path) -> None:
    other = LocalS3(dataclasses.replace(settings, state_dir=tmp_path))
    await other.start()
    try:
        admin(other).make_bucket(BUCKET)
        store = store_of(other, tmp_path / "scratch")
        claim = await store.put(chunks_of(b"kept"), limit=10)
    finally:
        other.stop()
    assert await unavailable(store)
    with pytest.raises(ClaimStoreUnavailable):
        await read_all(claims.verified(store, claim.reference, claim.sha256, 4))


async def test_a_wrong_secret_key_is_unavailable_naming_access(
    local_s3: LocalS3, tmp_path: Path
) -> None:
    store = store_of(local_s3, tmp_path, secret_key=Secret("not-the-secret"))
    for error in await unavailable(store):
        assert "refused access" in error.message
        assert "ACCESS_KEY" in (error.hint or "")


async def test_a_missing_bucket_is_unavailable(local_s3: LocalS3, tmp_path: Path) -> None:
    store = store_of(local_s3, tmp_path, bucket="lienthong-nobody-made")
    for error in await unavailable(store):
        assert "does not exist" in error.message
        assert "LIENTHONG_CLAIMS_S3_BUCKET" in (error.hint or "")


def high_water() -> int:
    """VmHWM in bytes: the most resident memory this process had since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def reset_high_water() -> None:
    """Writing 5 to clear_refs resets VmHWM: the figure after is the flow's alone."""
    Path("/proc/self/clear_refs").write_text("5")


def resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.timeout(300)
async def test_a_large_attachment_is_never_held_whole(store: S3Store) -> None:
    size = 64 * MiB
    block = os.urandom(claims.CHUNK)

    async def stream() -> AsyncIterator[bytes]:
        for n in range(size // claims.CHUNK):
            yield n.to_bytes(8, "big") + block[8:]

    digest = hashlib.sha256()
    async for chunk in stream():
        digest.update(chunk)
    reset_high_water()
    before = resident()
    claim = await store.put(stream(), limit=size)
    assert claim.sha256 == digest.hexdigest()
    seen = 0
    async for chunk in claims.verified(store, claim.reference, claim.sha256, size):
        seen += len(chunk)
    assert seen == size
    growth = high_water() - before
    assert growth < size / 8, f"VmHWM grew {growth / MiB:.1f} MiB for a {size // MiB} MiB flow"
