"""The content policy: term matching and legacy-font detection on any text a sender writes."""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from broker.policy import legacy, rules, text
from tests.fuzz.contract import examples, holds

# Vietnamese, the Latin-1 look-alikes TCVN3 and VNI leave, marks, spaces and the format
# characters a sender could hide a term behind.
_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯMẬTKHẨNàáảãạệộữỵ"
_LEGACY = bytes(range(0xA1, 0x100)).decode("latin-1")  # the look-alikes of both fonts
_MARKS = "\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b\u200b\u200d\u2060\ufeff\u00a0"
TEXTS = st.text(
    alphabet=st.sampled_from(_LETTERS + _LEGACY + _MARKS + " \n\t.,;-/")
    | st.characters(exclude_categories=["Cs"]),
    max_size=300,
)


@functools.cache
def policy() -> rules.Policy:
    return rules.load()


@examples(ci=300, fuzz=30_000)
@given(TEXTS)
def test_legacy_detection(sample: str) -> None:
    finding = holds(lambda: legacy.detect(sample))
    assert finding is None or isinstance(finding, legacy.Finding)
    holds(lambda: (legacy.from_tcvn3(sample), legacy.from_vni(sample)), new_input=False)


@examples(ci=200, fuzz=20_000)
@given(st.dictionaries(st.sampled_from(["subject", "content", "type_name", "attachment_text"]),
                       st.lists(TEXTS, max_size=3), max_size=4))  # fmt: skip
def test_the_default_policy_on_any_fields(fields: dict[str, list[str]]) -> None:
    decision = holds(lambda: policy().evaluate(fields))
    assert isinstance(decision, rules.Decision)


@examples(ci=300, fuzz=30_000)
@given(TEXTS, TEXTS, st.booleans(), st.booleans(), st.lists(TEXTS, max_size=2))
def test_term_matching(sample: str, term: str, loose: bool, stamped: bool, near: list[str]) -> None:
    around = frozenset(w for n in near for w in text.phrase(n))
    hits = holds(
        lambda: text.find(
            text.words(sample), text.phrase(term), loose=loose, stamped=stamped,
            not_before=around, not_after=around,
        )
    )  # fmt: skip
    assert isinstance(hits, list)
