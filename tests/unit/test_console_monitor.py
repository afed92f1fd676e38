"""The Department's rules on real dates: the working-day calendar of Vietnam (weekends, Tết,
30/4, a make-up Saturday), the 01 deadline of Decree 30's Article 21.2(c), the period a page
asks for, and the usage report as a PDF whose Vietnamese text reads back."""

from __future__ import annotations

import datetime
import io
from types import SimpleNamespace
from typing import Any

import pytest
from pypdf import PdfReader

from console import i18n, monitor
from console.accounts import Role
from console.monitor import LOCAL, Period, UnitUsage
from console.templating import ENVIRONMENT
from console.views import monitor as views
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

D = datetime.date


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=LOCAL)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 12, 2), True),  # a Wednesday
        (D(2026, 12, 5), False),  # Saturday
        (D(2026, 12, 6), False),  # Sunday
        (D(2025, 1, 1), False),  # Tết Dương lịch
        (D(2025, 1, 27), False),  # Tết Ất Tỵ
        (D(2025, 2, 3), True),  # back to work after Tết
        (D(2025, 4, 7), False),  # Giỗ Tổ Hùng Vương
        (D(2025, 5, 2), False),  # swapped...
        (D(2025, 5, 17), True),  # ...with this Saturday
        (D(2025, 9, 1), False),  # Quốc khánh
        (D(2026, 2, 16), False),  # Tết Bính Ngọ
        (D(2026, 2, 23), True),
        (D(2026, 4, 27), False),  # Giỗ Tổ fell on a Sunday
        (D(2026, 4, 30), False),
        (D(2026, 5, 1), False),
        (D(2026, 9, 2), False),
        (D(2027, 1, 1), False),
        (D(2027, 2, 8), False),  # Tết Đinh Mùi
        (D(2027, 5, 3), False),  # 1/5 on a Saturday
    ],
)
def test_working_days(day: datetime.date, working: bool) -> None:
    assert monitor.is_working_day(day) is working


def test_every_year_has_its_fixed_holidays() -> None:
    for year in (2025, 2026, 2027):
        for month, day in ((1, 1), (4, 30), (5, 1), (9, 2)):
            assert D(year, month, day) in monitor.HOLIDAYS


@pytest.mark.parametrize(
    ("arrived", "deadline"),
    [
        # Before 17:00 on a working day: that day.
        (local(2026, 12, 2, 9, 0), local(2026, 12, 2, 17, 0)),
        (local(2026, 12, 2, 16, 59), local(2026, 12, 2, 17, 0)),
        # At or after 17:00: the next working day.
        (local(2026, 12, 2, 17, 0), local(2026, 12, 3, 17, 0)),
        (local(2026, 12, 4, 18, 30), local(2026, 12, 7, 17, 0)),  # Friday evening
        (local(2026, 12, 5, 10, 0), local(2026, 12, 7, 17, 0)),  # Saturday
        # Tết Bính Ngọ: 14 - 22 February 2026.
        (local(2026, 2, 13, 16, 0), local(2026, 2, 13, 17, 0)),
        (local(2026, 2, 13, 17, 30), local(2026, 2, 23, 17, 0)),
        (local(2026, 2, 18, 8, 0), local(2026, 2, 23, 17, 0)),
        # 30/4 and 1/5 2026 fall on Thursday and Friday.
        (local(2026, 4, 29, 18, 0), local(2026, 5, 4, 17, 0)),
        # The make-up Saturday of 2025 is a working day.
        (local(2025, 5, 16, 17, 30), local(2025, 5, 17, 17, 0)),
        # In UTC: 09:59Z is 16:59 in Hà Nội, 10:00Z is 17:00.
        (
            datetime.datetime(2026, 12, 2, 9, 59, tzinfo=datetime.UTC),
            local(2026, 12, 2, 17, 0),
        ),
        (
            datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC),
            local(2026, 12, 3, 17, 0),
        ),
    ],
)
def test_the_receipt_deadline(arrived: datetime.datetime, deadline: datetime.datetime) -> None:
    assert monitor.receipt_deadline(arrived) == deadline


