"""The metrics endpoint serves the one registry over real HTTP."""

from __future__ import annotations

import urllib.request

from kernel import metrics


def test_metrics_endpoint_serves_build_info() -> None:
    server, thread = metrics.serve(0)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert 'lienthong_build_info{version="' in body
