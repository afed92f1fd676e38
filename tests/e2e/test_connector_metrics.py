"""What an operator's Prometheus scrapes from a running exchange: the connector's HTTP
requests by route template and status, its sends by outcome and outbox backlog, and the
router's gauges (certificate expiry, clamd, overdue receipts), over the real /metrics."""

from __future__ import annotations

import base64
import datetime
import functools
import urllib.request
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker import gauges
from connectors import api, packing
from kernel import metrics
from tests.e2e.apiclient import bearer
from tests.e2e.conftest import COMMUNE_A, HOSTED, PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def scrape() -> AsyncIterator[Callable[[], Samples]]:
    """The metrics endpoint `connector run --metrics` serves, read as Prometheus reads it."""
    server, thread = metrics.serve(0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    def read() -> Samples:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    try:
        yield read
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _requests(samples: Samples, method: str, route: str, status: str) -> float:
    return _value(
        samples, "lienthong_connector_http_request_duration_seconds_count",
        method=method, route=route, status=status,
    )  # fmt: skip


async def test_the_connector_api_is_counted_by_route_and_status(
    exchange: Exchange, scrape: Callable[[], Samples]
) -> None:
    before = scrape()
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        base = f"http://127.0.0.1:{port}"
        document = packing.edxml_from_fields(PROVINCE, {"subject": "Báo cáo quý"}, [COMMUNE_A])
        sends = [
            {"to": [COMMUNE_A], "edxml": base64.b64encode(document).decode()},
            {"to": [COMMUNE_A], "edxml": base64.b64encode(b"<not-edxml/>").decode()},
        ]
        statuses = []
        for body in sends:
            async with s.post(f"{base}/units/{PROVINCE}/documents", json=body) as response:
                statuses.append(response.status)
        for path in ("/health", f"/units/{COMMUNE_A}/inbox", "/no/such/path"):
            async with s.get(base + path) as response:
                statuses.append(response.status)
        async with aiohttp.ClientSession() as anonymous, anonymous.get(
            f"{base}/units/{PROVINCE}/inbox"
        ) as response:  # fmt: skip
            statuses.append(response.status)
        after = scrape()

    assert statuses == [201, 422, 200, 200, 404, 401]
    counted = {
        ("POST", "/units/{unit}/documents", "201"): 1,
        ("POST", "/units/{unit}/documents", "422"): 1,
        ("GET", "/health", "200"): 1,
        ("GET", "/units/{unit}/inbox", "200"): 1,
        ("GET", "/units/{unit}/inbox", "401"): 1,
        ("GET", "unmatched", "404"): 1,
    }
    for labels, count in counted.items():
        assert _requests(after, *labels) - _requests(before, *labels) == count, labels
    assert not any("no/such" in dict(labels).get("route", "") for _, labels in after)

    for outcome in ("accepted", "refused"):
        name = "lienthong_connector_sends_total"
        grew = _value(after, name, unit=PROVINCE, outcome=outcome) - _value(
            before, name, unit=PROVINCE, outcome=outcome
        )
        assert grew == 1, outcome
    for unit in HOSTED:
        assert ("lienthong_connector_outbox_backlog", frozenset({("unit", unit)})) in after
    certificates = [
        dict(labels)
        for name, labels in after
        if name == "lienthong_certificate_expiry_timestamp_seconds"
    ]
    assert {c["service"] for c in certificates} >= {f"connector {u}" for u in HOSTED}
    assert {"router"} <= {c["service"] for c in certificates}
    if exchange.router.scanner is not None:
        assert _value(after, "lienthong_clamd_up") == 1


async def _delivered(exchange: Exchange, message_id: str) -> list[dict[str, object]]:
    return await exchange.fetch(
        "SELECT state FROM deliveries WHERE message_id = $1 AND state <> 'routed'", message_id
    )


async def test_overdue_receipts_are_counted_once_the_day_has_ended(exchange: Exchange) -> None:
    document = packing.edxml_from_fields(PROVINCE, {"subject": "Giấy mời họp"}, [COMMUNE_A])
    sent, _ = await exchange.connector.send(PROVINCE, document, [COMMUNE_A])
    await exchange.until(
        functools.partial(_delivered, exchange, sent.message_id), what="the 01 receipt"
    )
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    await gauges.sample(exchange.router, at=tomorrow)
    assert metrics.REGISTRY.get_sample_value(
        "lienthong_overdue_receipts", {"recipient": COMMUNE_A}
    ) in (None, 0.0)

    # The same delivery as if COMMUNE_A had never answered.
    await exchange.fetch(
        "UPDATE deliveries SET state = 'routed' WHERE message_id = $1", sent.message_id
    )
    await gauges.sample(exchange.router, at=datetime.datetime.now(datetime.UTC))
    today = metrics.REGISTRY.get_sample_value(
        "lienthong_overdue_receipts", {"recipient": COMMUNE_A}
    )
    await gauges.sample(exchange.router, at=tomorrow)
    overdue = metrics.REGISTRY.get_sample_value(
        "lienthong_overdue_receipts", {"recipient": COMMUNE_A}
    )
    assert today in (None, 0.0), "a document routed today is not overdue before the day ends"
    assert overdue is not None
    assert overdue >= 1
