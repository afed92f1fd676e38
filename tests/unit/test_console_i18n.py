"""Every text the console shows has its Vietnamese translation: the console is Vietnamese
first, and a missing entry would show English to a clerk without anyone noticing."""

from __future__ import annotations

import re
from pathlib import Path

from console import i18n
from console.accounts import Role
from console.app import _views

CONSOLE = Path(i18n.__file__).parent
_TEXT = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")


def _texts() -> set[str]:
    found: set[str] = set()
    for path in [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]:
        found.update(_TEXT.findall(path.read_text(encoding="utf-8")))
    found.update(item.label for item in _views()[1])
    found.update(Role)
    return found


def test_the_extractor_finds_the_texts() -> None:
    texts = _texts()
    assert "Log in" in texts
    assert "clerk" in texts


def test_every_text_has_a_vietnamese_translation() -> None:
    missing = sorted(_texts() - set(i18n.vietnamese()))
    assert not missing, f"add these to a catalogue of {i18n.CATALOGUES}: {missing}"


def test_english_is_the_text_itself_and_vietnamese_the_default() -> None:
    assert i18n.translator("en")("Log in") == "Log in"
    assert i18n.language(None) == "vi"
    assert i18n.language("fr") == "vi"
    assert i18n.translator(i18n.language(None))("Log in") == "Đăng nhập"
