"""Every Prometheus metric lienthong exports, in one registry.

Metrics live here and nowhere else so that a dashboard author reads one file. Services
call `serve` once at start-up to expose `/metrics`.
"""

from __future__ import annotations

import threading
from importlib import metadata
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Info, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Info("lienthong_build", "The running lienthong version.", registry=REGISTRY)
BUILD_INFO.info({"version": metadata.version("lienthong")})


def serve(port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Expose the registry over HTTP at /metrics; port 0 picks a free one."""
    return start_http_server(port, addr=addr, registry=REGISTRY)
