"""The Host header check both web servers make (the connector API and the console): a page
served to any name is open to DNS rebinding, so each answers only the names it is given."""

from __future__ import annotations

import re
from collections.abc import Sequence

_HOST = re.compile(r"^(?P<name>\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/@]+)(?::(?P<port>\d{1,5}))?$")


def host_allowed(header: str | None, allowed: Sequence[str], served_port: int | None) -> bool:
    """`name` entries match with no port or the port the server serves on; `name:port` exactly."""
    match = _HOST.fullmatch(header or "")
    if match is None:
        return False
    name, port = match["name"].lower(), match["port"]
    if port is None:
        return name in allowed
    return f"{name}:{int(port)}" in allowed or (name in allowed and int(port) == served_port)