@pytest.mark.parametrize(
    ("now", "before"),
    [
        (local(2026, 12, 2, 17, 0, 1), local(2026, 12, 2, 17, 0)),
        (local(2026, 12, 2, 17, 0), local(2026, 12, 1, 17, 0)),
        (local(2026, 12, 2, 8, 0), local(2026, 12, 1, 17, 0)),
        (local(2026, 12, 7, 9, 0), local(2026, 12, 4, 17, 0)),  # Monday morning
        (local(2026, 2, 23, 10, 0), local(2026, 2, 13, 17, 0)),  # after Tết
    ],
)
def test_overdue_before(now: datetime.datetime, before: datetime.datetime) -> None:
    assert monitor.overdue_before(now) == before


def test_the_query_cutoff_agrees_with_the_deadline_of_every_arrival() -> None:
    """The SQL lists arrivals before `overdue_before(now)`; that must be exactly the ones
    whose own deadline has passed, hour by hour through December and Tết."""
    starts = [local(2026, 11, 28), local(2026, 2, 10), local(2025, 5, 14)]
    for start in starts:
        hours = [start + datetime.timedelta(minutes=30 * n) for n in range(24 * 2 * 16)]
        for now in hours[::7]:
            cutoff = monitor.overdue_before(now)
            for arrived in hours:
                if arrived <= now:
                    assert monitor.is_receipt_overdue(arrived, now) is (arrived < cutoff)


def test_the_period_defaults_to_the_last_30_days() -> None:
    period = monitor.period_of({}, D(2026, 12, 2))
    assert period == Period(D(2026, 11, 3), D(2026, 12, 2))
    assert len(period.days()) == 30
    assert period.start == local(2026, 11, 3)
    assert period.end == local(2026, 12, 3)
    assert period.query() == "from=2026-11-03&to=2026-12-02"


def test_a_period_asked_for() -> None:
    asked = {"from": " 2026-01-01 ", "to": "2026-03-31"}
    assert monitor.period_of(asked, D(2026, 12, 2)) == Period(D(2026, 1, 1), D(2026, 3, 31))
    assert monitor.period_of({"to": "2026-06-30"}, D(2026, 12, 2)).first == D(2026, 6, 1)


@pytest.mark.parametrize(
    "asked",
    [
        {"from": "2026-13-01"},
        {"from": "02/12/2026"},
        {"to": "20261202"},
        {"to": "2026-W01-1"},
        {"from": "2026-12-02'; DROP TABLE units; --"},
        {"from": "2026-12-02", "to": "2026-12-01"},
        {"from": "2020-01-01", "to": "2026-12-01"},
        {"from": "9999-99-99"},
    ],
)
def test_a_bad_period_is_refused_with_its_reason(asked: dict[str, str]) -> None:
    with pytest.raises(Rejected) as refused:
        monitor.period_of(asked, D(2026, 12, 2))
    assert refused.value.reason is ReasonCode.REQUEST_MALFORMED


@pytest.mark.parametrize(
    ("value", "largest", "css"),
    [
        (0, 10, "s0"),
        (10, 10, "s20"),
        (5, 10, "s10"),
        (1, 1000, "s1"),
        (3, 0, "s0"),
        (20, 10, "s20"),
    ],
)
def test_bars(value: int, largest: int, css: str) -> None:
    assert monitor.bar(value, largest) == css


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0:00:00.0"),
        (0.04, "0:00:00.0"),
        (0.46, "0:00:00.5"),
        (59.96, "0:01:00.0"),
        (3725.25, "1:02:05.2"),
        (90061, "25:01:01.0"),
        (-3, "0:00:00.0"),
    ],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert monitor.duration(seconds) == text


ROWS = [
    UnitUsage("000.00.00.H62", "UBND tỉnh Vĩnh Long", "province", 7, 2, 1, 2, 1, 4),
    UnitUsage("000.00.02.H62", "Sở Nội vụ tỉnh Vĩnh Long", "province", 3, 5, 0, 5, 2, 1),
    UnitUsage("000.02.00.H62", "UBND xã Châu Thành", "commune", 1, 6, 0, 6, 0, 2),
]


def test_levels_sum_their_units_and_list_all_four() -> None:
    by_level = {level: (count, total) for level, count, total in monitor.levels(ROWS)}
    assert list(by_level) == ["central", "province", "district", "commune"]
    count, province = by_level["province"]
    assert count == 2
    assert (province.sent, province.received, province.refused, province.logins) == (10, 7, 1, 5)
    assert by_level["commune"][1].received == 6
    assert by_level["district"] == (0, UnitUsage("", "district", "district"))


