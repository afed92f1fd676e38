"""Articles 4.3 and 5.3a in the default policy: a sensitive foreign-affairs matter waits for
review unless the document cites a competent authority's conclusion, and a legal normative
document is known by what its text says it is, whatever its DocumentType."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from broker.policy import legacy, rules
from kernel.errors import PolicyError
from kernel.reasons import ReasonCode

POLICY = rules.load()
FOREIGN = "A4.3-foreign-affairs"


def decide(**fields: str) -> rules.Decision:
    return POLICY.evaluate({name: [value] for name, value in fields.items()})


def rule_ids(decision: rules.Decision) -> set[str]:
    return {h.rule for h in decision.hits}


# A sensitive matter, and no conclusion cited: held under Article 4.3.
UNCONCLUDED = [
    {"subject": "V/v xử lý vụ việc tàu cá của ngư dân bị nước ngoài bắt giữ"},
    {"subject": "Báo cáo tình hình phân giới cắm mốc trên tuyến biên giới Việt Nam - Campuchia"},
    {
        "subject": "V/v ký kết thỏa thuận quốc tế với tỉnh Champasak (Lào)",
        "content": "Đề nghị Bộ Ngoại giao cho ý kiến về dự thảo thỏa thuận trước ngày 15/4/2026.",
    },
    {
        "subject": "Về tranh chấp biên giới tại xã Mỹ Quý Tây",
        "content": "Vụ việc chưa có kết luận của Ban Thường vụ Tỉnh ủy.",
    },
    {
        "subject": "Xin ý kiến về việc tiếp phóng viên nước ngoài",
        "content": "Sở Văn hóa xin ý kiến của Bộ Ngoại giao về hoạt động của phóng viên nước "
        "ngoài tại tỉnh.",
    },
    {
        "subject": "Về việc bảo hộ công dân",
        "content": "Việc đưa công dân về nước chưa được Bộ Ngoại giao chấp thuận.",
    },
    # The authority too far from the word that would cite it: not a citation.
    {
        "subject": "Vụ việc có yếu tố nước ngoài tại khu công nghiệp Giao Long",
        "content": "Về ý kiến của các hộ dân xung quanh khu công nghiệp về tiếng ồn và mùi, "
        "đề nghị Công ty phối hợp với Sở Ngoại vụ.",
    },
    # Typed without diacritics, in the old tone placement, decomposed, in an attachment.
    {"subject": "Bao cao vu viec tau ca bi nuoc ngoai bat giu"},
    {"subject": "V/v đàm phán thoả thuận quốc tế về hợp tác biên giới"},
    {"subject": unicodedata.normalize("NFD", "Về tranh chấp lãnh thổ")},
    {"subject": "Công văn", "attachment_text": "Nội dung đối thoại nhân quyền với phái đoàn EU"},
]

# The same matters with the competent authority's conclusion cited: nothing to hold.
CONCLUDED = [
    {
        "subject": "V/v xử lý vụ việc tàu cá của ngư dân bị nước ngoài bắt giữ",
        "content": "Căn cứ ý kiến của Bộ Ngoại giao tại Công văn số 1234/BNG-LS ngày "
        "02/3/2026, UBND tỉnh giao Sở Nông nghiệp và Môi trường phối hợp bảo hộ ngư dân.",
    },
    {
        "subject": "V/v ký kết thỏa thuận quốc tế với tỉnh Champasak (Lào)",
        "content": "Thực hiện Thông báo kết luận số 45-TB/TU ngày 10/3/2026 của Ban Thường vụ "
        "Tỉnh ủy, UBND tỉnh ký kết thỏa thuận hợp tác.",
    },
    {
        "subject": "Về việc phân giới cắm mốc",
        "content": "Theo ý kiến chỉ đạo của đồng chí Chủ tịch UBND tỉnh tại cuộc họp ngày 5/3.",
    },
    {
        "subject": "Về hoạt động của phóng viên nước ngoài tại tỉnh",
        "content": "Được sự đồng ý của Bộ Ngoại giao tại Công văn số 567/BNG-TTBC, Sở Văn hóa "
        "bố trí đón đoàn phóng viên.",
    },
    # The conclusion in the attached PDF's text while the matter is in the subject.
    {
        "subject": "Bao cao ve tranh chap bien gioi",
        "attachment_text": "Thuc hien chi dao cua Thu tuong Chinh phu tai Van ban so 88/TTg-QHQT",
    },
    {
        "subject": "V/v bảo hộ công dân",
        "content": "Căn cứ văn bản chấp thuận của Uỷ ban nhân dân tỉnh; Thực hiện kết luận của "
        "Thường trực Tỉnh uỷ tại Thông báo số 12-TB/TU.",
    },
]

# Foreign affairs that are routine, or words that only look like a sensitive matter.
ROUTINE = [
    "Kế hoạch đón đoàn khách tỉnh Kampong Cham (Campuchia) sang thăm và làm việc",
    "Báo cáo kết quả thực hiện Luật Thỏa thuận quốc tế năm 2025",
    "Công điện về việc chủ động ứng phó áp thấp nhiệt đới trên Biển Đông",
    "Tổng kết công tác đối ngoại năm 2026",
    "Giải quyết tranh chấp đất đai giữa các hộ dân ấp Phú Hòa",
]


@pytest.mark.parametrize("fields", UNCONCLUDED)
def test_a_foreign_affairs_matter_without_a_conclusion_is_held(fields: dict[str, str]) -> None:
    decision = decide(**fields)
    assert decision.action == "hold", decision.hits
    held = [h for h in decision.hits if h.rule == FOREIGN]
    assert held, decision.hits
    assert {(h.article, h.reason_code) for h in held} == {
        ("Đ4.3", ReasonCode.POLICY_FOREIGN_AFFAIRS.value)
    }


@pytest.mark.parametrize("fields", CONCLUDED)
def test_a_cited_conclusion_lets_it_through(fields: dict[str, str]) -> None:
    decision = decide(**fields)
    assert FOREIGN not in rule_ids(decision), decision.hits
    assert decision.action in ("pass", "paper")


@pytest.mark.parametrize("subject", ROUTINE)
def test_routine_foreign_relations_pass(subject: str) -> None:
    assert decide(subject=subject, content=subject).action == "pass"


def test_legacy_font_text_is_refused_and_its_unicode_is_held() -> None:
    """VNI text never reaches the term rules unread: Article 3.2 refuses it, and once the
    sender sends it in Unicode the foreign-affairs rule holds it."""
    typed = "Baùo caùo vuï vieäc taøu caù bò nöôùc ngoaøi baét giöõ"
    refused = decide(subject=typed)
    assert refused.action == "reject"
    assert rule_ids(refused) == {rules.LEGACY_RULE}
    finding = legacy.detect(typed)
    assert finding is not None
    assert FOREIGN in rule_ids(decide(subject=finding.converted))


DECISION_37 = """ỦY BAN NHÂN DÂN
TỈNH BẾN TRE
Số: 37/2018/QĐ-UBND
Bến Tre, ngày 04 tháng 9 năm 2018
QUYẾT ĐỊNH
Ban hành Quy chế quản lý, sử dụng phần mềm quản lý văn bản và điều hành
trên địa bàn tỉnh Bến Tre
ỦY BAN NHÂN DÂN TỈNH BẾN TRE
Căn cứ Luật tổ chức Chính quyền địa phương ngày 19 tháng 6 năm 2015;
Căn cứ Luật ban hành văn bản quy phạm pháp luật ngày 22 tháng 6 năm 2015;
Căn cứ Luật Giao dịch điện tử ngày 29 tháng 11 năm 2005;
Theo đề nghị của Giám đốc Sở Thông tin và Truyền thông tại Tờ trình số 1103/TTr-STTTT.
QUYẾT ĐỊNH:
Điều 1. Ban hành kèm theo Quyết định này Quy chế quản lý, sử dụng phần mềm."""

RESOLUTION = """HỘI ĐỒNG NHÂN DÂN
TỈNH VĨNH LONG
Số: 12/2026/NQ-HĐND
NGHỊ QUYẾT
Quy định mức chi hỗ trợ công tác phổ biến, giáo dục pháp luật
HỘI ĐỒNG NHÂN DÂN TỈNH VĨNH LONG
KHÓA X, KỲ HỌP THỨ 5
Căn cứ Luật Tổ chức chính quyền địa phương ngày 16 tháng 6 năm 2025;
Căn cứ Luật Ban hành văn bản quy phạm pháp luật ngày 19 tháng 02 năm 2025;
Xét Tờ trình số 45/TTr-UBND ngày 02 tháng 3 năm 2026 của Ủy ban nhân dân tỉnh về dự thảo
Nghị quyết; Báo cáo thẩm tra của Ban Pháp chế Hội đồng nhân dân tỉnh.
QUYẾT NGHỊ:
Điều 1. Phạm vi điều chỉnh và đối tượng áp dụng"""

CIRCULAR = """BỘ NỘI VỤ
Số: 01/2011/TT-BNV
THÔNG TƯ
Hướng dẫn thể thức và kỹ thuật trình bày văn bản hành chính
Căn cứ Luật Ban hành văn bản quy phạm pháp luật ngày 03 tháng 6 năm 2008;
Bộ Nội vụ hướng dẫn thể thức và kỹ thuật trình bày văn bản hành chính như sau:"""

LAW = """QUỐC HỘI
Luật số: 31/2024/QH15
LUẬT
ĐẤT ĐAI
Căn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;
Quốc hội ban hành Luật Đất đai."""

AMENDING = """UỶ BAN NHÂN DÂN TỈNH TRÀ VINH
QUYET DINH
Sua doi, bo sung mot so dieu cua Quy dinh ban hanh kem theo Quyet dinh so 12/2020/QD-UBND
Can cu Luat sua doi, bo sung mot so dieu cua Luat Ban hanh van ban quy pham phap luat
ngay 18 thang 6 nam 2020;"""

NORMATIVE = [
    # The document says what it is, whatever its DocumentType says.
    ("A5.3a-legal-normative-text", {"type_name": "Quyết định", "attachment_text": DECISION_37}),
    ("A5.3a-legal-normative-text", {"type_name": "Công văn", "attachment_text": DECISION_37}),
    ("A5.3a-legal-normative-text", {"type_name": "Văn bản", "content": RESOLUTION}),
    ("A5.3a-legal-normative-text", {"type_name": "Hướng dẫn", "attachment_text": CIRCULAR}),
    ("A5.3a-legal-normative-text", {"type_name": "QĐ", "content": AMENDING}),
    # A decision whose text lost its layout: the type name is the heading.
    (
        "A5.3a-legal-normative-text",
        {
            "type_name": "Quyết định",
            "content": "Căn cứ Luật Ban hành văn bản quy phạm pháp luật ngày 22/6/2015; "
            "Ban hành Bảng giá đất giai đoạn 2026-2030 trên địa bàn tỉnh",
        },
    ),
    ("A5.3a-law-text", {"type_name": "Văn bản", "attachment_text": LAW}),
]

NOT_NORMATIVE = [
    # A plan to carry out the law cites it, in capitals even: it is not itself normative.
    {
        "type_name": "Kế hoạch",
        "content": "KẾ HOẠCH\nTRIỂN KHAI THI HÀNH LUẬT BAN HÀNH VĂN BẢN QUY PHẠM PHÁP LUẬT NĂM "
        "2025\nCăn cứ Luật Ban hành văn bản quy phạm pháp luật năm 2025, UBND tỉnh ban hành "
        "Kế hoạch triển khai như sau:",
    },
    # An administrative decision: a normative heading, no normative legal basis.
    {
        "type_name": "Quyết định",
        "content": "QUYẾT ĐỊNH\nVề việc cử công chức đi công tác tại Thành phố Hồ Chí Minh\n"
        "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công "
        "tác văn thư;",
    },
    # The law named in a letter, not cited as the letter's basis.
    {
        "type_name": "Công văn",
        "subject": "V/v góp ý dự thảo Nghị quyết",
        "content": "Thực hiện Luật Ban hành văn bản quy phạm pháp luật, Sở Tư pháp đề nghị các "
        "sở góp ý dự thảo Nghị quyết trước ngày 20/3/2026.",
    },
    # A letter that reports a law being passed.
    {
        "type_name": "Công văn",
        "content": "Ngày 18/01/2024, Quốc hội ban hành Luật Đất đai; đề nghị các xã tuyên truyền.",
    },
]


@pytest.mark.parametrize(("rule_id", "fields"), NORMATIVE)
def test_a_normative_document_is_known_by_its_text(rule_id: str, fields: dict[str, str]) -> None:
    decision = decide(**fields)
    assert rule_id in rule_ids(decision), decision.hits
    assert decision.paper_copy_required
    assert decision.as_json()["action"] == "pass"
    hit = next(h for h in decision.hits if h.rule == rule_id)
    assert (hit.article, hit.reason_code) == ("Đ5.3a", ReasonCode.PAPER_COPY_REQUIRED.value)


@pytest.mark.parametrize("fields", NOT_NORMATIVE)
def test_citing_or_naming_the_law_is_not_being_normative(fields: dict[str, str]) -> None:
    decision = decide(**fields)
    assert not rule_ids(decision) & {"A5.3a-legal-normative-text", "A5.3a-law-text"}, decision
    assert not decision.paper_copy_required


CLAUSES = """version: 1
rules:
  - id: matter
    article: "Đ4.3"
    reason: policy_sensitive
    action: hold
    looks_at: [subject]
    terms: [biên giới]
    also:
      - {looks_at: [type_name], terms: [báo cáo]}
    unless:
      - {looks_at: [content], terms: [kết luận], followed_by: [tỉnh ủy], within: 2}
