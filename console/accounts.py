"""The console's user accounts, as pure rules: names, passwords, locking and roles.

Decision 37/2018/QĐ-UBND of Bến Tre (../shared/reference/REGULATION.md) fixes them:

- Article 6.2: a user name is `tencanhan.tendonvi`, the initials of the family and middle
  names, the given name without diacritics and a sequence number, a dot, and the unit's
  abbreviation (Cao Văn Trọng at the Department of ICT: `cvtrong.stttt`, then
  `cvtrong2.stttt`). The given name is the *last* word; every word before it, family name
  and all middle names alike (a compound family name such as Tôn Thất too), gives its
  initial: "Nguyễn Thị Minh Khai" is `ntmkhai`. The first holder of a name has no number;
  the second is 2, the third 3, always between the personal part and the dot.
- Article 7: an account is locked 30 days after issue if it was never used, and after 60
  days without a login; also when it is taken over (here: too many failed logins) or on an
  administrator's decision. Every lock carries its reason.
- Article 9.2(b): the password is changed at the first login. The regulation fixes no
  password length or composition; the policy below is ours (NIST SP 800-63B's advice: a
  long password, no composition rules, nothing derived from the user name).

The store (console.store) keeps these in PostgreSQL and audits every change.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import itertools
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode

NEVER_USED_AFTER = datetime.timedelta(days=30)
"""Article 7.1: an account not used within 30 days of issue is locked."""
IDLE_AFTER = datetime.timedelta(days=60)
"""Article 7.2: an account with no login for 60 days is locked."""
MAX_FAILED_LOGINS = 5
"""Wrong passwords in a row that lock an account (Article 7.3, a take-over suspected); few
enough to stop guessing, enough for a mistyped keyboard layout. A good login resets it."""
MIN_PASSWORD_LENGTH = 12
"""Ours, not the regulation's (which fixes none): long enough against offline guessing."""
MAX_PASSWORD_LENGTH = 128
"""Bounds the work of one argon2 hash a login may ask for."""
MIN_DISTINCT_CHARACTERS = 6
"""Refuses `aaaaaaaaaaaa` and `121212121212`, which pass any length rule."""
ONE_TIME_PASSWORD_BYTES = 12
"""16 URL-safe characters: 96 random bits for a password that lives until the first login."""

USER_NAME = re.compile(
    r"^(?P<person>[a-z]{2,40})(?P<number>[2-9]|[1-9][0-9]{1,3})?\.(?P<unit>[a-z0-9]{2,20})$"
)
"""Article 6.2's `tencanhan.tendonvi`: personal part, sequence number from 2, dot, unit."""
UNIT_ABBREVIATION = re.compile(r"^[a-z0-9]{2,20}$")
_WORD = re.compile(r"^[a-z]+$")

HASHER = PasswordHasher()
"""argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, t=3, p=4)."""


class Role(enum.StrEnum):
    """Who a user is (Articles 8, 10, 11); each is scoped by the user's unit."""

    PROVINCIAL_ADMIN = "provincial_admin"
    DEPARTMENT_MONITOR = "department_monitor"
    UNIT_ADMIN = "unit_admin"
    CLERK = "clerk"
    OFFICER = "officer"


