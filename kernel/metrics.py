"""Every Prometheus metric lienthong exports, in one registry.

Metrics live here and nowhere else so that a dashboard author reads one file. Services
call `serve` once at start-up to expose `/metrics`.
"""

from __future__ import annotations

import threading
from importlib import metadata
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
