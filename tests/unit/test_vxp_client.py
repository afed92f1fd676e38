"""The bridge's client of the axis protocol: it signs as the server checks, and every answer
or failure of the endpoint becomes an error of ours with its reason and `retriable` flag."""

from __future__ import annotations

import base64
import json
import socket
import uuid

import pytest
from aiohttp import web

from connectors.vxp import protocol
from connectors.vxp.bridge import message_id, read_secret
from connectors.vxp.client import AxisClient, _answer
from kernel.errors import AccessDenied, ConfigurationError, EndpointUnavailable, Rejected
from kernel.reasons import ReasonCode

SECRET = "s3cret-shared-with-the-endpoint"


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def test_what_the_client_signs_the_server_verifies() -> None:
    client = AxisClient("http://127.0.0.1:1/vxp/", "lt.bridge", SECRET)
    headers = client.headers({"from": "000.02.00.H62", "to": json.dumps(["000.00.02.H62"])})
    signed = protocol.read_signed(_raw(headers))
    protocol.verify(SECRET, signed)
    protocol.check_only_signed(signed, _raw(headers))
    assert signed.system_id == "lt.bridge"
    assert signed.param("from") == "000.02.00.H62"
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert client.endpoint == "http://127.0.0.1:1/vxp"
    with pytest.raises(AccessDenied):
        protocol.verify("another secret", signed)


def test_a_value_http_cannot_carry_rides_in_the_signed_json_only() -> None:
    headers = AxisClient("http://h/vxp", "lt.bridge", SECRET).headers({"note": "Sở Nội vụ"})
    assert "XroadVnpt-note" not in headers
    assert headers["XroadVnpt-sign-header"].isascii()  # JSON escapes; the HMAC covers them
    signed = protocol.read_signed(_raw(headers))
    protocol.verify(SECRET, signed)
    assert signed.param("note") == "Sở Nội vụ"


@pytest.mark.parametrize(
    ("status", "answer", "error", "reason"),
    [
        (401, {"status": "FAIL", "ErrorCode": "3", "reason_code": "request_signature_invalid"},
         AccessDenied, ReasonCode.REQUEST_SIGNATURE_INVALID),
        (401, {"status": "FAIL", "ErrorCode": "9"}, AccessDenied, ReasonCode.CREDENTIALS_INVALID),
        (403, {"status": "FAIL", "ErrorCode": "4", "reason_code": "unit_forbidden"},
         Rejected, ReasonCode.UNIT_FORBIDDEN),
        (400, {"status": "FAIL", "ErrorCode": "77", "reason_code": "not-ours"},
         Rejected, ReasonCode.ENDPOINT_REFUSED),
        (200, {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "loi"},
         Rejected, ReasonCode.ENDPOINT_REFUSED),
        (503, {"status": "FAIL", "ErrorCode": "50"}, EndpointUnavailable,
         ReasonCode.ENDPOINT_UNAVAILABLE),
        (400, {"status": "FAIL", "ErrorCode": "50"}, EndpointUnavailable,
         ReasonCode.ENDPOINT_UNAVAILABLE),
    ],
)  # fmt: skip
def test_refusals_are_ours(
    status: int, answer: dict[str, str], error: type[Exception], reason: ReasonCode
) -> None:
    with pytest.raises(error) as caught:
        _answer("sendEdoc", "http://h/vxp", status, json.dumps(answer).encode())
    assert getattr(caught.value, "reason", None) == reason
    assert getattr(caught.value, "retriable", None) is (error is EndpointUnavailable)


def test_an_answer_that_is_not_the_protocol_s_is_the_endpoint_away() -> None:
    with pytest.raises(EndpointUnavailable) as caught:
        _answer("getEdoc", "http://h/vxp", 502, b"<html>Bad Gateway</html>")
    assert caught.value.retriable
    assert _answer("getEdoc", "http://h/vxp", 200, b'{"status": "OK", "data": ""}')["data"] == ""


async def test_an_endpoint_nobody_answers_at_is_retriable() -> None:
    """A real connection refused (a port just closed), mapped from aiohttp's error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AxisClient(f"http://127.0.0.1:{port}/vxp", "lt.bridge", SECRET) as client:
        with pytest.raises(EndpointUnavailable) as caught:
            await client.received("edoc")
    assert caught.value.retriable
    assert caught.value.reason == ReasonCode.ENDPOINT_UNAVAILABLE


def test_a_taken_entry_always_gets_the_same_document_id() -> None:
    first = message_id("vdxp", "a1b2", ["U1", "U2"])
    assert first == message_id("vdxp", "a1b2", ["U2", "U1", "U2"])
    assert first != message_id("vdxp", "a1b3", ["U1", "U2"])
    assert first != message_id("lgsp", "a1b2", ["U1", "U2"])
    # Listed for another unit in a later poll: another document here, not a duplicate.
    assert first != message_id("vdxp", "a1b2", ["U3"])
    assert uuid.UUID(first).version == 4  # the form the router requires of a document's id


def test_the_secret_file_holds_the_secret_or_the_credentials_json() -> None:
    assert read_secret("  abc \n") == "abc"
    assert read_secret(json.dumps({"system_id": "x", "secret": "abc"})) == "abc"
    for bad in ("", "{}", '{"secret": ""}', "{not json"):
        with pytest.raises(ConfigurationError):
            read_secret(bad)


async def test_a_large_answer_is_read_whole_and_one_over_the_limit_is_refused() -> None:
    """aiohttp's `read(n)` returns what happens to be buffered: a getEdoc of a few MiB came
    back cut, as JSON that does not parse (the endpoint seemingly away, for ever)."""
    document = bytes(range(256)) * 12_000  # ~3 MiB, sent in many TCP segments

    async def get_edoc(request: web.Request) -> web.Response:
        data = base64.b64encode(document).decode()
        answer = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": data}
        return web.Response(text=json.dumps(answer), content_type="application/json")

    app = web.Application()
    app.router.add_post("/vxp/getEdoc", get_edoc)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AxisClient(f"http://127.0.0.1:{port}/vxp", "lt.bridge", SECRET) as client:
            for _ in range(3):
                assert await client.get_edoc("d1") == document
        small = AxisClient(
            f"http://127.0.0.1:{port}/vxp", "lt.bridge", SECRET, max_answer_bytes=1024 * 1024
        )
        async with small:
            with pytest.raises(EndpointUnavailable, match="over 1048576 bytes"):
                await small.get_edoc("d1")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [408, 425, 429])
def test_a_proxy_asking_to_wait_is_the_endpoint_away(status: int) -> None:
    body = b'{"status": "FAIL", "ErrorCode": "429", "ErrorDesc": "slow down"}'
    with pytest.raises(EndpointUnavailable) as caught:
        _answer("getEdoc", "http://h/vxp", status, body)
    assert caught.value.retriable