class LockReason(enum.StrEnum):
    """Why an account is locked, stored with the lock (Article 7)."""

    NEVER_USED = "never_used"  # 7.1
    IDLE = "idle"  # 7.2
    FAILED_LOGINS = "failed_logins"  # 7.3: guessing, a take-over attempt
    MANUAL = "manual"  # 7.3 and 7.4 as an administrator decides


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    username: str
    full_name: str
    unit: str
    role: Role
    issued_at: datetime.datetime
    last_login_at: datetime.datetime | None = None
    must_change_password: bool = True
    failed_logins: int = 0
    locked_at: datetime.datetime | None = None
    lock_reason: LockReason | None = None
    unlocked_at: datetime.datetime | None = None
    """An unlock restarts Article 7's clocks: without it the job would lock again at once."""

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def ascii_words(text: str) -> list[str]:
    """`text`'s words in lower case without diacritics: NFD, combining marks dropped, and
    đ → d, which is a letter of its own, not d with a mark, so NFD leaves it alone."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.lower().split()


def personal_part(full_name: str) -> str:
    """`tencanhan` without its number: initials of every word but the last, then the last."""
    words = ascii_words(full_name)
    if len(words) < 2:
        raise Rejected(
            ReasonCode.ACCOUNT_NAME_INVALID,
            f"{full_name!r}: a family name and a given name are needed, at least two words",
        )
    for word in words:
        if not _WORD.fullmatch(word):
            raise Rejected(
                ReasonCode.ACCOUNT_NAME_INVALID,
                f"{full_name!r}: {word!r} is not a word of Vietnamese letters",
            )
    person = "".join(word[0] for word in words[:-1]) + words[-1]
    if len(person) > 40:
        raise Rejected(ReasonCode.ACCOUNT_NAME_INVALID, f"{full_name!r}: the name is too long")
    return person


def check_abbreviation(abbreviation: str) -> str:
    if not UNIT_ABBREVIATION.fullmatch(abbreviation):
        raise Rejected(
            ReasonCode.UNIT_ABBREVIATION_INVALID,
            f"{abbreviation!r} is not 2-20 lower-case ASCII letters or digits (e.g. stttt)",
        )
    return abbreviation


def check_username(username: str) -> str:
    if not USER_NAME.fullmatch(username):
        raise Rejected(
            ReasonCode.ACCOUNT_NAME_INVALID,
            f"{username!r} is not a user name of the form tencanhan.tendonvi (Article 6.2)",
        )
    return username


def username_for(full_name: str, unit_abbreviation: str, taken: Collection[str]) -> str:
    """Article 6.2's user name for this person at this unit, the first one not `taken`."""
    person = personal_part(full_name)
    unit = check_abbreviation(unit_abbreviation)
    for number in itertools.count(1):
        candidate = f"{person}{number if number > 1 else ''}.{unit}"
        if candidate not in taken:
            return check_username(candidate)
    raise AssertionError("itertools.count never ends")  # pragma: no cover


def clean_name(full_name: str) -> str:
    """The name as stored and shown: NFC, single spaces."""
    return " ".join(unicodedata.normalize("NFC", full_name).split())


def check_password(password: str, username: str) -> None:
    """The password policy; the regulation fixes none (see the module's docstring)."""
    problem = None
    if len(password) < MIN_PASSWORD_LENGTH:
        problem = f"at least {MIN_PASSWORD_LENGTH} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"at most {MAX_PASSWORD_LENGTH} characters"
    elif len(set(password)) < MIN_DISTINCT_CHARACTERS:
        problem = f"at least {MIN_DISTINCT_CHARACTERS} different characters"
    else:
        match = USER_NAME.match(username)
        person = match["person"] if match else username
        if person.lower() in password.lower():
            problem = "not containing the user name"
    if problem is not None:
        raise Rejected(ReasonCode.PASSWORD_TOO_WEAK, f"a password needs {problem}")


def one_time_password(username: str) -> str:
    """A random first password that passes the policy; it must be changed at first login."""
    while True:
        password = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
        try:
            check_password(password, username)
        except Rejected:
            continue
        return password


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def password_matches(stored: str, password: str, hasher: PasswordHasher = HASHER) -> bool:
    """Whether `password` is the one `stored` hashes; a damaged hash simply does not match."""
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _since(account: Account, moment: datetime.datetime) -> datetime.datetime:
    """`moment`, or the last unlock if later: an unlock restarts Article 7's clocks."""
    return moment if account.unlocked_at is None else max(moment, account.unlocked_at)


def lock_due(account: Account, now: datetime.datetime) -> LockReason | None:
    """Why Article 7 locks this account at `now`, if it does; "after 30 days" is strictly
    more: one issued at 09:00 on 1 March works until 09:00 on 31 March."""
    if account.locked:
        return None
    if account.last_login_at is None:
        unused = now - _since(account, account.issued_at)
        return LockReason.NEVER_USED if unused > NEVER_USED_AFTER else None
    idle = now - _since(account, account.last_login_at)
    return LockReason.IDLE if idle > IDLE_AFTER else None


