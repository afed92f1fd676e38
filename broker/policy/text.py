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

_WORD = re.compile(r"\w+", re.UNICODE)


@functools.cache
def _format_characters() -> dict[int, None]:
    """Every character of Unicode category Cf, as a table that deletes them; built once per
    process (a per-character check over each text cost more than the whole match)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}


def _strip_format(text: str) -> str:
    return text.translate(_format_characters())


@functools.lru_cache(maxsize=65536)
def plain(word: str) -> str:
    """A word without diacritics: NFD, combining marks dropped, đ as d."""
    decomposed = unicodedata.normalize("NFD", word)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D")


@functools.lru_cache(maxsize=65536)
def _fold(token: str) -> tuple[str, str, bool]:
    folded = token.casefold()
    return folded, plain(folded), token.isupper()


@dataclasses.dataclass(frozen=True, slots=True)
class Words:
    """A text's words as parallel lists, indexed by folded and by plain form, so that a
    term is looked for only where its first word stands. (Word objects and a scan of every
    position made a 20 KiB text cost 170 ms against the policy.)"""

    folded: list[str]
    plain: list[str]
    upper: list[bool]
    """Written in capitals in the original (a stamped mark usually is)."""
    line_start: list[bool]
    line_end: list[bool]
    spaced: list[int]
    """Where a word was joined from letters written apart: it may stand for several words
    run together."""
    at_folded: dict[str, list[int]]
    at_plain: dict[str, list[int]]


def words(text: str) -> Words:
    """The words of `text`, folded, with single letters spaced apart joined back up."""
    found = Words([], [], [], [], [], [], {}, {})
    for line in unicodedata.normalize("NFC", _strip_format(text)).splitlines():
        merged: list[tuple[str, bool]] = []
        run: list[str] = []
        for token in _WORD.findall(line):
            if len(token) == 1 and not token.isdigit():
                run.append(token)
                continue
            if run:
                merged.append(("".join(run), len(run) > 1))
                run = []
            merged.append((token, False))
        if run:
            merged.append(("".join(run), len(run) > 1))
        last = len(merged) - 1
        for index, (token, spaced) in enumerate(merged):
            folded, plain_form, upper = _fold(token)
            position = len(found.folded)
            found.folded.append(folded)
            found.plain.append(plain_form)
            found.upper.append(upper)
            found.line_start.append(index == 0)
            found.line_end.append(index == last)
            if spaced:
                found.spaced.append(position)
            found.at_folded.setdefault(folded, []).append(position)
            found.at_plain.setdefault(plain_form, []).append(position)
    return found


def phrase(term: str) -> tuple[str, ...]:
    return tuple(words(term).folded)


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
    keys = text_words.plain if loose else text_words.folded
    if loose:
        not_before = frozenset(plain(w) for w in not_before)
        not_after = frozenset(plain(w) for w in not_after)
    starts, upper = text_words.at_plain if loose else text_words.at_folded, text_words.upper
    line_start, line_end = text_words.line_start, text_words.line_end
    length, count = len(term), len(keys)
    hits = []
    for start in starts.get(wanted[0], []):
        end = start + length
        if end > count or tuple(keys[start:end]) != wanted:
            continue
        if end < count and not line_end[end - 1] and keys[end] in not_before:
            continue
        if start > 0 and not line_start[start] and keys[start - 1] in not_after:
            continue
        alone = line_start[start] and line_end[end - 1]
        if stamped and not (alone or all(upper[start:end])):
            continue
        hits.append(Hit(" ".join(term), start, end))
    if length > 1:
        # `T Ố I  M Ậ T`: the letters join into one word that is the whole term run together.
        run_together = "".join(wanted)
        hits.extend(
            Hit(" ".join(term), index, index + 1)
            for index in text_words.spaced
            if keys[index] == run_together
            and (not stamped or upper[index] or (line_start[index] and line_end[index]))
        )  # fmt: skip
    return hits
