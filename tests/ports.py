"""Ports for the stacks tests start beside the session's own (the cluster test, the fault
harness)."""

from __future__ import annotations

import socket


def free_range(count: int, *, start: int, step: int) -> int:
    """The first of `count` consecutive free ports, trying from `start` every `step` ports."""
    for base in range(start, 60_000, step):
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no {count} consecutive free ports")
