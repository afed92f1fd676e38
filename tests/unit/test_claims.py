"""The claim-check store on a real filesystem: content-addressed, written once, and never
trusted: what is read back is checked against the SHA-256 the sender signed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel import claims
from kernel.claims import Claims, DirectoryStore
from kernel.errors import ClaimStoreUnavailable, Rejected
from kernel.reasons import ReasonCode

CONTENT = b"%PDF-1.4\n" + bytes(range(256)) * 9000  # a little over two chunks
DIGEST = hashlib.sha256(CONTENT).hexdigest()


async def _chunks(content: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


async def _read(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_put_stores_under_the_sha256_and_reads_back(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    claim = await store.put(_chunks(CONTENT), limit=len(CONTENT))
    assert (claim.reference, claim.sha256, claim.size) == (f"sha256:{DIGEST}", DIGEST, len(CONTENT))
    assert await store.size(claim.reference) == len(CONTENT)
    assert await _read(claims.verified(store, claim.reference, DIGEST, len(CONTENT))) == CONTENT
    assert not list((tmp_path / "incoming").iterdir())  # no temporary file left behind


async def test_over_the_limit_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    with pytest.raises(Rejected) as refused:
        await store.put(_chunks(CONTENT), limit=len(CONTENT) - 1)
    assert refused.value.reason is ReasonCode.ATTACHMENT_TOO_LARGE
    assert await store.size(f"sha256:{DIGEST}") is None
    assert not list((tmp_path / "incoming").iterdir())


async def test_an_altered_file_is_refused_before_its_last_chunk(tmp_path: Path) -> None:
    """Whoever can write the shared folder cannot substitute content: the reader withholds
    the last chunk until the whole has been seen to match."""
    store = DirectoryStore(tmp_path)
    claim = await store.put(_chunks(CONTENT), limit=len(CONTENT))
    path = tmp_path / DIGEST[:2] / DIGEST
    path.chmod(0o644)
    path.write_bytes(CONTENT[:-1] + b"X")
    given: list[bytes] = []

    async def drain() -> None:
        async for chunk in claims.verified(store, claim.reference, DIGEST, len(CONTENT)):
            given.append(chunk)

    with pytest.raises(Rejected) as refused:
        await drain()
    assert refused.value.reason is ReasonCode.ATTACHMENT_HASH_MISMATCH
    assert sum(map(len, given)) < len(CONTENT)


@pytest.mark.parametrize("extra", [b"", b"more"])
async def test_a_size_other_than_the_signed_one_is_refused(tmp_path: Path, extra: bytes) -> None:
    store = DirectoryStore(tmp_path)
    claim = await store.put(_chunks(CONTENT + extra), limit=10 * len(CONTENT))
    with pytest.raises(Rejected) as refused:
        await _read(claims.verified(store, claim.reference, claim.sha256, len(CONTENT) - 1))
    assert refused.value.reason is ReasonCode.ATTACHMENT_HASH_MISMATCH


async def test_a_missing_reference_is_attachment_missing(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    await store.put(_chunks(b"another file"), limit=100)
    with pytest.raises(Rejected) as refused:
        await _read(claims.verified(store, f"sha256:{DIGEST}", DIGEST, len(CONTENT)))
    assert refused.value.reason is ReasonCode.ATTACHMENT_MISSING
    assert await store.size(f"sha256:{DIGEST}") is None


async def test_a_store_not_mounted_is_an_outage_not_a_missing_attachment(tmp_path: Path) -> None:
    """An empty mount point looks like a store without the entry: without the marker its
    misses are retriable, so good documents wait rather than being refused for good."""
    store = DirectoryStore(tmp_path)
    with pytest.raises(ClaimStoreUnavailable, match="mounted"):
        await _read(claims.verified(store, f"sha256:{DIGEST}", DIGEST, len(CONTENT)))
    with pytest.raises(ClaimStoreUnavailable):
        await store.size(f"sha256:{DIGEST}")


def _plant(root: Path, how: str, outside: Path) -> None:
    folder = root / DIGEST[:2]
    entry = folder / DIGEST
    if how == "parent link":
        (outside / DIGEST).write_bytes(CONTENT)
        folder.symlink_to(outside)
        return
    folder.mkdir(exist_ok=True)
    if how == "link":
        entry.symlink_to(outside / "secret")
    elif how == "fifo":
        os.mkfifo(entry)
    elif how == "folder":
        entry.mkdir()


@pytest.mark.parametrize("how", ["link", "parent link", "fifo", "folder"])
async def test_what_a_writer_of_the_folder_plants_is_no_entry(tmp_path: Path, how: str) -> None:
    """Never another file's bytes (a link out of the store), never a stall (a FIFO)."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(CONTENT)
    store = DirectoryStore(root)
    await store.put(_chunks(b"first"), limit=100)
    _plant(root, how, outside)
    assert await store.size(f"sha256:{DIGEST}") is None
    with pytest.raises(Rejected) as refused:
        await asyncio.wait_for(
            _read(claims.verified(store, f"sha256:{DIGEST}", DIGEST, len(CONTENT))), 5
        )
    assert refused.value.reason is ReasonCode.ATTACHMENT_MISSING


