"""The connector API's perimeter, tried as an attacker would: credentials, units, Origin,
Host, media types and every malformed body, each answered with its status and reason code.

Requests that must be refused carry a body that would otherwise be sent, and the outgoing
register is checked to be still empty: a refusal that came after the action would pass a
status check alone.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors import api, credentials
from kernel import database
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from tests.e2e.apiclient import bearer, token
from tests.e2e.conftest import (
    CLOSED_DISTRICT,
    COMMUNE_A,
    COMMUNE_B,
    PROVINCE,
    Exchange,
    exchange_with,
)
from tests.e2e.test_cli_exchange import cli
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = base64.b64encode((FIXTURES / "edxml" / "document.edxml").read_bytes()).decode()
LETTER = {"to": [COMMUNE_A], "fields": {"subject": "Công văn về việc thử nghiệm"}}
JSON = "application/json"


@dataclasses.dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def reason_code(self) -> str:
        return str(self.body["reason_code"])


@dataclasses.dataclass
class Served:
    exchange: Exchange
    base: str
    port: int
    auth: dict[str, str]

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Answer:
        """One request; `body` goes as JSON, `raw` as given (set its Content-Type yourself)."""
        sent = {**(self.auth if auth else {}), **(headers or {})}
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        if body is not None and "Content-Type" not in sent:
            sent["Content-Type"] = JSON
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.base + path,
                data=None if data is None else io.BytesIO(data),  # big bodies without a warning
                headers=sent,
                skip_auto_headers=["Content-Type"],
            ) as response,
        ):
            text = await response.text()
            assert response.content_type == JSON, (response.status, text)
            return Answer(response.status, response.headers, json.loads(text))

    async def sent_count(self) -> int:
        rows = await self.exchange.fetch("SELECT count(*) AS n FROM outgoing_register")
        return int(rows[0]["n"])


@contextlib.asynccontextmanager
async def served(exchange: Exchange) -> AsyncIterator[Served]:
    async with api.serving(exchange.connector, "127.0.0.1", 0) as port:
        yield Served(exchange, f"http://127.0.0.1:{port}", port, await bearer(exchange))


@pytest.fixture(scope="module")
async def shared(
    settings: Settings, services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    """One exchange for the table tests, whose every request is refused before any action."""
    async with (
        exchange_with(settings, services, tmp_path_factory.mktemp("api")) as exchange,
        served(exchange) as serving,
    ):
        yield serving


# Credentials ---------------------------------------------------------------------------------


async def test_requests_without_valid_credentials_get_401_and_a_challenge(
    exchange: Exchange,
) -> None:
    async with served(exchange) as api_:
        good = await token(exchange, [PROVINCE])
        parsed = credentials.parse(good)
        flipped = bytes([parsed.secret[0] ^ 1]) + parsed.secret[1:]
        cases = {
            "none": (None, "credentials_missing"),
            "another scheme": (f"Basic {base64.b64encode(b'a:b').decode()}", "credentials_missing"),
            "garbled": ("Bearer", "credentials_missing"),
            "not a token": ("Bearer abc", "credentials_invalid"),
            "unknown id": (f"Bearer lt_{'0' * 16}_{parsed.secret.hex()}", "credentials_invalid"),
            "wrong secret": (
                f"Bearer {credentials.Token(parsed.id, flipped)}",
                "credentials_invalid",
            ),
        }
        for method, path, body in (
            ("GET", f"/units/{PROVINCE}/inbox", None),
            ("POST", f"/units/{PROVINCE}/documents", LETTER),
        ):
            for case, (header, reason) in cases.items():
                headers = {"Authorization": header} if header else {}
                answer = await api_.call(method, path, body=body, headers=headers, auth=False)
                assert (answer.status, answer.reason_code) == (401, reason), case
                assert answer.headers["WWW-Authenticate"].startswith("Bearer "), case
            good_answer = await api_.call(
                "GET", f"/units/{PROVINCE}/inbox", headers={"Authorization": f"Bearer {good}"}
            )
            assert good_answer.status == 200
        assert await api_.sent_count() == 0


async def test_a_revoked_credential_stops_working_at_once(exchange: Exchange) -> None:
    async with served(exchange) as api_:
        good = await token(exchange, [PROVINCE])
        headers = {"Authorization": f"Bearer {good}"}
        path = f"/units/{PROVINCE}/inbox"
        assert (await api_.call("GET", path, headers=headers, auth=False)).status == 200
        conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
        try:
            revoked = await credentials.revoke(conn, credentials.parse(good).id, actor="pytest")
        finally:
            await conn.close()
        assert revoked is not None
        assert revoked.revoked_at is not None
        answer = await api_.call("GET", path, headers=headers, auth=False)
        assert (answer.status, answer.reason_code) == (401, "credentials_invalid")
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


async def test_the_credentials_commands_create_list_and_revoke(exchange: Exchange) -> None:
    code, out, err = await cli(
        exchange, "connector", "credentials", "create", "--unit", COMMUNE_A, "--name", "QLVB xã",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert created["units"] == [COMMUNE_A]
    secret = created["token"]
    async with served(exchange) as api_:
        headers = {"Authorization": f"Bearer {secret}"}
        inbox = f"/units/{COMMUNE_A}/inbox"
        assert (await api_.call("GET", inbox, headers=headers, auth=False)).status == 200

        code, out, err = await cli(exchange, "connector", "credentials", "list", "--json")
        assert code == 0, err
        [listed] = [c for c in json.loads(out) if c["id"] == created["id"]]
        assert listed["name"] == "QLVB xã"
        assert listed["revoked_at"] is None
        assert listed["last_used_at"] is not None
        assert secret not in out
        assert credentials.parse(secret).secret.hex() not in out

        code, out, err = await cli(exchange, "connector", "credentials", "revoke", created["id"])
        assert code == 0, err
        assert json.loads(out)["revoked_at"] is not None
        answer = await api_.call("GET", inbox, headers=headers, auth=False)
        assert (answer.status, answer.reason_code) == (401, "credentials_invalid")

    code, out, _ = await cli(exchange, "connector", "credentials", "revoke", "0" * 16)
    assert (code, json.loads(out)["found"]) == (1, False)
    code, _, err = await cli(exchange, "connector", "credentials", "create", "--unit", "H62")
    assert code == 2
    assert "organid_invalid" in err
    audit = await exchange.fetch(
        "SELECT action FROM audit WHERE subject = $1 ORDER BY id", f"api-credential:{created['id']}"
    )
    assert [a["action"] for a in audit] == ["api-credential-create", "api-credential-revoke"]


async def test_a_unit_s_credential_cannot_act_for_another_unit(exchange: Exchange) -> None:
    async with served(exchange) as api_:
        commune = {"Authorization": f"Bearer {await token(exchange, [COMMUNE_A])}"}
        own = await api_.call("GET", f"/units/{COMMUNE_A}/inbox", headers=commune, auth=False)
        assert own.status == 200
        for method, path, body in (
            ("POST", f"/units/{PROVINCE}/documents", {**LETTER, "to": [COMMUNE_B]}),
            ("GET", f"/units/{PROVINCE}/documents/some-id", None),
            ("POST", f"/units/{PROVINCE}/documents/some-id/revoke", {"reason": "nhầm"}),
            ("POST", f"/units/{PROVINCE}/documents/some-id/recall", {"reason": "nhầm"}),
            ("GET", f"/units/{PROVINCE}/inbox", None),
            ("GET", f"/units/{PROVINCE}/inbox/some-id", None),
            ("POST", f"/units/{PROVINCE}/inbox/some-id/status", {"code": "03"}),
            ("GET", f"/units/{COMMUNE_B}/inbox", None),
            ("GET", f"/units/{COMMUNE_A.lower()}/inbox", None),
            ("GET", f"/units/{COMMUNE_A}%20/inbox", None),
            ("GET", f"/units/{CLOSED_DISTRICT}/inbox", None),
        ):
            answer = await api_.call(method, path, body=body, headers=commune, auth=False)
            assert (answer.status, answer.reason_code) == (403, "unit_forbidden"), path
        assert await api_.sent_count() == 0

        # A credential for units another deployment hosts is not this deployment's to see
        # (row-level security): to this connector it does not exist.
        elsewhere = {"Authorization": f"Bearer {await token(exchange, [CLOSED_DISTRICT])}"}
        answer = await api_.call(
            "GET", f"/units/{CLOSED_DISTRICT}/inbox", headers=elsewhere, auth=False
        )
        assert (answer.status, answer.reason_code) == (401, "credentials_invalid")


async def test_only_health_and_the_openapi_document_are_public(exchange: Exchange) -> None:
    async with served(exchange) as api_:
        health = await api_.call("GET", "/health", auth=False)
        assert health.status == 200
        assert health.body["units"] == list(exchange.connector.units)
        spec = await api_.call("GET", "/openapi.json", auth=False)
        assert spec.status == 200
        assert spec.body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for method, path in (
            ("GET", "/nowhere"),
            ("GET", "/units/"),
            ("DELETE", f"/units/{PROVINCE}/inbox"),
            ("GET", "/health/"),
        ):
            answer = await api_.call(method, path, auth=False)
            assert (answer.status, answer.reason_code) == (401, "credentials_missing"), path


# Origin and Host -----------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused(exchange: Exchange) -> None:
    async with served(exchange) as api_:
        for origin in ("https://evil.example", "null", f"http://127.0.0.1:{api_.port}"):
            for method, path, body in (
                ("POST", f"/units/{PROVINCE}/documents", LETTER),
                ("GET", f"/units/{PROVINCE}/inbox", None),
                ("GET", "/health", None),
            ):
                answer = await api_.call(method, path, body=body, headers={"Origin": origin})
                assert (answer.status, answer.reason_code) == (403, "origin_forbidden"), origin
        assert await api_.sent_count() == 0


async def test_an_origin_in_the_settings_is_accepted(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    allowed = "https://qlvb.vinhlong.gov.vn"
    async with (
        exchange_with(settings, services, tmp_path, connector_origins=(allowed,)) as exchange,
        served(exchange) as api_,
    ):
        path = f"/units/{PROVINCE}/documents"
        answer = await api_.call("POST", path, body=LETTER, headers={"Origin": allowed.upper()})
        assert answer.status == 201, answer.body
        refused = await api_.call("POST", path, body=LETTER, headers={"Origin": allowed + ":8443"})
        assert (refused.status, refused.reason_code) == (403, "origin_forbidden")
        assert await api_.sent_count() == 1


async def test_an_unexpected_host_is_refused(exchange: Exchange) -> None:
    """DNS rebinding: the victim's browser reaches 127.0.0.1 but says the attacker's name."""
    async with served(exchange) as api_:
        for host in (
            "evil.example",
            f"evil.example:{api_.port}",
            f"127.0.0.1:{api_.port + 1}",
            "127.0.0.1.evil.example",
            "",
        ):
            for method, path, body in (
                ("POST", f"/units/{PROVINCE}/documents", LETTER),
                ("GET", "/health", None),
            ):
                answer = await api_.call(method, path, body=body, headers={"Host": host})
                assert (answer.status, answer.reason_code) == (421, "host_forbidden"), host
        assert await api_.sent_count() == 0
        for host in ("localhost", f"localhost:{api_.port}", f"[::1]:{api_.port}", "127.0.0.1"):
            answer = await api_.call("GET", f"/units/{PROVINCE}/inbox", headers={"Host": host})
            assert answer.status == 200, host


async def test_a_host_in_the_settings_is_answered(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with (
        exchange_with(
            settings, services, tmp_path, connector_hosts=("lienthong.vinhlong.gov.vn",)
        ) as exchange,
        served(exchange) as api_,
    ):
        path = f"/units/{PROVINCE}/inbox"
        named = await api_.call("GET", path, headers={"Host": "lienthong.vinhlong.gov.vn"})
        assert named.status == 200
        loopback = await api_.call("GET", path)  # the defaults no longer apply
        assert (loopback.status, loopback.reason_code) == (421, "host_forbidden")


# Media types and malformed bodies -------------------------------------------------------------

LETTER_BYTES = json.dumps(LETTER).encode()


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", LETTER_BYTES),
        ("text/plain; charset=utf-8", LETTER_BYTES),
        ("application/x-www-form-urlencoded", b"to=000.02.00.H62&edxml=PHg%2B"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="to"\r\n'
                                             b"\r\n000.02.00.H62\r\n--x--\r\n"),
        (None, LETTER_BYTES),
        ("application/json; charset=latin-1", LETTER_BYTES),
        ("application/jsonp", LETTER_BYTES),
        ("application/merge-patch+json", LETTER_BYTES),
    ],
)  # fmt: skip
async def test_bodies_must_be_json(shared: Served, content_type: str | None, raw: bytes) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await shared.call("POST", f"/units/{PROVINCE}/documents", raw=raw, headers=headers)
    assert (answer.status, answer.reason_code) == (415, "media_type_unsupported")
    assert await shared.sent_count() == 0


DOCUMENTS = f"/units/{PROVINCE}/documents"
STATUS = f"/units/{COMMUNE_A}/inbox/nope/status"
REVOKE = f"{DOCUMENTS}/nope/revoke"
RECALL = f"{DOCUMENTS}/nope/recall"
ATTACHMENT = {"name": "a.txt", "media_type": "text/plain", "content": "YQ=="}
MALFORMED = 400, "request_malformed"
FIELDS_WRONG = 422, "edxml_invalid_value"


def _send(**changes: Any) -> dict[str, Any]:
    return {"to": [COMMUNE_A], "fields": {"subject": "Thử"}, **changes}


def _fields(**changes: Any) -> dict[str, Any]:
    return {"to": [COMMUNE_A], "fields": {"subject": "Thử", **changes}}


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # Not a JSON object at all.
        (DOCUMENTS, b"", MALFORMED),
        (DOCUMENTS, b"{", MALFORMED),
        (DOCUMENTS, b"\xff\xfe{}", MALFORMED),
        (DOCUMENTS, b"[]", MALFORMED),
        (DOCUMENTS, b'"to"', MALFORMED),
        (DOCUMENTS, b"null", MALFORMED),
        (DOCUMENTS, b"42", MALFORMED),
        (DOCUMENTS, b'{"to": NaN}', MALFORMED),
        (DOCUMENTS, b'{"to": ["000.02.00.H62"], "fields": {"subject": "x", "type": 1'
                    + b"0" * 5000 + b"}}", MALFORMED),
        (DOCUMENTS, b"[" * 100_000 + b"]" * 100_000, MALFORMED),
        (DOCUMENTS, b'{"to": [' * 50_000 + b"]}" * 50_000, MALFORMED),
        # The send body's own properties.
        (DOCUMENTS, {"too": [COMMUNE_A], "edxml": DOCUMENT}, MALFORMED),
        (DOCUMENTS, _send(extra=1), MALFORMED),
        (DOCUMENTS, _send(to=COMMUNE_A), MALFORMED),
        (DOCUMENTS, _send(to=[1]), MALFORMED),
        (DOCUMENTS, _send(to=[[COMMUNE_A]]), MALFORMED),
        (DOCUMENTS, _send(to=None), MALFORMED),
        (DOCUMENTS, _send(to=[]), (422, "organid_invalid")),
        (DOCUMENTS, {"fields": {"subject": "Thử"}}, (422, "organid_invalid")),
        (DOCUMENTS, _send(to=["not a unit"]), (422, "organid_invalid")),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": 5}, MALFORMED),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": [DOCUMENT]}, MALFORMED),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": "%%%"}, (422, "attachment_not_base64")),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": "PHgvPg=="}, (422, "edxml_not_edxml")),
        (DOCUMENTS, {"to": [COMMUNE_A]}, FIELDS_WRONG),
        (DOCUMENTS, _send(edxml=DOCUMENT), MALFORMED),
        (DOCUMENTS, _send(fields=[]), MALFORMED),
        (DOCUMENTS, _send(fields="subject"), MALFORMED),
        # The document's fields: wrong JSON types are 400, wrong values 422.
        (DOCUMENTS, _fields(subject=1), MALFORMED),
        (DOCUMENTS, _fields(subject=None), MALFORMED),
        (DOCUMENTS, _fields(subject=["Thử"]), MALFORMED),
        (DOCUMENTS, _fields(content={"a": 1}), MALFORMED),
        (DOCUMENTS, _fields(due_date=20261120), MALFORMED),
        (DOCUMENTS, _fields(priority="1"), MALFORMED),
        (DOCUMENTS, _fields(priority=True), MALFORMED),
        (DOCUMENTS, _fields(priority=1.5), MALFORMED),
        (DOCUMENTS, _fields(type=1e400), MALFORMED),
        (DOCUMENTS, _fields(business_doc_type="0"), MALFORMED),
        (DOCUMENTS, _fields(to_places="Hà Nội"), MALFORMED),
        (DOCUMENTS, _fields(to_places=[1]), MALFORMED),
        (DOCUMENTS, _fields(priority=9), FIELDS_WRONG),
        (DOCUMENTS, _fields(priority=-1), FIELDS_WRONG),
        (DOCUMENTS, _fields(business_doc_type=7), FIELDS_WRONG),
        (DOCUMENTS, _fields(due_date="20/11/2026"), FIELDS_WRONG),
        (DOCUMENTS, _fields(colour="red"), FIELDS_WRONG),
        (DOCUMENTS, _fields(subject=""), FIELDS_WRONG),
        (DOCUMENTS, {"to": [COMMUNE_A], "fields": {}}, FIELDS_WRONG),
        # Text that no edXML packet or PostgreSQL string can hold.
        (DOCUMENTS, _fields(subject="Thử\u0000"), MALFORMED),
        (DOCUMENTS, _fields(subject="Thử\u001b[31m"), MALFORMED),
        (DOCUMENTS, _fields(to_places=["\ufffe"]), MALFORMED),
        (DOCUMENTS, b'{"to": ["000.02.00.H62"], "fields": {"subject": "\\ud800"}}', MALFORMED),
        (DOCUMENTS, b'{"to": ["000.02.00.H62"], "fields": {"subject": "x", "\\u0000": 1}}',
         MALFORMED),
        # Attachments.
        (DOCUMENTS, _send(attachments={}), MALFORMED),
        (DOCUMENTS, _send(attachments=ATTACHMENT), MALFORMED),
        (DOCUMENTS, _send(attachments=["YQ=="]), MALFORMED),
        (DOCUMENTS, _send(attachments=[None]), MALFORMED),
        (DOCUMENTS, _send(attachments=[[ATTACHMENT]]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "content": 5}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "content": ["YQ=="]}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "name": 1}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "media_type": False}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "size": 1}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "name": "a\u0000.txt"}]), MALFORMED),
        (DOCUMENTS, _send(attachments=[{}]), (422, "attachment_not_base64")),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "content": ""}]),
         (422, "attachment_not_base64")),
        (DOCUMENTS, _send(attachments=[{**ATTACHMENT, "content": "a b"}]),
         (422, "attachment_not_base64")),
        # A status answer.
        (STATUS, b"[]", MALFORMED),
        (STATUS, {"code": 3}, MALFORMED),
        (STATUS, {"code": ["03"]}, MALFORMED),
        (STATUS, {"code": None}, MALFORMED),
        (STATUS, {"code": "02", "reason": 1}, MALFORMED),
        (STATUS, {"code": "03", "note": "x"}, MALFORMED),
        (STATUS, {"code": "03", "reason": "x\u0000"}, MALFORMED),
        (STATUS, {}, FIELDS_WRONG),
        (STATUS, {"code": "99"}, FIELDS_WRONG),
        (f"/units/{COMMUNE_A}/inbox/a%00b/status", {"code": "03"}, (404, "not_found")),
        # A revoke, update or replace.
        (REVOKE, b"{}}", MALFORMED),
        (REVOKE, {"reason": 1}, MALFORMED),
        (REVOKE, {"reason": "nhầm", "fields": "x"}, MALFORMED),
        (REVOKE, {"reason": "nhầm", "fields": {"subject": 1}}, MALFORMED),
        (REVOKE, {"reason": "nhầm", "why": "x"}, MALFORMED),
        (REVOKE, {"reason": ""}, FIELDS_WRONG),
        (f"{DOCUMENTS}/a%00b/update", {"reason": "x", "fields": {"subject": "y"}},
         (404, "not_found")),
        # A recall request (13).
        (RECALL, b"{", MALFORMED),
        (RECALL, {"reason": 1}, MALFORMED),
        (RECALL, {"reason": "nhầm", "fields": {}}, MALFORMED),
        (RECALL, {"reason": "nhầm\u0000"}, MALFORMED),
        (RECALL, {"reason": ""}, FIELDS_WRONG),
        (RECALL, {"reason": "nhầm"}, (404, "unit_unknown")),
    ],
)  # fmt: skip
async def test_malformed_bodies_get_4xx_with_a_reason_code(
    shared: Served, path: str, body: object, expected: tuple[int, str]
) -> None:
    if isinstance(body, bytes):
        answer = await shared.call("POST", path, raw=body, headers={"Content-Type": JSON})
    else:
        answer = await shared.call("POST", path, body=body)
    assert (answer.status, answer.reason_code) == expected, answer.body
    assert set(answer.body) == {"reason_code", "reason"}
    assert await shared.sent_count() == 0


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", f"/units/{PROVINCE}/nowhere", (404, "not_found")),
        ("GET", f"/units/{PROVINCE}/documents/x/y/z", (404, "not_found")),
        ("POST", f"{DOCUMENTS}/some-id/delete", (404, "not_found")),
        ("GET", f"/units/{PROVINCE}/inbox/some-id", (404, "not_found")),
        ("GET", f"/units/{PROVINCE}/inbox/a%00b", (404, "not_found")),
        ("GET", f"/units/{PROVINCE}/inbox/{'x' * 300}", (404, "not_found")),
        ("GET", f"{DOCUMENTS}/a%01b", (404, "not_found")),
        ("GET", f"{DOCUMENTS}/some-id", (404, "not_found")),
        ("DELETE", f"/units/{PROVINCE}/inbox", (405, "method_not_allowed")),
        ("PUT", DOCUMENTS, (405, "method_not_allowed")),
        ("GET", DOCUMENTS, (405, "method_not_allowed")),
        ("POST", "/health", (405, "method_not_allowed")),
    ],
)
async def test_unknown_paths_and_methods_answer_in_the_error_shape(
    shared: Served, method: str, path: str, expected: tuple[int, str]
) -> None:
    answer = await shared.call(method, path)
    assert (answer.status, answer.reason_code) == expected, answer.body
    if answer.status == 405:
        assert answer.headers["Allow"]


async def test_a_body_over_the_limit_is_413_in_the_error_shape(shared: Served) -> None:
    limit = shared.exchange.connector.settings.max_message_bytes
    padding = "A" * (limit + 1)
    raw = json.dumps({"to": [COMMUNE_A], "edxml": padding}).encode()
    answer = await shared.call("POST", DOCUMENTS, raw=raw, headers={"Content-Type": JSON})
    assert (answer.status, answer.reason_code) == (413, "request_too_large")
    assert await shared.sent_count() == 0
