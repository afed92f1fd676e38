"""The worker pool enforces its budget itself: past the wall time the worker is killed, past
the memory cap the allocation fails in the worker, and the pool goes on with the next job."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from pypdf.generic import NameObject

from broker import jobs
from broker.policy.check import pdf_text
from kernel import budget
from kernel.budget import Budget, Workers
from kernel.errors import JobFailed, OverBudget
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from tests.hostile import slow_pdf
from tests.paths import ROOT


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def recurse(depth: int) -> int:
    return recurse(depth + 1)


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers(Budget(seconds=2, memory_mb=384, workers=1))
    yield pool
    pool.close()


async def test_each_budget_is_enforced_and_the_pool_goes_on(workers: Workers) -> None:
    for job, argument, why in (
        (pdf_text, slow_pdf(), "took longer than 2 s"),
        (allocate, 1024, "needed more than 384 MiB"),
        (recurse, 0, "nests deeper"),
    ):
        with pytest.raises(OverBudget) as caught:
            await workers.run(job, argument)
        assert caught.value.reason is ReasonCode.ATTACHMENT_TOO_COMPLEX
        assert caught.value.message.startswith(why)
    assert await workers.run(allocate, 16) == 16 * 1024 * 1024
    assert await workers.run(pdf_text, minimal_pdf("Cong van 125")) is not None


class Unpicklable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")


def refuse(kind: str) -> None:
    if kind == "unpicklable":
        raise Unpicklable("pdf_malformed", "two arguments, which a pickle cannot restore")
    raise NotImplementedError("/LZWDecode is not supported")  # a RuntimeError


async def test_what_a_job_raises_is_its_own_failure_not_the_pools(workers: Workers) -> None:
    """Neither a RuntimeError from a library nor an exception that does not survive a pickle
    may pass for a broken pool (which the router retries without end)."""
    for kind, name in (("runtime", "NotImplementedError"), ("unpicklable", "Unpicklable")):
        with pytest.raises(JobFailed) as caught:
            await workers.run(refuse, kind)
        assert caught.value.message.startswith(f"{name}: ")
        assert not caught.value.retriable
    assert await workers.run(allocate, 1) == 1024 * 1024


def _unknown_filter_pdf() -> bytes:
    """A page whose content stream names a filter no reader knows."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(minimal_pdf("x"))))
    contents = writer.pages[0][NameObject("/Contents")].get_object()
    assert isinstance(contents, pypdf.generic.StreamObject)
    contents[NameObject("/Filter")] = NameObject("/Foo")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_pdf_in_a_filter_nobody_reads_is_unread_not_a_failure(workers: Workers) -> None:
    read = await workers.run(jobs.read_pdf, "cong-van.pdf", _unknown_filter_pdf())
    assert read == jobs.PdfRead(problem=None, text=None)


async def test_the_document_deadline_starts_when_its_jobs_do() -> None:
    """Jobs queued behind other documents' slow ones are not over budget for the wait:
    three slow documents hold the one worker for 6 s, past the next one's 4 s deadline."""
    pool = Workers(Budget(seconds=2, memory_mb=384, workers=1))
    try:
        slow = [
            asyncio.ensure_future(pool.run_all({"slow": (pdf_text, (slow_pdf(),))}))
            for _ in range(3)
        ]
        await asyncio.sleep(0.2)
        quick = await pool.run_all({"quick": (allocate, (1,))})
        assert quick == {"quick": 1024 * 1024}
        for document in slow:
            assert isinstance((await document)["slow"], OverBudget)
    finally:
        pool.close()


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def test_a_job_doing_two_jobs_work_gets_their_time() -> None:
    """One trip to a worker for a PDF's text and its signatures: the time of both, not of
    one, so an honest PDF is not held for saving a trip."""
    pool = Workers(Budget(seconds=1, memory_mb=384, workers=1))
    try:
        assert await pool.run_all({"both": (nap, (1.5,))}, shares=2) == {"both": 1.5}
        (answer,) = (await pool.run_all({"one": (nap, (1.5,))})).values()
        assert isinstance(answer, OverBudget)
    finally:
        pool.close()


def where(module: str) -> str:
    """Which file a worker runs for `module`."""
    return str(sys.modules[module].__file__)


def test_no_preload_from_a_directory_holding_another_package_of_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = tmp_path / "broker"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "jobs.py").write_text("PLANTED = True\n")
    monkeypatch.chdir(tmp_path)
    assert budget._preloadable(["broker.jobs"]) == []
    monkeypatch.chdir(ROOT)
    assert budget._preloadable(["broker.jobs"]) == ["broker.jobs"]
    shutil.rmtree(planted)
    monkeypatch.chdir(tmp_path)
    assert budget._preloadable(["broker.jobs"]) == ["broker.jobs"]


def test_a_worker_runs_the_services_code_whatever_directory_it_starts_in(
    tmp_path: Path,
) -> None:
    """The fork server imports from the current directory first (Python 3.11): a router
    started where another `broker` package lies must not have its workers run that one."""
    planted = tmp_path / "broker"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "jobs.py").write_text("PLANTED = True\n")
    script = (
        "import asyncio, sys\n"
        f"sys.path[0] = {str(ROOT)!r}\n"
        "from kernel.budget import Budget, Workers\n"
        "from tests.unit.test_budget import where\n"
        "pool = Workers(Budget(seconds=20, workers=1), preload=['broker.jobs'])\n"
        "print(asyncio.run(pool.run(where, 'broker.jobs')))\n"
        "pool.close()\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert ran.stdout.strip() == str(ROOT / "broker" / "jobs.py")
