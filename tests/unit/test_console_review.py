"""What a reviewer sees of a held document: the words a rule matched found again in the text
as the policy read it (case, diacritics, zero-width characters and spaced letters alike),
marked in context, and everything another agency wrote shown as text, never as markup."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from broker.policy.check import File
from console import review
from console.templating import ENVIRONMENT
from console.views.deadletters import _REASON, _filter
from console.views.review import _disposition
from kernel.errors import Rejected
from kernel.settings import Settings
from lienthong.samples import minimal_pdf

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    ("text", "matched", "found"),
    [
        ("V/v hoạt động tôn giáo tại xã", "tôn giáo", ["tôn giáo"]),
        ("HOẠT ĐỘNG TÔN GIÁO", "tôn giáo", ["TÔN GIÁO"]),
        ("Don khieu nai cua ong A", "don khieu nai", ["Don khieu nai"]),  # as written
        ("tôn\ngiáo", "tôn giáo", ["tôn\ngiáo"]),
        ("Kế hoạch T Ố I  M Ậ T năm 2026", "tốimật", ["T Ố I  M Ậ T"]),
        ("tôn giáos và tôn giáo", "tôn giáo", ["tôn giáo"]),  # whole words only
        ("mặt trận", "mật", []),  # never a looser match than the policy's record
        ("", "tôn giáo", []),
    ],
)
def test_the_matched_words_are_found_where_the_policy_found_them(
    text: str, matched: str, found: list[str]
) -> None:
    read = review.as_read(text)
    assert [read[start:end] for start, end in review.spans(read, matched)] == found


def test_format_characters_are_gone_from_the_text_shown() -> None:
    read = review.as_read("tôn\u200b giá\u00ado")
    assert read == "tôn giáo"
    assert review.spans(read, "tôn giáo") == [(0, 8)]


def test_a_match_in_context_is_cut_either_side_with_an_ellipsis() -> None:
    text = "a" * 300 + " tôn giáo " + "b" * 300
    (passage,) = review.passages("subject", text, review.spans(text, "tôn giáo"), width=20)
    assert passage.matched == "tôn giáo"
    assert passage.before == "…" + "a" * 19 + " "
    assert passage.after == " " + "b" * 19 + "…"


def test_marks_never_overlap_and_the_text_is_cut_where_the_page_stops() -> None:
    text = "xin tôn giáo tôn giáo cuối"
    segments = review.marked(text, [(4, 12), (8, 21), (13, 21)], limit=10)
    assert segments == [review.Segment("xin ", False), review.Segment("tôn gi", True)]
    assert "".join(s.text for s in review.marked(text, [])) == text


def test_findings_and_texts_of_a_hostile_document() -> None:
    fields = [
        ("subject", "subject", f"{HOSTILE} tôn giáo"),
        ("attachment_text", "phu-luc.txt", "không có gì"),
        ("attachment_text", "<b>x</b>.txt", f"về tín ngưỡng {HOSTILE}"),
    ]
    decisions = [
        _decision("subject", "tôn giáo"),
        _decision("attachment_text", "tín ngưỡng"),
        _decision("attachment", "budget: took longer than 5 s"),
    ]
    findings, texts = review.judged(decisions, fields)
    assert [len(f.passages) for f in findings] == [1, 1, 0]
    assert findings[1].passages[0].source == "<b>x</b>.txt"
    assert [[s.text for s in t.segments if s.marked] for t in texts] == [
        ["tôn giáo"], [], ["tín ngưỡng"]
    ]  # fmt: skip


def _decision(field: str, matched: str) -> dict[str, Any]:
    return {"rule_id": "A4.3-religion", "article": "Đ4.3", "reason_code": "policy_sensitive",
            "action": "hold", "field": field, "matched": matched}  # fmt: skip


def test_the_document_page_escapes_everything_the_sender_wrote() -> None:
    fields = [("subject", "subject", f"{HOSTILE} tôn giáo"), ("content", "content", HOSTILE)]
    findings, texts = review.judged([_decision("subject", "tôn giáo")], fields)
    document = review.Document(
        held={"message_id": "3f0c1a52-8a4e-4b43-9d2e-5b4f1d0e7a11", "sender": "000.00.00.H62",
              "sender_name": HOSTILE, "held_at": datetime.datetime(2026, 1, 2, 3, 4, 5),
              "state": "rejected", "reviewed_by": "cvtrong.ubndt",
              "reviewed_at": datetime.datetime(2026, 1, 2, 4, 0), "why": HOSTILE},
        subject=f"{HOSTILE} tôn giáo", type_name=HOSTILE, notation=HOSTILE,
        recipients=("000.02.00.H62",), texts=tuple(texts), findings=tuple(findings),
        attachments=(review.Attached(0, HOSTILE, "text/html", 10, False, False, "read"),),
        problem=None,
    )  # fmt: skip
    outcome = {"verdict": "rejected", "reason_code": "policy_refused_on_review",
               "deliveries": []}  # fmt: skip
    html = ENVIRONMENT.get_template("review/document.html").render(
        request=SimpleNamespace(url=SimpleNamespace(path="/review/x")), viewer=None, lang="en",
        _=lambda text: text, menu=[], csrf="token", document=document, outcome=outcome,
        error=None,
    )  # fmt: skip
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<mark>tôn giáo</mark>" in html
    assert 'action="/review/' not in html  # decided: no more forms


def test_a_message_id_from_a_url_must_be_a_uuid() -> None:
    good = "3f0c1a52-8a4e-4b43-9d2e-5b4f1d0e7a11"
    assert review.message_id_of(good) == good
    for bad in ("x", "3F0C1A52-8A4E-4B43-9D2E-5B4F1D0E7A11", "../held", good + "\n"):
        with pytest.raises(Rejected) as refused:
            review.message_id_of(bad)
        assert refused.value.reason == "message_id_invalid"


def test_a_file_name_never_breaks_out_of_its_header() -> None:
    header = _disposition("attachment", 'báo cáo"\r\nSet-Cookie: a=b;.pdf')
    assert "\r" not in header
    assert "\n" not in header
    assert header.startswith('attachment; filename="b_o_c_o_Set-Cookie_a_b_.pdf"; ')
    assert header.endswith(
        "filename*=UTF-8''b%C3%A1o%20c%C3%A1o%22%0D%0ASet-Cookie%3A%20a%3Db%3B.pdf"
    )


def test_filters_and_dates_are_checked() -> None:
    assert review.moment("") is None
    assert review.moment("2026-03-01", end=True) == datetime.datetime(
        2026, 3, 1, 17, tzinfo=datetime.UTC
    )  # the end of 1 March in Vietnam
    with pytest.raises(Rejected):
        review.moment("2026-13-01")
    request: Any = SimpleNamespace(query_params={"reason": "unit_unknown'; DROP"})
    with pytest.raises(Rejected) as refused:
        _filter(request, "reason", _REASON)
    assert refused.value.reason == "request_malformed"


async def test_a_pdfs_text_is_read_in_a_worker_as_the_policy_reads_it() -> None:
    files: list[tuple[File, Any]] = [
        (File("phu-luc.pdf", "application/pdf", minimal_pdf("Bao cao ve ton giao")), None),
        (File("anh.png", "image/png", b"\x89PNG"), None),
        (File("ghi-chu.txt", "text/plain; charset=utf-8", "tín ngưỡng".encode()), None),
    ]
    described, texts = await review.attachment_texts(files, Settings())
    assert [d.read for d in described] == ["read", "not_read", "read"]
    assert [name for name, _ in texts] == ["phu-luc.pdf", "ghi-chu.txt"]
    assert "ton giao" in texts[0][1]
    assert [d.pdf for d in described] == [True, False, False]
