"""Every Prometheus metric lienthong exports, in one registry.

Metrics live here and nowhere else so that a dashboard author reads one file. Services
call `serve` once at start-up to expose `/metrics`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from typing import Concatenate, ParamSpec, Protocol, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    start_http_server,
)

from kernel.errors import Rejected

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Info("lienthong_build", "The running lienthong version.", registry=REGISTRY)
BUILD_INFO.info({"version": metadata.version("lienthong")})


__all__ = ["REGISTRY", "generate_latest", "serve"]


def serve(port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Expose the registry over HTTP at /metrics; port 0 picks a free one."""
    return start_http_server(port, addr=addr, registry=REGISTRY)


ROUTED = Counter(
    "lienthong_routed_total",
    "Envelopes the router delivered, by kind (document, status, ...).",
    ["kind"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "lienthong_rejected_total",
    "Envelopes the router refused, by stage and reason code.",
    ["stage", "reason"],
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "lienthong_duplicates_total",
    "Envelopes seen again after they were routed (restarts, replays); not routed twice.",
    registry=REGISTRY,
)
LATENCY = Histogram(
    "lienthong_end_to_end_seconds",
    "From the sender's signing time to the router's last produce, per routed envelope.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
ROUND_STEP = Histogram(
    "lienthong_router_round_step_seconds",
    "Wall time of each step of a router round: ledger_read (each of the round's reads of "
    "what the ledger knows), then per wave of decided records (one a round, unless a "
    "record's content takes long to read) decide (the stages, PDFs in the workers), write "
    "(one transaction), produce (every copy, awaited together), mark_routed. Under load a "
    "round's fixed steps are paid by every record that waits for it.",
    ["step"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "lienthong_consumer_lag",
    "Records waiting behind the consumer's position, per topic partition.",
    ["group", "topic", "partition"],
    registry=REGISTRY,
)
REGISTERED = Counter(
    "lienthong_registered_total",
    "Documents a connector entered in a unit's incoming register.",
    ["unit"],
    registry=REGISTRY,
)
QUARANTINED = Counter(
    "lienthong_quarantined_total",
    "Records a connector refused to register and kept for the operator, by unit and reason.",
    ["unit", "reason_code"],
    registry=REGISTRY,
)
HELD = Counter(
    "lienthong_held_total",
    "Documents the policy held for an operator's review, by rule.",
    ["rule"],
    registry=REGISTRY,
)
INTERNAL_ERRORS = Counter(
    "lienthong_internal_errors_total",
    "Records a service failed on with an unexpected exception (a defect), set aside so the "
    "consume loop goes on: dead-lettered by the router, quarantined by a connector.",
    ["service", "error_type"],
    registry=REGISTRY,
)
MALWARE_SCANS = Counter(
    "lienthong_malware_scans_total",
    "Attachments screened for malware, by verdict (clean, infected, not_scanned, error).",
    ["verdict"],
    registry=REGISTRY,
)
GATEWAY_FORWARDED = Counter(
    "lienthong_gateway_forwarded_total",
    "Documents and statuses a gateway (bridge or peer link) carried, by gateway, direction "
    "(out: to the remote side; in: into this exchange) and kind (edoc, status).",
    ["gateway", "direction", "kind"],
    registry=REGISTRY,
)
GATEWAY_REFUSED = Counter(
    "lienthong_gateway_refused_total",
    "What a gateway would not carry, or the remote side refused, by gateway, direction and "
    "reason code (recorded with its reason; never retried).",
    ["gateway", "direction", "reason_code"],
    registry=REGISTRY,
)
GATEWAY_XMLDSIG = Counter(
    "lienthong_gateway_xmldsig_total",
    "edXML XML-DSig signatures of documents taken from a remote endpoint, by gateway and "
    "verdict (absent, valid, invalid, untrusted, unsupported).",
    ["gateway", "verdict"],
    registry=REGISTRY,
)
OVERDUE_RECEIPTS = Gauge(
    "lienthong_overdue_receipts",
    "Documents delivered to a recipient that has sent no receipt (01 or any later status) "
    "although the Vietnamese calendar day they were routed on has ended (Decree 30/2020, "
    "Article 21.2c: received by the end of the working day), by recipient. Counted by the "
    "router from its ledger every minute; weekends and holidays are not subtracted.",
    ["recipient"],
    registry=REGISTRY,
)
CERTIFICATE_EXPIRY = Gauge(
    "lienthong_certificate_expiry_timestamp_seconds",
    "When a certificate a service signs with or trusts stops being valid (Unix time), by "
    "service and the certificate's subject: the router's own chain and trust store, each "
    "hosted unit's chain in a connector.",
    ["service", "subject"],
    registry=REGISTRY,
)
CLAMD_UP = Gauge(
    "lienthong_clamd_up",
    "1 when the router's clamd answered its last PING (every minute), 0 when it did not; "
    "absent when no scanner is configured. Documents with attachments wait while it is 0.",
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "lienthong_connector_outbox_backlog",
    "Documents and statuses a connector has numbered, signed and queued but not yet "
    "published to Kafka, by unit; sampled from its outbox every 15 seconds.",
    ["unit"],
    registry=REGISTRY,
)
SENDS = Counter(
    "lienthong_connector_sends_total",
    "Documents a unit asked its connector to send, by unit and outcome: accepted (numbered, "
    "signed and in the outbox) or refused (a 4xx to the caller; no number used).",
    ["unit", "outcome"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Histogram(
    "lienthong_connector_http_request_duration_seconds",
    "Requests to a connector's HTTP API (its own and /vxp), by method, route template "
    "(`unmatched` for a path no route has) and status; `_count` is the request count.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


class _Hosting(Protocol):
    @property
    def units(self) -> Sequence[str]: ...


H = TypeVar("H", bound=_Hosting)
P = ParamSpec("P")
R = TypeVar("R")


def counting_sends(
    send: Callable[Concatenate[H, str, P], Awaitable[R]],
) -> Callable[Concatenate[H, str, P], Awaitable[R]]:
    """Count a connector's `send(unit, ...)` in SENDS as a decorator, so the method's body
    stays about sending. Units it does not host are not labelled (any string could be)."""

    @functools.wraps(send)
    async def counted(hosting: H, unit: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await send(hosting, unit, *args, **kwargs)
        except Rejected:
            if unit in hosting.units:
                SENDS.labels(unit, "refused").inc()
            raise
        SENDS.labels(unit, "accepted").inc()
        return result

    return counted
