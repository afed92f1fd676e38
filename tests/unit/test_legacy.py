"""Article 3.2: TCVN3 and VNI text is found and converted; Unicode and foreign words are not."""

from __future__ import annotations

import pytest

from broker.policy import legacy, rules

CASES = [
    ("tcvn3", "Céng hoµ x· héi chñ nghÜa ViÖt Nam", "Cộng hoà xã hội chủ nghĩa Việt Nam"),
    ("tcvn3", "§éc lËp - Tù do - H¹nh phóc", "Độc lập - Tự do - Hạnh phúc"),
    ("tcvn3", "Tr\u00adêng häc ph\u00ad¬ng ¸n", "Trường học phương án"),
    ("vni", "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam", "Cộng hòa xã hội chủ nghĩa Việt Nam"),
    ("vni", "Ñoäc laäp - Töï do - Haïnh phuùc", "Độc lập - Tự do - Hạnh phúc"),
    (
        "vni",
        "UÛY BAN NHAÂN DAÂN TÆNH BEÁN TRE - SÔÛ NOÄI VUÏ",
        "ỦY BAN NHÂN DÂN TỈNH BẾN TRE - SỞ NỘI VỤ",
    ),
    ("tcvn3", "C«ng v¨n vÒ viÖc triÓn khai", "Công văn về việc triển khai"),
]


@pytest.mark.parametrize(("encoding", "typed", "meant"), CASES)
def test_legacy_text_is_found_and_converted(encoding: str, typed: str, meant: str) -> None:
    finding = legacy.detect(typed)
    assert finding is not None
    assert (finding.encoding, finding.converted) == (encoding, meant)


@pytest.mark.parametrize(
    "text",
    [
        "Cộng hòa xã hội chủ nghĩa Việt Nam - Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN TỈNH VĨNH LONG",
        "Müller Straße café",
        "Báo cáo số 12/BC-UBND ngày 20/11/2026",
        "",
    ],
)
def test_unicode_and_near_misses_are_not_legacy(text: str) -> None:
    assert legacy.detect(text) is None


def test_the_policy_refuses_legacy_text_and_shows_it_converted() -> None:
    decision = rules.load().evaluate({"subject": ["C«ng v¨n vÒ viÖc triÓn khai"]})
    assert decision.action == "reject"
    [hit] = decision.hits
    assert (hit.rule, hit.article, hit.reason_code) == ("A3.2-unicode", "Đ3.2", "text_not_unicode")
    assert hit.matched == "tcvn3: Công văn về việc triển khai"
    assert decision.as_json()["legacy_encoding"] == [
        {"field": "subject", "finding": "tcvn3: Công văn về việc triển khai"}
    ]
