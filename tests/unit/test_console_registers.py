"""The registers' pure parts: search parameters refused with a reason, quarters in Vietnam's
calendar, the Decree's columns filled, CSV cells a spreadsheet will not run, the PDF's text."""

from __future__ import annotations

import csv
import datetime
import io
from urllib.parse import parse_qsl

import pytest
from pypdf import PdfReader

from connectors.registers import VIETNAM
from console import registers
from console.registers import Direction, IncomingEntry, OutgoingEntry, Search
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

RECEIVED = datetime.datetime(2026, 3, 31, 17, 30, tzinfo=datetime.UTC)  # 1 April in Vietnam


def _incoming(**changes: object) -> IncomingEntry:
    fields: dict[str, object] = {
        "year": 2026, "number": 7, "message_id": "5f0c6c1e-8f0e-4b6a-9c39-6d1f3c1f7a10",
        "kind": "document", "sender": "000.00.00.H62", "sender_name": "UBND tỉnh Vĩnh Long",
        "author": None, "document_id": "000.00.00.H62,2026/11/20,125/UBND-VP",
        "code_number": "125", "code_notation": "UBND-VP",
        "promulgated_on": datetime.date(2026, 3, 30), "document_type": "Công văn",
        "subject": "V/v triển khai liên thông văn bản", "signer": "Nguyễn Văn A",
        "due_date": None, "received_at": RECEIVED, "status": "01", "redirected_from": None,
        "paper_copy_required": False, "recall_requested_at": None, "revoked_at": None,
    }  # fmt: skip
    fields.update(changes)
    return IncomingEntry(**fields)  # type: ignore[arg-type]


def _outgoing(**changes: object) -> OutgoingEntry:
    fields: dict[str, object] = {
        "year": 2026, "number": 12, "message_id": "5f0c6c1e-8f0e-4b6a-9c39-6d1f3c1f7a11",
        "kind": "document", "document_id": None, "code_number": None, "code_notation": None,
        "promulgated_on": None, "document_type": "Quyết định",
        "subject": "Quyết định về việc giao chỉ tiêu", "signer": "Trần Thị B",
        "due_date": None, "created_at": RECEIVED,
        "recipients": (("000.02.00.H62", "UBND xã Châu Thành"),
                       ("000.03.00.H62", "UBND xã Mỏ Cày")),
        "states": {"000.02.00.H62": "01", "000.03.00.H62": "02"},
    }  # fmt: skip
    fields.update(changes)
    return OutgoingEntry(**fields)  # type: ignore[arg-type]


def _refused(items: list[tuple[str, str]]) -> Rejected:
    with pytest.raises(Rejected) as refused:
        registers.parse_search(items)
    assert refused.value.reason == ReasonCode.REQUEST_MALFORMED
    return refused.value


def test_a_search_takes_every_field_and_drops_the_empty_ones() -> None:
    search = registers.parse_search(
        [("number", "0125"), ("notation", " UBND-VP "), ("from", "2026-01-05"),
         ("to", "2026-02-01"), ("party", "Châu Thành"), ("subject", "liên thông"),
         ("year", "2026"), ("quarter", "1"), ("page", "3")]
    )  # fmt: skip
    assert search == Search(
        number=125, notation="UBND-VP", since=datetime.date(2026, 1, 5),
        until=datetime.date(2026, 2, 1), party="Châu Thành", subject="liên thông",
        year=2026, quarter=1, page=3,
    )  # fmt: skip
    assert registers.parse_search([("notation", ""), ("quarter", "")]) == Search()


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("number", "12a")], "number"),
        ([("number", "0")], "number"),
        ([("number", "1" * 10)], "number"),
        ([("year", "1999")], "year"),
        ([("year", "२०२६")], "year"),  # Devanagari digits: int() takes them, we do not
        ([("year", "2026"), ("quarter", "5")], "quarter"),
        ([("quarter", "2")], "quarter"),
        ([("from", "2026-02-30")], "from"),
        ([("from", "20260101")], "from"),
        ([("to", "0001-01-01")], "to"),
        ([("from", "2026-03-01"), ("to", "2026-02-01")], "from"),
        ([("notation", "x" * 201)], "notation"),
        ([("subject", "a\x00b")], "subject"),
        ([("party", "a\nb")], "party"),
        ([("page", "0")], "page"),
        ([("page", "10001")], "page"),
        ([("number", "1"), ("number", "2")], "number"),
        ([("sort", "number; DROP TABLE units")], "sort"),
    ],
)
def test_a_bad_search_field_is_refused_naming_it(items: list[tuple[str, str]], field: str) -> None:
    assert repr(field) in str(_refused(items))


