"""A client of the axis protocol (VDXP, an LGSP, another lienthong's /vxp), for the bridge.

It signs each request as the axis's SDKs do (`connectors.vxp.protocol`, the server's own
rules): every parameter as a loose `XroadVnpt-` header and in the signed JSON, HMAC-SHA256
of that JSON's exact bytes under the system's secret, the edXML followed by one CRLF and its
SHA-256 in the clients' unpadded hex. Unlike the SDKs it sends only the parameters of the
call at hand, with a fresh timestamp each time.

This is the one module that talks to aiohttp's client: its errors, and the endpoint's
answers, become ours here.
- the endpoint unreachable, timing out, answering 5xx, ErrorCode 50 or no JSON:
  `EndpointUnavailable` (retriable: the bridge waits and tries again);
- 401 (who we are was not accepted): `AccessDenied`, which stops the bridge, because no
  retry fixes a wrong secret or a revoked system;
- any other FAIL: `Rejected`, with the endpoint's own `reason_code` when it is one of ours
  (a lienthong endpoint names it), else `endpoint_refused`; that request is refused for
  good and the bridge records why.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp
import structlog

from connectors.vxp import protocol
from kernel.errors import AccessDenied, EndpointUnavailable, Rejected
from kernel.reasons import ReasonCode

log = structlog.get_logger(__name__)
VERSION = "3.0.201608"
USER_AGENT = "lienthong-bridge/1 XRoad"
_KNOWN = {code.value for code in ReasonCode}
_LATER = frozenset({408, 425, 429})
"""Request timeout, too early, too many requests: a later try may pass."""


class AxisClient:
    """One system's client of one endpoint (`http://HOST:PORT/vxp`, no trailing slash)."""

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        timeout: float = 60.0,
        max_answer_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self._session: aiohttp.ClientSession | None = None

    __repr__ = object.__repr__  # never the secret in a log line

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, params: Mapping[str, str]) -> dict[str, str]:
        """The signed headers of a call with these parameters (systemid and timestamp added)."""
        now = datetime.datetime.now(protocol.VIETNAM)
        given = {
            "systemid": self.system_id,
            "timestamp": f"{now:%d%m%YT%H%M%S}+{now.microsecond // 1000:04d}",
            **params,
        }
        signed = json.dumps(
            {f"XroadVnpt-{name}": value for name, value in given.items()},
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return {
            # Loose headers too, as the SDKs send them; a value HTTP cannot carry as it is
            # rides in the signed JSON only (the server reads that, never the loose one).
            **{
                f"XroadVnpt-{name}": value
                for name, value in given.items()
                if value.isascii() and value.isprintable()
            },
            "XroadVnpt-sign-header-key": ";".join(given),
            "XroadVnpt-sign-header": signed,
            "XroadVnpt-hash-header": protocol.signature(self._secret, signed.encode("ascii")),
            "XroadVnpt-version": VERSION,
        }

    async def call(
        self,
        operation: str,
        params: Mapping[str, str] | None = None,
        *,
        body: bytes = b"{}",
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """POST one operation; its answer when `status` is OK, else the mapped refusal."""
        session = self._session
        if session is None:
            raise RuntimeError("use the client as `async with AxisClient(...)`")
        headers = {**self.headers(params or {}), "Content-Type": content_type}
        url = f"{self.endpoint}/{operation}"
        try:
            async with session.post(url, data=body, headers=headers) as response:
                raw = await self._read(response, operation)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise EndpointUnavailable(
                f"{operation} at {self.endpoint}: {type(exc).__name__}: {exc}"
            ) from exc
        return _answer(operation, self.endpoint, status, raw)

    async def _read(self, response: aiohttp.ClientResponse, operation: str) -> bytes:
        """The whole answer up to the limit: one `read(n)` returns only what is buffered
        (a large getEdoc would be cut short and look like broken JSON)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_answer_bytes:
                raise EndpointUnavailable(
                    f"{operation} at {self.endpoint}: the answer is over "
                    f"{self.max_answer_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def send_edoc(
        self, sender: str, document: bytes, *, kind: str = "edoc", to: Sequence[str] = ()
    ) -> str:
        """sendEdoc: the document (or status packet) from `sender`; the endpoint's DocId."""
        params = {
            "from": sender,
            "servicetype": "eDoc",
            "messagetype": kind,
            "hash-file": protocol.unpadded_hex(hashlib.sha256(document).digest()),
        }
        if to:
            params["to"] = json.dumps(list(to))
        answer = await self.call(
            "sendEdoc", params, body=document + protocol.CRLF,
            content_type="application/octet-stream",
        )  # fmt: skip
        doc_id = answer.get("DocId")
        if not isinstance(doc_id, str) or not doc_id:
            raise EndpointUnavailable(f"sendEdoc at {self.endpoint} answered OK without a DocId")
        return doc_id

    async def received(self, kind: str) -> list[dict[str, Any]]:
        """getReceivedEdocList: the documents (`edoc`) or statuses pending for this system."""
        answer = await self.call(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": kind}, body=b""
        )
        data = answer.get("data") or []
        if not isinstance(data, list):
            raise EndpointUnavailable(f"getReceivedEdocList at {self.endpoint}: data is no list")
        return [entry for entry in data if isinstance(entry, dict)]

    async def get_edoc(self, doc_id: str) -> bytes:
        """getEdoc: the document's bytes, as the endpoint keeps them."""
        answer = await self.call("getEdoc", {"docId": doc_id})
        data = answer.get("data")
        try:
            return base64.b64decode(data if isinstance(data, str) else "", validate=True)
        except (binascii.Error, ValueError):
            raise EndpointUnavailable(
                f"getEdoc {doc_id} at {self.endpoint}: data is not base64"
            ) from None

    async def update_status(self, doc_id: str, state: str) -> None:
        """updateStatus: `done` takes it off the pending list, `fail` keeps it there."""
        await self.call("updateStatus", {"docId": doc_id, "status": state})


def _answer(operation: str, endpoint: str, status: int, raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        answer = None
    where = f"{operation} at {endpoint}"
    if not isinstance(answer, dict):
        raise EndpointUnavailable(f"{where}: HTTP {status}, not the protocol's JSON")
    if answer.get("status") == "OK" and status < 300:
        return answer
    code = str(answer.get("ErrorCode", ""))
    text = str(answer.get("ErrorDesc") or "")[:1000]
    named = str(answer.get("reason_code") or "")
    reason = ReasonCode(named) if named in _KNOWN else ReasonCode.ENDPOINT_REFUSED
    message = f"{where}: HTTP {status}, ErrorCode {code}: {text}"
    if status >= 500 or status in _LATER or code == protocol.SERVICE_FAILED:
        raise EndpointUnavailable(message)
    if status == 401:
        raise AccessDenied(
            reason if named in _KNOWN else ReasonCode.CREDENTIALS_INVALID,
            message,
            hint="check the bridge's --system-id and --secret-file against the endpoint's",
        )
    raise Rejected(reason, message)