async def test_an_entry_planted_under_a_name_it_does_not_hash_to_is_replaced(
    tmp_path: Path,
) -> None:
    store = DirectoryStore(tmp_path)
    await store.put(_chunks(b"first"), limit=100)
    planted = tmp_path / DIGEST[:2] / DIGEST
    planted.parent.mkdir()
    planted.write_bytes(b"not the content")
    await store.put(_chunks(CONTENT), limit=len(CONTENT))
    assert await _read(claims.verified(store, f"sha256:{DIGEST}", DIGEST, len(CONTENT))) == CONTENT


async def test_the_sweep_takes_what_a_killed_process_left(tmp_path: Path) -> None:
    held = Claims(DirectoryStore(tmp_path / "store"), tmp_path / "spool", 1024, 4096)
    (tmp_path / "spool" / "tmpold").mkdir(parents=True)
    (tmp_path / "store" / "incoming").mkdir(parents=True)
    (tmp_path / "store" / "incoming" / "half").write_bytes(b"x")
    (tmp_path / "spool" / "tmpnew").mkdir()
    for old in (tmp_path / "spool" / "tmpold", tmp_path / "store" / "incoming" / "half"):
        os.utime(old, (time.time() - 2 * 86400,) * 2)
    await held.sweep()
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["tmpnew"]
    assert not list((tmp_path / "store" / "incoming").iterdir())


@pytest.mark.parametrize(
    "reference",
    ["sha256:" + "A" * 64, "sha256:../../etc/passwd", f"md5:{DIGEST}", f"sha256:{DIGEST}\n", ""],
)
async def test_a_reference_not_of_the_form_is_refused(tmp_path: Path, reference: str) -> None:
    """A reference is never a path: nothing outside the store's folder can be named."""
    store = DirectoryStore(tmp_path)
    with pytest.raises(Rejected) as refused:
        await store.size(reference)
    assert refused.value.reason is ReasonCode.ATTACHMENT_REFERENCE_INVALID


async def test_a_reference_must_name_the_declared_digest(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    claim = await store.put(_chunks(CONTENT), limit=len(CONTENT))
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(Rejected) as refused:
        await _read(claims.verified(store, claim.reference, other, len(CONTENT)))
    assert refused.value.reason is ReasonCode.ATTACHMENT_REFERENCE_INVALID


async def test_an_existing_entry_is_never_replaced(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    first = await store.put(_chunks(CONTENT), limit=len(CONTENT))
    path = tmp_path / DIGEST[:2] / DIGEST
    inode = path.stat().st_ino
    again = await store.put(_chunks(CONTENT), limit=len(CONTENT))
    assert again.reference == first.reference
    assert path.stat().st_ino == inode
    assert path.stat().st_mode & 0o222 == 0  # read-only once written


async def test_a_store_that_cannot_be_written_is_retriable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    with pytest.raises(ClaimStoreUnavailable) as failed:
        await DirectoryStore(blocked / "store").put(_chunks(CONTENT), limit=len(CONTENT))
    assert failed.value.retriable