def test_an_export_names_a_year_and_a_quarter() -> None:
    assert registers.parse_period([("year", "2026"), ("quarter", "4")]) == (2026, 4)
    for items in ([("year", "2026")], [("quarter", "1")], [("year", "2026"), ("quarter", "0")],
                  [("year", "2026"), ("quarter", "1"), ("page", "2")]):  # fmt: skip
        with pytest.raises(Rejected) as refused:
            registers.parse_period(items)
        assert refused.value.reason == ReasonCode.REQUEST_MALFORMED


@pytest.mark.parametrize(
    ("quarter", "first", "after"),
    [
        (1, datetime.date(2026, 1, 1), datetime.date(2026, 4, 1)),
        (2, datetime.date(2026, 4, 1), datetime.date(2026, 7, 1)),
        (3, datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)),
        (4, datetime.date(2026, 10, 1), datetime.date(2027, 1, 1)),
    ],
)
def test_quarter_bounds(quarter: int, first: datetime.date, after: datetime.date) -> None:
    assert registers.quarter_bounds(2026, quarter) == (first, after)


def test_no_quarter_outside_one_to_four() -> None:
    for year, quarter in ((2026, 0), (2026, 5), (1999, 1)):
        with pytest.raises(Rejected):
            registers.quarter_bounds(year, quarter)


def test_quarters_and_windows_are_vietnams_days() -> None:
    # 17:30 UTC on 31 March is 00:30 on 1 April in Vietnam: the second quarter.
    assert registers.quarter_of(RECEIVED) == (2026, 2)
    start, end = Search(year=2026, quarter=2).window()
    assert start == datetime.datetime(2026, 4, 1, tzinfo=VIETNAM)
    assert end == datetime.datetime(2026, 7, 1, tzinfo=VIETNAM)
    assert start is not None
    assert start <= RECEIVED < end
    # A date range within a year: the intersection; `to` takes its whole day.
    search = Search(since=datetime.date(2025, 12, 1), until=datetime.date(2026, 1, 10), year=2026)
    assert search.window() == (
        datetime.datetime(2026, 1, 1, tzinfo=VIETNAM),
        datetime.datetime(2026, 1, 11, tzinfo=VIETNAM),
    )
    assert Search().window() == (None, None)


def test_a_search_goes_back_into_links_without_its_defaults() -> None:
    search = Search(number=1, notation="UBND & VP", year=2026, quarter=1, page=2)
    assert search.query() == "number=1&notation=UBND+%26+VP&year=2026&quarter=1&page=2"
    assert search.query(page=1) == "number=1&notation=UBND+%26+VP&year=2026&quarter=1"
    assert registers.parse_search(parse_qsl(search.query())) == search


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("5f0c6c1e-8f0e-4b6a-9c39-6d1f3c1f7a10", True),
        ("5F0C6C1E-8F0E-4B6A-9C39-6D1F3C1F7A10", False),
        ("{5f0c6c1e-8f0e-4b6a-9c39-6d1f3c1f7a10}", False),
        ("5f0c6c1e8f0e4b6a9c396d1f3c1f7a10", False),
        ("../../etc/passwd", False),
        ("", False),
    ],
)
def test_a_document_is_named_by_its_canonical_uuid(value: str, ok: bool) -> None:
    if ok:
        assert registers.message_id(value) == value
    else:
        with pytest.raises(Rejected) as refused:
            registers.message_id(value)
        assert refused.value.reason == ReasonCode.MESSAGE_ID_INVALID


