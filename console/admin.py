"""What the administration pages (directory, accounts, audit) compute from a request: an
administrator's scope, the roles it may give, a page number, a period, and the way times
and audit lines are shown. Query strings are hostile: anything malformed is refused with
REQUEST_MALFORMED, never guessed at.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from console import accounts
from console.accounts import Account, Role
from console.store import Event
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
"""Offices read and ask for their own local time and days."""
PAGE_SIZE = 50
MAX_PAGE = 100_000
_DIGITS = re.compile(r"[0-9]{1,6}")
"""ASCII digits only: str.isdigit() takes "²", which int() then refuses."""


def _(text: str) -> str:
    """Marks a text for the catalogue (tests/unit/test_console_i18n.py); the template that
    shows it translates it."""
    return text


EVENTS = {
    "create": _("Account created"),
    "login": _("Logged in"),
    "login_failed": _("Login refused"),
    "lock": _("Locked"),
    "unlock": _("Unlocked"),
    "password_change": _("Password changed"),
    "password_reset": _("Password reset"),
    "logout": _("Logged out"),
    "release": _("Held document released"),
    "reject": _("Held document rejected"),
    "replay": _("Dead letter replayed"),
    "export": _("Register exported"),
}
REASONS = {
    "never_used": _("not used within 30 days of issue (Article 7.1)"),
    "idle": _("no login for 60 days (Article 7.2)"),
    "failed_logins": _("too many failed logins (Article 7.3)"),
    "manual": _("an administrator's decision (Article 7.4)"),
    "login_failed": _("wrong user name or password"),
    "account_locked": _("the account is locked"),
}
DETAILS = {"role": _("Role"), "unit": _("Unit"), "note": _("Note")}
LEVEL_NAMES = {
    "central": _("Central"),
    "province": _("Province"),
    "district": _("District"),
    "commune": _("Commune"),
}


def scope_units(viewer: Account, parents: Mapping[str, str | None]) -> list[str]:
    """The units whose accounts `viewer` administers: its unit's subtree (a provincial
    admin's unit is the province, so the province's tree)."""
    root = accounts.scope(viewer, parents)
    return sorted(unit for unit in parents if accounts.within(unit, root, parents))


def grantable(viewer: Account, parents: Mapping[str, str | None]) -> list[Role]:
    """The roles `viewer` may give at its own unit, and so anywhere in its scope."""
    return [role for role in Role if accounts.may_administer(viewer, viewer.unit, role, parents)]


def administers(viewer: Account, target: Account, parents: Mapping[str, str | None]) -> bool:
    """Whether `viewer` may lock, unlock or reset `target`: never its own account (an
    administrator locking itself out helps nobody; its own password has its own page)."""
    return target.username != viewer.username and accounts.may_administer(
        viewer, target.unit, target.role, parents
    )


def page_number(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"page {value[:20]!r} is not a page number")
    return int(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Pager:
    """Where a page of a listing starts, and the links to its neighbours (the query string's
    other filters kept)."""

    number: int
    total: int
    filters: Mapping[str, str]
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    def _link(self, number: int) -> str:
        kept = {name: value for name, value in self.filters.items() if value}
        return "?" + urlencode({**kept, "page": str(number)})

    @property
    def previous(self) -> str | None:
        return self._link(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self._link(self.number + 1) if self.number < self.pages else None


def day(value: str, name: str) -> datetime.date | None:
    """A date field (YYYY-MM-DD, as `<input type=date>` sends it), None when empty."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.date.fromisoformat(value)
    except ValueError:
        pass
    raise Rejected(ReasonCode.REQUEST_MALFORMED, f"{name} {value[:20]!r} is not a date")


def period(
    start: datetime.date | None, end: datetime.date | None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """Vietnamese days `start` through `end` (both included) as instants: from the start of
    `start` to the start of the day after `end`."""
    if start is not None and end is not None and end < start:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"the period ends ({end}) before {start}")

    def midnight(value: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(value, datetime.time(), VIETNAM)

    return (
        midnight(start) if start is not None else None,
        midnight(end + datetime.timedelta(days=1)) if end is not None else None,
    )


def today(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(VIETNAM).date()


def moment_text(value: datetime.datetime | None) -> str:
    return value.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M") if value is not None else ""


def day_text(value: datetime.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else ""


def detail_lines(event: Event) -> list[tuple[str, str]]:
    """An event's detail as (label, value) pairs; a label of DETAILS is translated."""
    return [
        (DETAILS.get(key, key), _value(value))
        for key, value in sorted(event.detail.items())
        if value not in ("", None)
    ]


def _value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


FORMATS = {
    "moment_text": moment_text,
    "day_text": day_text,
    "EVENTS": EVENTS,
    "REASONS": REASONS,
    "LEVEL_NAMES": LEVEL_NAMES,
    "detail_lines": detail_lines,
}
"""What every administration template is given to show times, events and levels."""
