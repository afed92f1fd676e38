"""The console speaks Vietnamese first and English on request.

Texts are written in English in the templates and views, passed through `_`, and translated
by the gettext catalogues of console/locale/vi/LC_MESSAGES (one per part of the console,
merged), read with Babel when the console starts. A test extracts every `_()` text and fails
on one the catalogues lack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "lienthong_lang"
CATALOGUES = Path(__file__).parent / "locale" / "vi" / "LC_MESSAGES"

Translate = Callable[[str], str]


@functools.cache
def vietnamese() -> dict[str, str]:
    table: dict[str, str] = {}
    for path in sorted(CATALOGUES.glob("*.po")):
        with path.open("rb") as po:
            catalogue = read_po(po, locale="vi")
        table.update(
            (message.id, str(message.string))
            for message in catalogue
            if isinstance(message.id, str) and message.id and message.string and not message.fuzzy
        )
    return table


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT


def translator(lang: str) -> Translate:
    if lang == "en":
        return _same
    table = vietnamese()
    return lambda text: table.get(text, text)


def _same(text: str) -> str:
    return text