def locks_due(
    accounts: Iterable[Account], now: datetime.datetime
) -> list[tuple[Account, LockReason]]:
    """The accounts Article 7 locks at `now`, each with its reason (the locking job's list)."""
    due = ((account, lock_due(account, now)) for account in accounts)
    return [(account, reason) for account, reason in due if reason is not None]


def locked(account: Account, reason: LockReason, now: datetime.datetime) -> Account:
    return dataclasses.replace(account, locked_at=now, lock_reason=reason)


def unlocked(account: Account, now: datetime.datetime) -> Account:
    return dataclasses.replace(
        account, locked_at=None, lock_reason=None, failed_logins=0, unlocked_at=now
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Login:
    """A login attempt's outcome and the account as it is afterwards (to be stored)."""

    account: Account
    refused: ReasonCode | None

    @property
    def ok(self) -> bool:
        return self.refused is None

    @property
    def must_change_password(self) -> bool:
        """Article 9.2(b): the console lets the user do nothing else until it is changed."""
        return self.ok and self.account.must_change_password


def login(account: Account, password_ok: bool, now: datetime.datetime) -> Login:
    """Judge a login: a locked account is refused whatever the password (and a lock due
    but not yet applied by the job applies now); a wrong password counts towards the lockout;
    a good one resets the count."""
    reason = lock_due(account, now)
    if reason is not None:
        account = locked(account, reason, now)
    if account.locked:
        return Login(account, ReasonCode.ACCOUNT_LOCKED)
    if not password_ok:
        failed = dataclasses.replace(account, failed_logins=account.failed_logins + 1)
        if failed.failed_logins >= MAX_FAILED_LOGINS:
            failed = locked(failed, LockReason.FAILED_LOGINS, now)
        return Login(failed, ReasonCode.LOGIN_FAILED)
    return Login(dataclasses.replace(account, failed_logins=0, last_login_at=now), None)


def within(unit: str, scope: str, parents: Mapping[str, str | None]) -> bool:
    """Whether `unit` is `scope` or below it in the directory tree (`parents`: unit → its
    parent, as the units table holds them)."""
    seen: set[str] = set()
    current: str | None = unit
    while current is not None and current not in seen:
        if current == scope:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


_GRANTS: dict[Role, frozenset[Role]] = {
    Role.PROVINCIAL_ADMIN: frozenset(Role),
    Role.UNIT_ADMIN: frozenset({Role.UNIT_ADMIN, Role.CLERK, Role.OFFICER}),
}
"""The roles each administrator may give (Article 11): the Department's roles are the
provincial admin's to give alone."""


def may_administer(
    actor: Account, unit: str, role: Role, parents: Mapping[str, str | None]
) -> bool:
    """Whether `actor` may create, lock or unlock an account of `role` at `unit`: an
    administrator, for units at or below its own, and roles it may give."""
    return (
        not actor.locked
        and role in _GRANTS.get(actor.role, frozenset())
        and within(unit, actor.unit, parents)
    )


def top(unit: str, parents: Mapping[str, str | None]) -> str:
    """The root of `unit`'s tree: the province (or ministry) it belongs to."""
    seen = {unit}
    while (parent := parents.get(unit)) is not None and parent not in seen:
        seen.add(parent)
        unit = parent
    return unit


def scope(actor: Account, parents: Mapping[str, str | None]) -> str:
    """The unit whose subtree `actor` sees. The Department of Information and Communications
    monitors the whole province (Articles 8, 11, 12), though it is one department of it."""
    if actor.role is Role.DEPARTMENT_MONITOR:
        return top(actor.unit, parents)
    return actor.unit


def may_read_registers(actor: Account, unit: str, parents: Mapping[str, str | None]) -> bool:
    """Whether `actor` may read `unit`'s registers: administrators read their unit's
    subtree, the Department's monitor its province; clerks and officers only their unit."""
    if actor.locked:
        return False
    if actor.role in (Role.CLERK, Role.OFFICER):
        return unit == actor.unit
    return within(unit, scope(actor, parents), parents)


def require(allowed: bool, actor: Account, what: str) -> None:
    """Refuse, naming the actor and the act, unless `allowed`."""
    if not allowed:
        raise AccessDenied(
            ReasonCode.ACCOUNT_SCOPE_FORBIDDEN, f"{actor.username} ({actor.role}) may not {what}"
        )
