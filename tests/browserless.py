"""An HTTP client for testing the console without a browser: it keeps the console's Secure
cookies over plain HTTP on loopback, as a browser does for 127.0.0.1, and reads every
answer whole, so a test that looks only at a status leaves no connection open for the
garbage collector to warn about (pytest turns that warning into a failure, at random)."""

from __future__ import annotations

from typing import Any

import aiohttp


class _ReadWhole(aiohttp.ClientResponse):
    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        await super().start(connection)
        await self.read()
        return self


def client(url: str) -> aiohttp.ClientSession:
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[url])
    return aiohttp.ClientSession(cookie_jar=jar, response_class=_ReadWhole)
