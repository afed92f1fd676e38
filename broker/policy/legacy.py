"""Article 3.2: text must be Unicode (TCVN 6909:2001). Text typed in the legacy TCVN3 (ABC)
or VNI fonts survives as Latin-1 look-alikes (`Céng hßa`, `Coäng hoøa`); this finds it and,
converted, shows what it says.

TCVN3 puts each accented vowel in one code point of its own; VNI writes the vowel and then
its marks as separate characters. Detection counts the shapes only each one makes: a
TCVN3 character standing for the vowel, or a vowel followed by a VNI mark that no Unicode
Vietnamese word contains; the larger count, from three up, names the encoding.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Literal

Encoding = Literal["tcvn3", "vni"]
MIN_EVIDENCE = 3

_TCVN3 = {
    "µ": "à", "¸": "á", "¶": "ả", "·": "ã", "¹": "ạ",
    "¨": "ă", "»": "ằ", "¾": "ắ", "¼": "ẳ", "½": "ẵ", "Æ": "ặ",
    "©": "â", "Ç": "ầ", "Ê": "ấ", "È": "ẩ", "É": "ẫ", "Ë": "ậ",
    "®": "đ",
    "Ì": "è", "Ð": "é", "Î": "ẻ", "Ï": "ẽ", "Ñ": "ẹ",
    "ª": "ê", "Ò": "ề", "Õ": "ế", "Ó": "ể", "Ô": "ễ", "Ö": "ệ",
    "×": "ì", "Ý": "í", "Ø": "ỉ", "Ü": "ĩ", "Þ": "ị",
    "ß": "ò", "ã": "ó", "á": "ỏ", "â": "õ", "ä": "ọ",
    "«": "ô", "å": "ồ", "è": "ố", "æ": "ổ", "ç": "ỗ", "é": "ộ",
    "¬": "ơ", "ê": "ờ", "í": "ớ", "ë": "ở", "ì": "ỡ", "î": "ợ",
    "ï": "ù", "ó": "ú", "ñ": "ủ", "ò": "ũ", "ô": "ụ",
    "\u00ad": "ư", "õ": "ừ", "ø": "ứ", "ö": "ử", "÷": "ữ", "ù": "ự",
    "ú": "ỳ", "ý": "ý", "û": "ỷ", "ü": "ỹ", "þ": "ỵ",
    "¡": "Ă", "¢": "Â", "£": "Ê", "¤": "Ô", "¥": "Ơ", "¦": "Ư", "§": "Đ",
}  # fmt: skip
# Characters no Unicode Vietnamese text uses: seeing one is seeing TCVN3 (or VNI).
_TCVN3_ONLY = frozenset("µ¸¶·¹¨»¾¼½Æ©ÇËÐÎÏÑª×ØÜÞß«åæçë¬îïñ\u00adö÷ûüþ¡¢£¤¥¦§®")

_TONES = {"ù": "\u0301", "ø": "\u0300", "û": "\u0309", "õ": "\u0303", "ï": "\u0323"}
_VNI_MARKS = {
    **_TONES,
    "â": "\u0302", "á": "\u0302\u0301", "à": "\u0302\u0300", "å": "\u0302\u0309",
    "ã": "\u0302\u0303", "ä": "\u0302\u0323",
    "ê": "\u0306", "é": "\u0306\u0301", "è": "\u0306\u0300", "ú": "\u0306\u0309",
    "ü": "\u0306\u0303", "ë": "\u0306\u0323",
}  # fmt: skip
_VNI_MARKS.update({k.upper(): v for k, v in list(_VNI_MARKS.items())})
_VNI_LETTERS = {"ô": "ơ", "ö": "ư", "ñ": "đ", "ó": "ĩ", "ò": "ị", "æ": "ỉ"}
_VNI_LETTERS.update({k.upper(): v.upper() for k, v in list(_VNI_LETTERS.items())})
_VOWELS = frozenset("aeiouyAEIOUY")
# A vowel followed by a mark that Unicode Vietnamese never puts after a vowel.
_VNI_EVIDENCE = re.compile("[aeiouyAEIOUYôöÔÖ][øûïäåëüØÛÏÄÅËÜ]")


_TCVN3_CANDIDATES = re.compile("[" + "".join(re.escape(c) for c in {*_TCVN3, *_TCVN3_ONLY}) + "]")


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    encoding: Encoding
    evidence: int
    converted: str


def detect(text: str) -> Finding | None:
    """The legacy encoding `text` was typed in, with the text converted; None for Unicode."""
    vni = len(_VNI_EVIDENCE.findall(text))
    tcvn3 = sum(1 for m in _TCVN3_CANDIDATES.finditer(text) if _tcvn3_vowel(text, m.start(), m[0]))
    if max(vni, tcvn3) < MIN_EVIDENCE:
        return None
    if vni >= tcvn3:
        return Finding("vni", vni, from_vni(text))
    return Finding("tcvn3", tcvn3, from_tcvn3(text))


def _tcvn3_vowel(text: str, index: int, char: str) -> bool:
    """A TCVN3 code point standing where the vowel belongs: a character Unicode Vietnamese
    never uses, not after a vowel (`héi`); or a capital-looking one inside a lowercase word
    (`vÒ`, `ViÖt`), which is how TCVN3's lowercase vowels show in Unicode."""
    previous = text[index - 1] if index else ""
    if char in _TCVN3_ONLY:
        return previous not in _VOWELS
    return char in _TCVN3 and char.isupper() and previous.isalpha() and previous.islower()


def from_tcvn3(text: str) -> str:
    return "".join(_TCVN3.get(char, char) for char in text)


def from_vni(text: str) -> str:
    out: list[str] = []
    for char in text:
        if char in _VNI_LETTERS:
            out.append(_VNI_LETTERS[char])
        elif char in _VNI_MARKS and out and out[-1].isalpha():
            out.append(_VNI_MARKS[char])
        else:
            out.append(char)
    return unicodedata.normalize("NFC", "".join(out))