"""


@pytest.mark.parametrize(
    ("fields", "held"),
    [
        ({"subject": ["Biên giới"], "type_name": ["Báo cáo"]}, True),
        ({"subject": ["Biên giới"], "type_name": ["Công văn"]}, False),
        ({"subject": ["Biên giới"], "type_name": ["Báo cáo"], "content": ["kết luận tỉnh ủy"]},
         False),
        ({"subject": ["Biên giới"], "type_name": ["Báo cáo"],
          "content": ["kết luận số 12 của tỉnh ủy"]}, True),
        ({"subject": ["Kết luận tỉnh ủy"], "type_name": ["Báo cáo biên giới"]}, False),
    ],
)  # fmt: skip
def test_also_and_unless_clauses(tmp_path: Path, fields: dict[str, list[str]], held: bool) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(CLAUSES, encoding="utf-8")
    assert (rules.load(path).evaluate(fields).action == "hold") is held


RULE = "{id: x, article: a, reason: policy_harmful, action: hold, looks_at: [subject], terms: [a]"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", also: {terms: [b]}", "list of clauses"),
        (", unless: [{terms: []}]", "missing"),
        (", unless: [{terms: [b], colour: red}]", "unknown keys"),
        (", also: [{looks_at: [body], terms: [b]}]", "looks_at"),
        (", unless: [{terms: [b], followed_by: [c], within: 99}]", "within"),
        (", unless: [{terms: [b], followed_by: c}]", "followed_by"),
        (", also: [{terms: [b], diacritics: none}]", "diacritics"),
    ],
)
def test_bad_clauses_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nrules: [{RULE}{extra}}}]", encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as caught:
        rules.load(path)
    assert caught.value.reason == ReasonCode.POLICY_INVALID
