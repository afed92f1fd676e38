"""What a hostile sender or another website tries on the console, judged without a server:
a printed register whatever the sender wrote, filters read as Vietnamese days, and forms
judged by where the browser says they come from."""

from __future__ import annotations

import datetime
import logging

import pytest
from starlette.requests import Request

from console import guard, pdf, registers, review, templating
from console.registers import Direction, IncomingEntry
from console.views import auth
from kernel.errors import AccessDenied

HOSTILE = ["W" * 20_000, "Ữ" * 20_000, "\n" * 20_000 + "x", "a " * 20_000, "\u202e" * 5000]


def _entry(text: str) -> IncomingEntry:
    return IncomingEntry(
        year=2026, number=1, message_id="m", kind="document", sender="000.00.00.H62",
        sender_name=text, author=text, document_id=None, code_number=text,
        code_notation=text, promulgated_on=None, document_type=text, subject=text,
        signer=text, due_date=None, received_at=datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC),
        status="01", redirected_from=text, paper_copy_required=True, recall_requested_at=None,
        revoked_at=None,
    )  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE, ids=["wide", "accented", "lines", "words", "controls"])
def test_a_sender_cannot_make_the_quarterly_register_unprintable(text: str) -> None:
    """fpdf2 refuses a row taller than a page: one long subject used to make the whole
    quarter's Article 10.3 export a 500."""
    logging.getLogger("fpdf").setLevel(logging.ERROR)
    body = registers.as_pdf(Direction.INCOMING, "UBND xã", 2026, 1, [_entry(text)] * 2)
    assert body.startswith(b"%PDF-")


def test_a_cell_is_cut_to_what_its_column_holds() -> None:
    cut = pdf.fitted("x" * 10_000, 70)
    assert len(cut) == int((70 - pdf.CELL_PADDING_MM) / pdf.WIDEST_GLYPH_MM) * 24
    assert cut.endswith("…")
    assert pdf.fitted("125/UBND-VP\r\nngày\t5", 30) == "125/UBND-VP ngày 5"


def test_dead_letter_filters_are_vietnamese_days() -> None:
    """An operator asking for 1 March means Vietnam's 1 March, which starts at 17:00 UTC
    the day before; it used to be read as UTC's day, missing the first seven hours."""
    start = review.moment("2026-03-01")
    end = review.moment("2026-03-01", end=True)
    assert start == datetime.datetime(2026, 2, 28, 17, tzinfo=datetime.UTC)
    assert end == datetime.datetime(2026, 3, 1, 17, tzinfo=datetime.UTC)


@pytest.mark.parametrize("value", ["20260301", "2026-W09-7", "2026-03-01T00:00"])
def test_a_dead_letter_filter_is_a_plain_date(value: str) -> None:
    with pytest.raises(Exception, match="not a date"):
        review.moment(value)


def _request(headers: dict[str, str]) -> Request:
    return Request(
        {
            "type": "http", "method": "POST", "scheme": "http", "path": "/login",
            "server": ("127.0.0.1", 8750), "query_string": b"",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )  # fmt: skip


def test_a_form_through_the_tls_proxy_is_accepted() -> None:
    """Deployed behind a TLS reverse proxy, the browser's Origin is https while the console
    hears plain HTTP: every form, the login's included, used to be refused."""
    guard.check_origin(_request({"host": "console.example", "origin": "https://console.example"}))
    guard.check_origin(_request({"host": "127.0.0.1:8750", "origin": "http://127.0.0.1:8750"}))


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "https://console.example.evil.example",
     "https://console.example:444", "file://console.example"],
)  # fmt: skip
def test_a_form_from_another_origin_is_refused(origin: str) -> None:
    with pytest.raises(AccessDenied):
        guard.check_origin(_request({"host": "console.example", "origin": origin}))


@pytest.mark.parametrize("cell", [' =HYPERLINK("http://x")', "\n=1+1", "  \n @SUM(A1)"])
def test_a_formula_behind_blanks_is_quoted_in_the_csv(cell: str) -> None:
    assert registers.neutralised(cell) == "'" + cell


def test_pages_show_times_in_vietnam() -> None:
    """The database gives UTC: a dead letter received at 01:00 on 1 March in Vietnam was
    shown as 18:00 on 28 February, beside filters that now read Vietnamese days."""
    at = datetime.datetime(2026, 2, 28, 18, tzinfo=datetime.UTC)
    assert templating.local(at) == "01/03/2026 01:00:00"
    assert templating.local(None) == ""
    written = [
        str(path.relative_to(templating.TEMPLATES))
        for path in templating.TEMPLATES.rglob("*.html")
        if "strftime(" in path.read_text(encoding="utf-8")
    ]
    assert written == []


def test_the_login_limit_counts_an_ipv6_subscriber_as_one_client() -> None:
    assert auth.client_key("2001:db8:7:1::5") == auth.client_key("2001:db8:7:1:ffff::9")
    assert auth.client_key("2001:db8:7:1::5") != auth.client_key("2001:db8:7:2::5")
    assert auth.client_key("203.0.113.7") == "203.0.113.7"
    assert auth.client_key("") == ""
