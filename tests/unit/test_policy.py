"""Article 4 rules, table by table: what must be caught, disguised or not, and the
near-misses that must pass."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from broker.directory.model import Level
from broker.policy import rules
from broker.policy.check import File, texts_of
from broker.policy.screening import files_of
from kernel.errors import PolicyError
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from schemas import edxml
from schemas.edxml import model as m

POLICY = rules.load()


def decide(subject: str = "", *, type_name: str = "", attachment: str = "") -> rules.Decision:
    return POLICY.evaluate(
        {
            "subject": [subject] if subject else [],
            "type_name": [type_name] if type_name else [],
            "attachment_text": [attachment] if attachment else [],
        }
    )


NFD = unicodedata.normalize("NFD", "Tài liệu TUYỆT MẬT")

CAUGHT = [
    # Article 4.1: secrecy marks, plain and disguised
    ("A4.1-secret-grade", "reject", {"subject": "Báo cáo tuyệt mật về quốc phòng"}),
    ("A4.1-secret-grade", "reject", {"subject": "Chỉ thị TỐI MẬT"}),
    ("A4.1-secret-grade", "reject", {"subject": "Tai lieu TUYET MAT"}),
    ("A4.1-secret-grade", "reject", {"subject": NFD}),
    ("A4.1-secret-grade", "reject", {"subject": "Tối\u200b mật"}),
    ("A4.1-secret-grade", "reject", {"subject": "T Ố I   M Ậ T"}),
    ("A4.1-secret-stamp", "reject", {"attachment": "ỦY BAN NHÂN DÂN\nMẬT\nSố: 12/QĐ-UBND"}),
    ("A4.1-secret-stamp", "reject", {"subject": "Độ mật: MẬT"}),
    ("A4.1-secret-stamp", "reject", {"subject": "M\u200bẬ\u00adT"}),
    ("A4.1-secret-stamp", "reject", {"attachment": "Văn bản\n   mật   \nhết"}),
    # Article 4.2: complaints and denunciations
    ("A4.2-complaint-type", "reject", {"type_name": "Đơn khiếu nại"}),
    ("A4.2-complaint-type", "reject", {"type_name": "DON TO CAO"}),
    ("A4.2-complaint-content", "hold", {"subject": "Chuyển đơn tố cáo của công dân Nguyễn Văn A"}),
    # Article 4.3 and 4.4: sensitive and harmful topics wait for a person
    ("A4.3-religion", "hold", {"subject": "V/v hoạt động tôn giáo tại xã"}),
    ("A4.3-foreign-affairs", "hold", {"subject": "Về tranh chấp biên giới với nước láng giềng"}),
    ("A4.4-harmful", "hold", {"attachment": "Tài liệu có nội dung phản động"}),
    ("A4.4-harmful", "hold", {"subject": "xuyen tac chu truong"}),
]

PASSES = [
    "Hướng dẫn đổi mật khẩu hệ thống quản lý văn bản",
    "Quy chế bảo vệ bí mật nhà nước năm 2026",
    "Kế hoạch phát triển nghề nuôi ong lấy mật",
    "V/v thống kê mật độ dân số",
    "Giải quyết khiếu nại, tố cáo theo Luật Khiếu nại",
    "Mật Sơn là tên một thôn",  # a capitalised name mid-sentence, not a stamp
    "Hội nghị tổng kết công tác năm",
    "Tài liệu mậtx không phải là từ",
]


@pytest.mark.parametrize(("rule_id", "action", "where"), CAUGHT)
def test_caught(rule_id: str, action: str, where: dict[str, str]) -> None:
    decision = decide(
        where.get("subject", ""),
        type_name=where.get("type_name", ""),
        attachment=where.get("attachment", ""),
    )
    assert rule_id in {h.rule for h in decision.hits}, decision
    assert rules.ACTIONS.index(decision.action) >= rules.ACTIONS.index(action)


@pytest.mark.parametrize("subject", PASSES)
def test_near_misses_pass(subject: str) -> None:
    decision = decide(subject, attachment=subject)
    assert decision.action == "pass", decision.hits


def test_the_strongest_action_wins_and_every_hit_is_listed() -> None:
    decision = decide("Đơn tố cáo về hoạt động tôn giáo", type_name="Đơn tố cáo")
    assert decision.action == "reject"
    assert {h.rule for h in decision.hits} == {
        "A4.2-complaint-type", "A4.2-complaint-content", "A4.3-religion",
    }  # fmt: skip
    assert decision.as_json()["articles"] == ["Đ4.2", "Đ4.3"]
    assert decision.as_json()["reason_codes"] == ["policy_complaint", "policy_sensitive"]


def test_texts_come_from_fields_and_text_attachments() -> None:
    packet = m.DocumentPacket(
        subject="Kế hoạch",
        document_type=m.DocumentType(type_name="Công văn"),
        attachments=(
            m.Attachment(
                attachment_name="a.txt", content_type="text/plain", content="MẬT".encode()
            ),
        ),
    )
    files = files_of(
        packet,
        [
            File("b.pdf", "application/pdf", b"%PDF"),
            File("c.pdf", "application/pdf", minimal_pdf("Ban TUYET MAT")),
            File("d.png", "image/png", b"\x89PNG"),
        ],
    )
    texts = texts_of(packet, files)
    assert texts.fields["attachment_text"] == ["MẬT", "Ban TUYET MAT"]
    assert texts.not_read == ["b.pdf", "d.png"]
    assert POLICY.evaluate(texts.fields).action == "reject"
    assert edxml.parse(edxml.write(packet)) == packet


RULE = "{id: x, article: a, reason: policy_harmful, action: hold, looks_at: [subject], terms: [a]"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: 2\nrules: []", "version"),
        ("rules: {}", "`rules`"),
        ("version: 1\nrules: [{id: x}]", "missing"),
        (f"version: 1\nrules: [{RULE.replace('policy_harmful', 'nope')}}}]", "reason code"),
        (f"version: 1\nrules: [{RULE.replace('hold', 'delete')}}}]", "action"),
        (f"version: 1\nrules: [{RULE.replace('[subject]', '[body]')}}}]", "looks_at"),
        (f"version: 1\nrules: [{RULE.replace('terms: [a]', 'terms: [...]')}}}]", "no words"),
        (f"version: 1\nrules: [{RULE}, colour: red}}]", "unknown keys"),
        (f"version: 1\nrules: [{RULE}}}, {RULE}}}]", "share an id"),
        (f"version: 1\nrules: [{RULE}, sender_levels: [ward]}}]", "sender_levels lists"),
        (f"version: 1\nrules: [{RULE}, recipient_levels: []}}]", "recipient_levels lists"),
        (f"version: 1\nrules: [{RULE}, recipient_levels: commune}}]", "recipient_levels lists"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(content)
    with pytest.raises(PolicyError, match=message) as caught:
        rules.load(path)
    assert caught.value.reason == ReasonCode.POLICY_INVALID


@pytest.mark.parametrize(
    ("type_name", "subject", "required"),
    [
        ("Thông tư", "Hướng dẫn quản lý văn bản điện tử", True),
        ("Nghị quyết", "Về phân bổ vốn đầu tư công", True),
        ("Tờ trình", "Đề nghị phê duyệt đề án", True),
        ("Công văn", "Tờ trình UBND tỉnh về chủ trương đầu tư", True),
        ("Quyết định", "Giao dự toán ngân sách nhà nước năm 2027", True),
        ("Công văn", "V/v sắp xếp tổ chức bộ máy và biên chế", True),
        ("Công văn", "Công bố thủ tục hành chính mới", True),
        ("Thong tu", "khong dau", True),
        ("Công văn", "V/v lịch họp giao ban tuần", False),
        ("Giấy mời", "Dự hội nghị tổng kết", False),
        ("Thông báo", "Kết luận của Chủ tịch UBND tỉnh", False),
    ],
)
def test_paper_copies_of_article_5_3(type_name: str, subject: str, required: bool) -> None:
    decision = decide(subject, type_name=type_name)
    assert decision.paper_copy_required is required, decision.hits
    assert decision.as_json()["action"] == "pass"


LEVELLED = """version: 1
rules:
  - {id: up-to-the-centre, article: "Đ5.3b", reason: paper_copy_required, action: paper,
     looks_at: [type_name], diacritics: loose, terms: [tờ trình], recipient_levels: [central]}
  - {id: from-communes, article: "Đ4.3", reason: policy_sensitive, action: hold,
     looks_at: [subject], terms: [đất đai], sender_levels: [commune]}
"""


@pytest.mark.parametrize(
    ("sender", "recipients", "expected"),
    [
        ("commune", {"central"}, {"up-to-the-centre", "from-communes"}),
        ("commune", {"province"}, {"from-communes"}),
        ("province", {"province", "central"}, {"up-to-the-centre"}),
        ("province", {"commune"}, set()),
        (None, set(), set()),
    ],
)
def test_rules_limited_to_sender_or_recipient_levels(
    tmp_path: Path, sender: Level | None, recipients: set[Level], expected: set[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(LEVELLED, encoding="utf-8")
    policy = rules.load(path)
    parties = None if sender is None else rules.Parties(sender, frozenset(recipients))
    fields = {"type_name": ["Tờ trình"], "subject": ["Tranh chấp đất đai ở xã"]}
    assert {h.rule for h in policy.evaluate(fields, parties).hits} == expected
    assert policy.limited_rules() == ["up-to-the-centre", "from-communes"]