def test_a_refusal_names_its_reason_when_the_exchange_knows_it() -> None:
    assert monitor.Refusal("signature_invalid", False, 2).known is ReasonCode.SIGNATURE_INVALID
    assert monitor.Refusal("anything a recipient wrote", True, 1).known is None


def test_the_usage_report_pdf_reads_back_in_vietnamese() -> None:
    made = monitor.report_pdf(
        ROWS,
        Period(D(2026, 11, 1), D(2026, 11, 30)),
        made_at=local(2026, 12, 2, 9, 30),
        made_by="dttha.skhcn",
        translate=i18n.translator("vi"),
    )
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(made)).pages)
    text = " ".join(text.split())
    assert "BÁO CÁO TÌNH HÌNH SỬ DỤNG HỆ THỐNG LIÊN THÔNG VĂN BẢN" in text
    assert "Từ ngày 01/11/2026 đến ngày 30/11/2026" in text
    assert "Điều 12 Quyết định số 37/2018/QĐ-UBND" in text
    assert "Lập lúc 02/12/2026 09:30 · dttha.skhcn" in text
    for name in ("UBND xã Châu Thành", "Sở Nội vụ tỉnh Vĩnh Long", "Trung ương", "Xã"):
        assert name in text


def test_only_the_department_and_the_provincial_admin_see_the_menu() -> None:
    for item in views.menu:
        assert set(item.roles) == {Role.PROVINCIAL_ADMIN, Role.DEPARTMENT_MONITOR}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_pages_render_what_the_queries_return(lang: str) -> None:
    """Every branch of the three templates, with rows, in both languages (StrictUndefined
    fails on a name a template uses and the view does not give)."""
    period = Period(D(2026, 11, 1), D(2026, 11, 30))
    request = SimpleNamespace(url=SimpleNamespace(path="/monitor/dashboard"))
    common: dict[str, Any] = {
        "request": request, "viewer": None, "lang": lang, "_": i18n.translator(lang),
        "menu": [], "csrf": "", "period": period, "local_time": monitor.local_time,
        "local_date": monitor.local_date, "duration": monitor.duration, "bar": monitor.bar,
    }  # fmt: skip
    arrived = local(2026, 11, 30, 18)
    pages = {
        "monitor/dashboard.html": {
            "days": [monitor.Day(D(2026, 11, 30), 3, 4)], "day_scale": 4, "units": ROWS,
            "unit_count": 3, "levels": monitor.levels(ROWS),
            "latencies": [
                monitor.Latency("delivered", 2, 0.2, 0.3, 0.4),
                monitor.Latency("acknowledged", 0, None, None, None),
            ],
            "refusals": [
                monitor.Refusal("signature_invalid", False, 2),
                monitor.Refusal("", True, 1),
            ],
            "refusal_scale": 2, "backlog": monitor.Backlog(1, 2, 1, 0, 3, 1), "overdue": 1,
            "sent": 3, "received": 4,
        },
        "monitor/overdue.html": {
            "now": local(2026, 12, 2, 9), "cutoff": local(2026, 12, 1, 17),
            "receipts": [
                monitor.OverdueReceipt(
                    "m1", "000.02.00.H62", "UBND xã Châu Thành", "000.00.00.H62",
                    "UBND tỉnh Vĩnh Long", None, "<b>Trích yếu</b>", arrived,
                    monitor.receipt_deadline(arrived),
                )
            ],
            "receipts_total": 2,
            "due": [
                monitor.PastDue(
                    "000.02.00.H62", "UBND xã Châu Thành", 2026, 7, "m2", "000.00.00.H62",
                    "UBND tỉnh Vĩnh Long", "x", None, arrived, "01", D(2026, 11, 5),
                )
            ],
            "due_total": 1,
        },
        "monitor/report.html": {"units": ROWS, "levels": monitor.levels(ROWS)},
    }  # fmt: skip
    html = {
        template: ENVIRONMENT.get_template(template).render(**common, **context)
        for template, context in pages.items()
    }
    assert all("<b>" not in page for page in html.values())
    reason = ReasonCode.SIGNATURE_INVALID
    assert (reason.sentence_vi if lang == "vi" else reason.sentence_en) in html[
        "monitor/dashboard.html"
    ]
    assert 'class="bar s20"' in html["monitor/dashboard.html"]
    listed = "Chỉ liệt kê các văn bản chờ lâu nhất." if lang == "vi" else "Only the longest"
    assert listed in html["monitor/overdue.html"]
