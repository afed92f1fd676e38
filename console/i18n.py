"""The console speaks Vietnamese first and English on request.

Texts are written in English in the templates and views, passed through `_`, and translated by the
gettext catalogue console/locale/vi/LC_MESSAGES/console.po, read with Babel when the
console starts. A test extracts every `_()` text and fails on one the catalogue lacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "lienthong_lang"
CATALOGUE = Path(__file__).parent / "locale" / "vi" / "LC_MESSAGES" / "console.po"

Translate = Callable[[str], str]


@functools.cache
def vietnamese() -> dict[str, str]:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="vi")
    return {
        str(message.id): str(message.string)
        for message in catalogue
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT


def translator(lang: str) -> Translate:
    if lang == "en":
        return _same
    table = vietnamese()
    return lambda text: table.get(text, text)


def _same(text: str) -> str:
    return text
