"""The router's gauges that no routed record sets: overdue receipts, whether clamd answers
and when certificates expire. A task of their own samples them every minute, so a slow
query or a silent clamd never holds up routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import TYPE_CHECKING

import asyncpg
import structlog

from kernel import metrics
from kernel.errors import LienthongError, ScannerUnavailable
from kernel.service import background

if TYPE_CHECKING:
    from broker.service import Router

SAMPLE_SECONDS = 60.0
log = structlog.get_logger(__name__)

# Delivered (still `routed`: no 01 or later status moved it) on a Vietnamese calendar day
# that has ended. The day's end stands for the working day's; holidays are not subtracted.
OVERDUE_RECEIPTS = (
    "SELECT d.delivered_to AS recipient, count(*) AS n FROM deliveries d"
    " JOIN messages m ON m.message_id = d.message_id"
    " WHERE d.state = 'routed' AND m.verdict = 'routed' AND m.kind <> 'status'"
    " AND (d.updated_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
    " < ($1::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
    " GROUP BY d.delivered_to"
)


def sampling(
    router: Router, every: float = SAMPLE_SECONDS
) -> contextlib.AbstractAsyncContextManager[None]:
    """Sample in the background while the block runs (the router's lifetime)."""
    return background(_loop(router, every))


async def _loop(router: Router, every: float) -> None:
    while True:
        await sample(router)
        await asyncio.sleep(every)


async def sample(router: Router, at: datetime.datetime | None = None) -> None:
    """Every gauge once, overdue as of `at` (now); a failing source is logged and leaves
    its gauge as it was."""
    for certificate in (*router.identity.chain, *router.trust.roots, *router.trust.intermediates):
        metrics.CERTIFICATE_EXPIRY.labels("router", certificate.subject.rfc4514_string()).set(
            certificate.not_valid_after_utc.timestamp()
        )
    if router.scanner is not None:
        try:
            await router.scanner.ping()
            metrics.CLAMD_UP.set(1)
        except ScannerUnavailable as exc:
            metrics.CLAMD_UP.set(0)
            log.warning("clamd not answering", error=exc.message)
    try:
        async with router.pool.acquire() as conn:
            rows = await conn.fetch(OVERDUE_RECEIPTS, at or datetime.datetime.now(datetime.UTC))
    except (LienthongError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("overdue receipts not counted", error=str(exc))
        return
    metrics.OVERDUE_RECEIPTS.clear()
    for row in rows:
        metrics.OVERDUE_RECEIPTS.labels(row["recipient"]).set(row["n"])
