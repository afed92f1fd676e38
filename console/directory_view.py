"""The unit directory as the console shows it: the four levels, each unit's place in the
tree, and where a closed unit's mail goes now (the 2025 mergers: Bến Tre's units replaced
by Vĩnh Long's, district-level government ended).

The directory is public administrative information, read whole from `units` (a province's
exchange holds a few thousand units at most) and searched here, so that a search for
"chau thanh" finds "Châu Thành".
"""

from __future__ import annotations

import dataclasses
import datetime

from broker.directory.model import LEVELS
from console.accounts import ascii_words
from kernel.database import Connection

MAX_CHAIN = 50
"""Successor hops followed at most; the directory loader refuses loops, this bounds a
table edited by hand."""


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    organ_id: str
    name: str
    level: str
    parent: str | None
    valid_from: datetime.date | None
    valid_to: datetime.date | None
    successor: str | None

    def closed_on(self, day: datetime.date) -> bool:
        """Whether the unit no longer exists on `day` (`valid_to` is its last day)."""
        return self.valid_to is not None and self.valid_to < day


@dataclasses.dataclass(frozen=True, slots=True)
class Hop:
    """One step of a succession: `unit` took over from the day `since`."""

    unit: Entry
    since: datetime.date


Units = dict[str, Entry]


async def load(conn: Connection) -> Units:
    rows = await conn.fetch(
        "SELECT organ_id, name, level, parent, valid_from, valid_to, successor FROM units"
        " ORDER BY organ_id"
    )
    return {row["organ_id"]: Entry(**dict(row)) for row in rows}


def _plain(text: str) -> str:
    return " ".join(ascii_words(text))


def matches(entry: Entry, query: str) -> bool:
    """`query` is part of the unit's code or of its name, diacritics and case aside."""
    wanted = query.strip()
    if not wanted:
        return True
    return wanted.upper() in entry.organ_id or _plain(wanted) in _plain(entry.name)


def search(units: Units, query: str, level: str) -> list[Entry]:
    """The units matching `query` at `level` ('' for every level), by level then code."""
    found = [
        entry
        for entry in units.values()
        if (not level or entry.level == level) and matches(entry, query)
    ]
    return sorted(found, key=lambda entry: (LEVELS.index(entry.level), entry.organ_id))


def successors(units: Units, organ_id: str, today: datetime.date) -> list[Hop]:
    """The units that took over, in turn, from a unit closed before `today`: empty while it
    is open; the last one is where its mail goes now, unless the chain ends at a closed
    unit with no successor."""
    hops: list[Hop] = []
    current = units.get(organ_id)
    seen = {organ_id}
    while (
        current is not None
        and current.closed_on(today)
        and current.successor is not None
        and current.valid_to is not None
        and current.successor not in seen
        and len(hops) < MAX_CHAIN
    ):
        seen.add(current.successor)
        following = units.get(current.successor)
        if following is None:
            break
        hops.append(Hop(following, current.valid_to + datetime.timedelta(days=1)))
        current = following
    return hops


def ancestors(units: Units, organ_id: str) -> list[Entry]:
    """The unit's parents from the top of its tree down to its direct parent."""
    chain: list[Entry] = []
    seen = {organ_id}
    current = units.get(organ_id)
    while current is not None and current.parent is not None and current.parent not in seen:
        seen.add(current.parent)
        current = units.get(current.parent)
        if current is not None:
            chain.append(current)
    return chain[::-1]


def children(units: Units, organ_id: str) -> list[Entry]:
    return sorted(
        (entry for entry in units.values() if entry.parent == organ_id),
        key=lambda entry: (LEVELS.index(entry.level), entry.organ_id),
    )


def predecessors(units: Units, organ_id: str) -> list[Entry]:
    """The units whose mail this one took over when they closed."""
    return sorted(
        (entry for entry in units.values() if entry.successor == organ_id),
        key=lambda entry: entry.organ_id,
    )