def test_an_unknown_register_is_not_found() -> None:
    assert registers.direction("outgoing") is Direction.OUTGOING
    with pytest.raises(Rejected) as refused:
        registers.direction("secret")
    assert refused.value.reason == ReasonCode.NOT_FOUND


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("125/UBND-VP", "125/UBND-VP"),
        ("V/v = không phải công thức", "V/v = không phải công thức"),
        ("", ""),
    ],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(cell: str, written: str) -> None:
    assert registers.neutralised(cell) == written


def test_the_notation_comes_from_the_code_or_else_the_document_id() -> None:
    assert registers.notation_of("125", "UBND-VP", None) == "125/UBND-VP"
    assert registers.notation_of(None, "TB-UBND", "x") == "TB-UBND"
    assert registers.notation_of(None, None, "000.00.00.H62,2026/11/20,125/UBND-VP") == (
        "125/UBND-VP"
    )
    assert registers.notation_of(None, None, None) == ""


def test_the_incoming_form_row_fills_the_decrees_columns() -> None:
    row = _incoming(redirected_from="000.00.31.H07", paper_copy_required=True).form_row()
    assert dict(zip(registers.INCOMING_COLUMNS, row, strict=True)) == {
        "Ngày đến": "01/04/2026",
        "Số đến": "7",
        "Tác giả": "UBND tỉnh Vĩnh Long",
        "Số, ký hiệu": "125/UBND-VP",
        "Ngày tháng": "30/03/2026",
        "Tên loại và trích yếu nội dung": "Công văn V/v triển khai liên thông văn bản",
        "Đơn vị hoặc người nhận": "",
        "Ký nhận": "",
        "Ghi chú": "Gửi 000.00.31.H07, chuyển đơn vị kế thừa; Kèm bản giấy",
    }


def test_the_outgoing_form_row_fills_the_decrees_columns() -> None:
    row = _outgoing().form_row()
    assert dict(zip(registers.OUTGOING_COLUMNS, row, strict=True)) == {
        "Số, ký hiệu văn bản": "12",
        "Ngày tháng văn bản": "01/04/2026",
        "Tên loại và trích yếu nội dung văn bản": "Quyết định về việc giao chỉ tiêu",
        "Người ký": "Trần Thị B",
        "Nơi nhận văn bản": "UBND xã Châu Thành; UBND xã Mỏ Cày",
        "Đơn vị, người nhận bản lưu": "",
        "Số lượng bản": "2",
        "Ngày chuyển": "01/04/2026",
        "Ký nhận": "",
        "Ghi chú": "Bị từ chối: UBND xã Mỏ Cày",
    }


def test_the_csv_opens_in_excel_with_its_vietnamese_and_no_formula() -> None:
    entries: list[registers.Entry] = [
        _incoming(),
        _incoming(number=8, subject="=cmd|' /C calc'!A0", document_type=None, author="@evil"),
    ]
    data = registers.as_csv(Direction.INCOMING, entries)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(registers.INCOMING_COLUMNS)
    assert rows[1][3] == "125/UBND-VP"
    assert rows[2][2] == "'@evil"
    assert rows[2][5] == "'=cmd|' /C calc'!A0"
    assert b"\r\n" in data


def test_the_pdf_is_the_printed_register() -> None:
    entries: list[registers.Entry] = [_outgoing(), _outgoing(number=13, code_notation="QĐ-UBND")]
    data = registers.as_pdf(Direction.OUTGOING, "UBND xã Châu Thành", 2026, 2, entries)
    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    assert page.mediabox.width > page.mediabox.height  # landscape
    text = " ".join(p.extract_text() for p in reader.pages)
    for expected in ("SỔ ĐĂNG KÝ VĂN BẢN ĐI", "UBND XÃ CHÂU THÀNH", "Quý II năm 2026",
                     "Từ ngày 01/04/2026 đến ngày 30/06/2026", "Từ số 12 đến số 13",
                     "QĐ-UBND", "Người ký", "Trần Thị B"):  # fmt: skip
        assert expected in text, expected


def test_an_empty_quarter_still_prints_its_title_block() -> None:
    data = registers.as_pdf(Direction.INCOMING, "UBND tỉnh Vĩnh Long", 2026, 4, [])
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in text
    assert "Không có văn bản nào được đăng ký trong quý" in text
