"""Vietnamese-aware matching: what a policy term must find, and what it must not be fooled by.

Text and terms go through the same folding: Unicode NFC (so NFD input matches), format
characters removed (zero-width spaces and joiners, soft hyphens, BOMs), case folded, and
split into words. Letters spaced or dotted apart (`M Ậ T`, `M.Ậ.T`) are joined back into
one word. A term matches whole words only, so `mật` is found in `MẬT` but not in `mật khẩu`
when the rule excludes that compound, and never inside `mậtx`. With `diacritics: loose` the
comparison also drops diacritics (`TUYET MAT` finds `tuyệt mật`), for text typed without them.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
import unicodedata
from collections import defaultdict

_WORD = re.compile(r"\w+", re.UNICODE)


@functools.cache
def _format_characters() -> re.Pattern[str]:
    """Every character of Unicode category Cf, once per process (a per-character check over
    each text cost more than the whole match)."""
    found = (chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    return re.compile("[" + "".join(re.escape(c) for c in found) + "]")


def _strip_format(text: str) -> str:
    return _format_characters().sub("", text)


@functools.lru_cache(maxsize=65536)
def plain(word: str) -> str:
    """A word without diacritics: NFD, combining marks dropped, đ as d."""
    decomposed = unicodedata.normalize("NFD", word)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D")


@dataclasses.dataclass(frozen=True, slots=True)
class Word:
    folded: str
    plain: str
    upper: bool
    """Written in capitals in the original (a stamped mark usually is)."""
    line_start: bool
    line_end: bool
    spaced: bool = False
    """Joined from letters written apart: it may stand for several words run together."""


@dataclasses.dataclass(frozen=True, slots=True)
class Words:
    """A text's words, indexed by folded and by plain form, so a term is looked for only
    where its first word stands (a 20 KiB text once took 170 ms against the policy)."""

    items: list[Word]
    folded: dict[str, list[int]]
    plain: dict[str, list[int]]
    spaced: list[int]


def words(text: str) -> Words:
    """The words of `text`, folded, with single letters spaced apart joined back up."""
    out: list[Word] = []
    for line in unicodedata.normalize("NFC", _strip_format(text)).splitlines():
        raw = _WORD.findall(line)
        merged: list[tuple[str, bool]] = []
        run: list[str] = []
        for token in raw:
            if len(token) == 1 and not token.isdigit():
                run.append(token)
                continue
            if run:
                merged.append(("".join(run), len(run) > 1))
                run = []
            merged.append((token, False))
        if run:
            merged.append(("".join(run), len(run) > 1))
        for index, (token, spaced) in enumerate(merged):
            folded = token.casefold()
            out.append(
                Word(
                    folded=folded,
                    plain=plain(folded),
                    upper=token.isupper(),
                    line_start=index == 0,
                    line_end=index == len(merged) - 1,
                    spaced=spaced,
                )
            )
    by_folded: defaultdict[str, list[int]] = defaultdict(list)
    by_plain: defaultdict[str, list[int]] = defaultdict(list)
    for index, word in enumerate(out):
        by_folded[word.folded].append(index)
        by_plain[word.plain].append(index)
    return Words(out, dict(by_folded), dict(by_plain), [i for i, w in enumerate(out) if w.spaced])


def phrase(term: str) -> tuple[str, ...]:
    return tuple(w.folded for w in words(term).items)


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    term: str
    start: int
    end: int


def find(
    text_words: Words,
    term: tuple[str, ...],
    *,
    loose: bool = False,
    not_before: frozenset[str] = frozenset(),
    not_after: frozenset[str] = frozenset(),
    stamped: bool = False,
) -> list[Hit]:
    """Where the term's words stand consecutively in `text_words`.

    `not_before`/`not_after` are words that, right after/before the term, make it part of
    another compound (`mật khẩu`, `bí mật`). `stamped` asks for a mark written in capitals
    or standing alone on its line.
    """
    if not term:
        return []
    wanted = tuple(plain(w) for w in term) if loose else term
    length = len(term)
    items = text_words.items
    hits = []
    starts = (text_words.plain if loose else text_words.folded).get(wanted[0], [])
    for start in starts:
        window = items[start : start + length]
        if len(window) < length:
            continue
        got = tuple(w.plain if loose else w.folded for w in window)
        if got != wanted:
            continue
        after = items[start + length] if start + length < len(items) else None
        before = items[start - 1] if start > 0 else None
        if after is not None and not window[-1].line_end and _in(after, not_before, loose):
            continue
        if before is not None and not window[0].line_start and _in(before, not_after, loose):
            continue
        alone = window[0].line_start and window[-1].line_end
        if stamped and not (alone or all(w.upper for w in window)):
            continue
        hits.append(Hit(" ".join(term), start, start + length))
    if length > 1:
        # `T Ố I  M Ậ T`: the letters join into one word that is the whole term run together.
        run_together = "".join(wanted)
        for index in text_words.spaced:
            word = items[index]
            if (word.plain if loose else word.folded) == run_together and (
                not stamped or word.upper or (word.line_start and word.line_end)
            ):
                hits.append(Hit(" ".join(term), index, index + 1))
    return hits


def _in(word: Word, excluded: frozenset[str], loose: bool) -> bool:
    return (plain(word.folded) if loose else word.folded) in (
        {plain(e) for e in excluded} if loose else excluded
    )
