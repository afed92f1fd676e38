"""The pure parts of the connector API's perimeter: tokens, bearer headers, scopes, Host names."""

from __future__ import annotations

import datetime

import pytest

from connectors import credentials
from kernel.errors import AccessDenied, Rejected
from kernel.hosts import host_allowed
from kernel.reasons import ReasonCode

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def test_a_token_carries_its_id_and_a_256_bit_secret_and_parses_back() -> None:
    token = credentials.new_token()
    text = str(token)
    assert text.startswith(f"lt_{token.id}_")
    assert len(token.secret) == 32
    assert credentials.parse(text) == token
    assert token.secret.hex() not in repr(token)
    assert credentials.new_token().secret != token.secret


def test_only_the_right_secret_matches_the_stored_digest() -> None:
    token = credentials.new_token()
    stored = credentials.digest(token.secret)
    assert stored != token.secret
    assert credentials.matches(token, stored)
    other = credentials.Token(token.id, bytes(a ^ 1 for a in token.secret[:1]) + token.secret[1:])
    assert not credentials.matches(other, stored)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lt_0123456789abcdef",
        "lt_0123456789abcdef_" + "ab" * 31,  # a secret one byte short
        "lt_0123456789ABCDEF_" + "ab" * 32,  # upper-case id
        "xx_0123456789abcdef_" + "ab" * 32,
        "lt_0123456789abcdef_" + "ab" * 32 + "\n",
    ],
)
def test_anything_but_a_lienthong_token_is_an_invalid_credential(text: str) -> None:
    with pytest.raises(AccessDenied) as caught:
        credentials.parse(text)
    assert caught.value.reason == ReasonCode.CREDENTIALS_INVALID


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.DEF-1_~+/=", "abc.DEF-1_~+/="),
        ("bearer   xyz", "xyz"),
        ("BEARER xyz ", "xyz"),
    ],
)
def test_the_bearer_scheme_is_read_case_insensitively(header: str, token: str) -> None:
    assert credentials.bearer(header) == token


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Token xyz"]
)
def test_no_or_a_garbled_authorization_means_missing_credentials(header: str | None) -> None:
    with pytest.raises(AccessDenied) as caught:
        credentials.bearer(header)
    assert caught.value.reason == ReasonCode.CREDENTIALS_MISSING


def test_a_credential_acts_only_for_its_own_units() -> None:
    credential = credentials.Credential(
        id="0123456789abcdef",
        name="phần mềm QLVB",
        units=("000.00.00.H62", "000.02.00.H62"),
        created_at=datetime.datetime.now(datetime.UTC),
    )
    credentials.authorise(credential, "000.02.00.H62")
    for unit in ("000.03.00.H62", "000.02.00.h62", "", "000.02.00.H62 "):
        with pytest.raises(AccessDenied) as caught:
            credentials.authorise(credential, unit)
        assert caught.value.reason == ReasonCode.UNIT_FORBIDDEN


def test_units_are_checked_and_kept_once_in_order() -> None:
    assert credentials.check_units(["000.02.00.H62", "000.00.00.H62", "000.02.00.H62"]) == (
        "000.02.00.H62",
        "000.00.00.H62",
    )
    for units in ([], ["H62"], ["000.02.00.H62", "*"]):
        with pytest.raises(Rejected) as caught:
            credentials.check_units(units)
        assert caught.value.reason == ReasonCode.ORGANID_INVALID


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:8740", True),
        ("LOCALHOST:8740", True),
        ("[::1]:8740", True),
        ("[::1]", True),
        ("127.0.0.1:8741", False),  # another port: not this service
        ("evil.example", False),
        ("evil.example:8740", False),
        ("localhost.evil.example:8740", False),
        ("127.0.0.1@evil.example", False),
        ("", False),
        (None, False),
        ("127.0.0.1:", False),
        ("127.0.0.1:87400", False),
    ],
)
def test_host_names_the_service_answers_for(header: str | None, allowed: bool) -> None:
    assert host_allowed(header, LOOPBACK, 8740) is allowed


def test_a_host_entry_with_a_port_matches_only_that_port() -> None:
    behind_proxy = ("lienthong.vinhlong.gov.vn:443",)
    assert host_allowed("lienthong.vinhlong.gov.vn:443", behind_proxy, 8740)
    assert not host_allowed("lienthong.vinhlong.gov.vn", behind_proxy, 8740)
    assert not host_allowed("lienthong.vinhlong.gov.vn:8740", behind_proxy, 8740)
