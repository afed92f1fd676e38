"""What an operator watches on a connector, beyond what its consume loop counts: its HTTP
API's requests (`kernel.metrics.HTTP_REQUESTS`), its outbox backlog and when its units'
certificates expire. Served on the metrics port (`connector run --metrics`), never on the
API itself: the API faces agencies, the metrics face the operator's Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
from aiohttp import hdrs, web

from connectors.service import Connector
from kernel import metrics
from kernel.errors import LienthongError
from kernel.service import background

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAMPLE_SECONDS = 15.0
UNMATCHED = "unmatched"
"""The route label of a path no route has: the raw path would let any caller mint series."""
log = structlog.get_logger(__name__)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request by its route template; outermost, so it sees the final status
    the error middleware chose. A client gone mid-request is 499, as nginx logs it."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499
        raise
    finally:
        resource = request.match_info.route.resource
        method = request.method if request.method in hdrs.METH_ALL else "OTHER"
        route = resource.canonical if resource is not None else UNMATCHED
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).observe(
            time.perf_counter() - started
        )


def sampling(
    connector: Connector, every: float = SAMPLE_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the API's app: certificate expiry once, the outbox backlog
    every `every` seconds while the API serves (a connector always serves its API)."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        for unit, identity in connector.identities.items():
            for certificate in identity.chain:
                metrics.CERTIFICATE_EXPIRY.labels(
                    f"connector {unit}", certificate.subject.rfc4514_string()
                ).set(certificate.not_valid_after_utc.timestamp())
        async with background(_sample_outbox(connector, every)):
            yield

    return context


async def _sample_outbox(connector: Connector, every: float) -> None:
    while True:
        try:
            await outbox_backlog(connector)
        except (LienthongError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox backlog not sampled", error=str(exc))
        await asyncio.sleep(every)


async def outbox_backlog(connector: Connector) -> None:
    """Set OUTBOX_BACKLOG for every hosted unit (0 when nothing waits); the partial index
    on unsent rows keeps this cheap however large the outbox has grown."""
    async with connector.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT unit, count(*) AS n FROM outbox WHERE sent_at IS NULL AND unit = ANY($1)"
            " GROUP BY unit",
            connector.units,
        )
    waiting = {row["unit"]: row["n"] for row in rows}
    for unit in connector.units:
        metrics.OUTBOX_BACKLOG.labels(unit).set(waiting.get(unit, 0))
