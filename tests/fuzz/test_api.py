"""The connector API's request parsing: the JSON body as aiohttp serves it, then the
document fields and attachments of `POST /units/{unit}/documents`.

The whole application needs a connector (Kafka, PostgreSQL) per request, which no harness
of thousands of inputs can afford; its parsing functions are what a request's bytes reach
first, so they are served here through aiohttp's own test server with the API's error
middleware, and the rest are called directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from connectors import api, packing
from tests.fuzz.contract import examples, holds, mutants

SENDER = "000.00.00.H62"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from([*sorted(api._DOCUMENT_FIELDS), "Subject", ""])
FIELD_VALUES = (
    JSON | st.dates().map(str) | st.integers(-2, 6) | st.sampled_from(["", "2024-02-30", "x"])
)
GOOD_BODY = {
    "to": ["000.02.00.H62"],
    "fields": {"subject": "V/v liên thông", "promulgation_date": "2026-11-20", "priority": 1},
    "attachments": [{"name": "a.txt", "media_type": "text/plain", "content": "aGVsbG8="}],
}


async def _parse(request: web.Request) -> web.Response:
    body = await api._body(request)
    return web.json_response({"keys": sorted(body)})


Client = tuple[asyncio.AbstractEventLoop, TestClient[web.Request, web.Application]]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A real aiohttp server on its own loop, for the synchronous Hypothesis harness."""
    loop = asyncio.new_event_loop()
    app = web.Application(middlewares=[api._errors])
    app.router.add_post("/parse", _parse)
    test_client = TestClient(TestServer(app, loop=loop), loop=loop)
    loop.run_until_complete(test_client.start_server())
    yield loop, test_client
    loop.run_until_complete(test_client.close())
    loop.close()


def _post(client: Client, body: bytes, content_type: str) -> tuple[int, Any]:
    loop, test_client = client

    async def post() -> tuple[int, Any]:
        response = await test_client.post(
            "/parse", data=body, headers={"Content-Type": content_type}
        )
        return response.status, await response.json()

    return loop.run_until_complete(post())


@examples(ci=150, fuzz=10_000)
@given(
    st.data(),
    st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain", ""]),
)
def test_request_bodies(client: Client, data: st.DataObject, content_type: str) -> None:
    """Any body: parsed, or refused as a 4xx with a reason code; never a 500."""
    seeds = [json.dumps(GOOD_BODY, ensure_ascii=False).encode(), b'{"a": [1, "\\ud800"]}']
    body = data.draw(mutants(seeds, (b"NaN", b"\\u0000", b"[" * 40, b"\xc3", b"1e999")))
    status, answer = holds(lambda: _post(client, body, content_type))  # type: ignore[misc]
    assert status == 200 or (400 <= status < 500 and "reason_code" in answer), (status, answer)


@examples(ci=200, fuzz=20_000)
@given(st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=6), st.lists(st.text(max_size=14)))
def test_document_fields(fields: dict[str, Any], to: list[str]) -> None:
    """The fields of a document, as any JSON object gives them, to the edXML they write.
    `_body` refuses control characters in the whole body first (which the edXML writer,
    lxml, cannot write), so that check comes first here too."""

    def parse() -> bytes:
        api._check_text({"to": to, "fields": fields})
        return packing.edxml_from_fields(SENDER, api._document_fields(fields, "fields"), to)

    holds(parse)


@examples(ci=200, fuzz=20_000)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "attachments": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": JSON,
                        "media_type": st.sampled_from(["application/pdf", "text/plain"]) | JSON,
                        "content": st.sampled_from(["aGVsbG8=", "", "!!", "aGVsbG8"]) | JSON,
                        "reference": st.sampled_from(["sha256:" + "0" * 64, "x"]) | JSON,
                    },
                )
                | JSON,
                max_size=3,
            )
            | JSON
        },
    )
)
def test_attachments(body: dict[str, Any]) -> None:
    holds(lambda: api._attachments(body))
