"""What the directory, accounts and audit pages ask of PostgreSQL and of the directory:
accounts and events confined to an administrator's scope, searched, filtered and paged;
successor chains followed; hostile query strings refused."""

from __future__ import annotations

import datetime

import asyncpg
import pytest
from argon2 import PasswordHasher, profiles

from console import directory_view, store
from console.accounts import Account, Role
from console.admin import Pager, administers, day, grantable, page_number, period, scope_units
from console.directory_view import Entry
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
NOW = datetime.datetime(2026, 3, 2, 2, 0, tzinfo=datetime.UTC)  # 09:00 in Vietnam
PROVINCE, A, A1, B = "000.00.00.H62", "000.02.00.H62", "000.02.01.H62", "000.03.00.H62"
UNITS = [
    (PROVINCE, "UBND tỉnh Vĩnh Long", "province", None),
    (A, "UBND xã Châu Thành", "commune", PROVINCE),
    (A1, "Trường Tiểu học Châu Thành", "commune", A),
    (B, "UBND xã Mỏ Cày", "commune", PROVINCE),
]
PARENTS = {code: parent for code, _name, _level, parent in UNITS}


def _entry(code: str, name: str, **fields: object) -> Entry:
    values: dict[str, object] = {
        "organ_id": code,
        "name": name,
        "level": "commune",
        "parent": None,
        "valid_from": None,
        "valid_to": None,
        "successor": None,
    }
    return Entry(**{**values, **fields})  # type: ignore[arg-type]


async def _account(
    db: asyncpg.Connection,
    name: str,
    unit: str,
    abbreviation: str,
    role: Role,
    at: datetime.datetime,
) -> Account:
    account, _password = await store.create(
        db, full_name=name, unit=unit, abbreviation=abbreviation, role=role, actor="test",
        now=at, hasher=CHEAP,
    )  # fmt: skip
    return account


@pytest.fixture
async def people(db: asyncpg.Connection) -> dict[str, Account]:
    await db.executemany(
        "INSERT INTO units (organ_id, name, level, parent) VALUES ($1, $2, $3, $4)", UNITS
    )
    return {
        "province": await _account(
            db, "Cao Văn Trọng", PROVINCE, "ubndt", Role.PROVINCIAL_ADMIN, NOW
        ),
        "admin_a": await _account(db, "Lê Minh Tâm", A, "xachauthanh", Role.UNIT_ADMIN, NOW),
        "clerk_a": await _account(db, "Trần Thị Lan", A, "xachauthanh", Role.CLERK, NOW),
        "clerk_a1": await _account(db, "Đỗ Văn Đức", A1, "thchauthanh", Role.CLERK, NOW),
        "clerk_b": await _account(db, "Võ Thị Hồng", B, "xamocay", Role.CLERK, NOW),
    }


@pytest.mark.postgres
async def test_accounts_are_listed_within_the_scope_searched_and_paged(
    db: asyncpg.Connection, people: dict[str, Account]
) -> None:
    scope = scope_units(people["admin_a"], PARENTS)
    assert scope == [A, A1]
    found, total = await store.in_units(db, scope, limit=50, offset=0)
    assert [a.username for a in found] == ["dvduc.thchauthanh", "lmtam.xachauthanh",
                                           "ttlan.xachauthanh"]  # fmt: skip
    assert total == 3
    found, total = await store.in_units(db, scope, search="Lan", limit=50, offset=0)
    assert [a.username for a in found] == ["ttlan.xachauthanh"]
    # LIKE's wildcards are searched for, not obeyed.
    assert await store.in_units(db, scope, search="%", limit=50, offset=0) == ([], 0)
    found, total = await store.in_units(db, scope, limit=2, offset=2)
    assert ([a.username for a in found], total) == (["ttlan.xachauthanh"], 3)
    everyone = scope_units(people["province"], PARENTS)
    assert (await store.in_units(db, everyone, limit=50, offset=0))[1] == 5
    assert await store.abbreviations(db, scope) == {A: "xachauthanh", A1: "thchauthanh"}


@pytest.mark.postgres
async def test_events_are_confined_to_the_scope_and_filtered(
    db: asyncpg.Connection, people: dict[str, Account]
) -> None:
    later = NOW + datetime.timedelta(days=3)
    await store.lock(db, "ttlan.xachauthanh", actor=people["admin_a"], now=later, note="nghỉ")
    await store.lock(db, "vthong.xamocay", actor=people["province"], now=later, note="B's")
    scope = scope_units(people["admin_a"], PARENTS)

    events, total = await store.events(db, scope, limit=50, offset=0)
    assert total == 4  # three creations and a lock, none of B's
    assert (events[0].event, events[0].actor, events[0].detail) == (
        "lock", "lmtam.xachauthanh", {"note": "nghỉ"},
    )  # fmt: skip
    assert "vthong.xamocay" not in {event.username for event in events}

    # By user: what it underwent and what it did.
    events, _ = await store.events(db, scope, user="lmtam.xachauthanh", limit=50, offset=0)
    assert [(e.username, e.event) for e in events] == [
        ("ttlan.xachauthanh", "lock"),
        ("lmtam.xachauthanh", "create"),
    ]
    # By period, in Vietnamese days: the lock's day only.
    since, before = period(day("2026-03-05", "from"), day("2026-03-05", "to"))
    events, total = await store.events(db, scope, since=since, before=before, limit=50, offset=0)
    assert [e.event for e in events] == ["lock"]
    events, total = await store.events(db, scope, limit=1, offset=1)
    assert (len(events), total) == (1, 4)


def test_administrators_act_on_their_subtree_and_the_roles_they_may_give() -> None:
    admin_a = Account("lmtam.xachauthanh", "Lê Minh Tâm", A, Role.UNIT_ADMIN, NOW)
    clerk_a1 = Account("dvduc.thchauthanh", "Đỗ Văn Đức", A1, Role.CLERK, NOW)
    clerk_b = Account("vthong.xamocay", "Võ Thị Hồng", B, Role.CLERK, NOW)
    monitor = Account("dttha.skhcn", "Đặng Thị Thu Hà", A, Role.DEPARTMENT_MONITOR, NOW)
    assert administers(admin_a, clerk_a1, PARENTS)
    assert not administers(admin_a, clerk_b, PARENTS)
    assert not administers(admin_a, monitor, PARENTS)
    assert not administers(admin_a, admin_a, PARENTS)
    assert grantable(admin_a, PARENTS) == [Role.UNIT_ADMIN, Role.CLERK, Role.OFFICER]
    province = Account("cvtrong.ubndt", "Cao Văn Trọng", PROVINCE, Role.PROVINCIAL_ADMIN, NOW)
    assert grantable(province, PARENTS) == list(Role)


def test_successor_chains_are_followed_to_the_unit_that_receives_now() -> None:
    units = {
        entry.organ_id: entry
        for entry in [
            _entry("000.00.31.H07", "UBND huyện Châu Thành", level="district",
                   valid_to=datetime.date(2025, 6, 30), successor="000.02.00.H62"),
            _entry("000.02.00.H62", "UBND xã Châu Thành", valid_to=datetime.date(2026, 1, 31),
                   successor="000.09.00.H62"),
            _entry("000.09.00.H62", "UBND xã Châu Thành mới", parent="000.00.00.H62"),
            _entry("000.00.00.H62", "UBND tỉnh Vĩnh Long", level="province"),
            _entry("000.07.00.H62", "Xã vòng A", valid_to=datetime.date(2025, 1, 1),
                   successor="000.08.00.H62"),
            _entry("000.08.00.H62", "Xã vòng B", valid_to=datetime.date(2025, 1, 1),
                   successor="000.07.00.H62"),
        ]
    }  # fmt: skip
    before = directory_view.successors(units, "000.00.31.H07", datetime.date(2025, 12, 1))
    assert [(h.unit.organ_id, h.since) for h in before] == [
        ("000.02.00.H62", datetime.date(2025, 7, 1))
    ]
    after = directory_view.successors(units, "000.00.31.H07", datetime.date(2026, 3, 1))
    assert [h.unit.organ_id for h in after] == ["000.02.00.H62", "000.09.00.H62"]
    assert directory_view.successors(units, "000.00.31.H07", datetime.date(2025, 6, 30)) == []
    # A loop made by hand in the table ends instead of spinning.
    loop = directory_view.successors(units, "000.07.00.H62", datetime.date(2026, 1, 1))
    assert [h.unit.organ_id for h in loop] == ["000.08.00.H62"]
    assert directory_view.predecessors(units, "000.02.00.H62")[0].organ_id == "000.00.31.H07"
    assert [e.organ_id for e in directory_view.ancestors(units, "000.09.00.H62")] == [
        "000.00.00.H62"
    ]
    # Search by code or by name, diacritics and case aside; by level.
    assert [e.organ_id for e in directory_view.search(units, "chau thanh", "district")] == [
        "000.00.31.H07"
    ]
    assert [e.organ_id for e in directory_view.search(units, ".09.", "")] == ["000.09.00.H62"]
    assert len(directory_view.search(units, "CHÂU THÀNH", "")) == 3


@pytest.mark.parametrize("value", ["0", "-1", "x", "1e3", "\u0661", "\u00b2", "100001", "2" * 40])
def test_a_bad_page_number_is_refused(value: str) -> None:
    with pytest.raises(Rejected) as refused:
        page_number(value)
    assert refused.value.reason is ReasonCode.REQUEST_MALFORMED


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "yesterday", "2026-3-1x"])
def test_a_bad_date_is_refused(value: str) -> None:
    with pytest.raises(Rejected) as refused:
        day(value, "from")
    assert refused.value.reason is ReasonCode.REQUEST_MALFORMED


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(Rejected):
        period(datetime.date(2026, 3, 2), datetime.date(2026, 3, 1))


def test_page_links_keep_the_filters() -> None:
    pager = Pager(2, 120, {"user": "lmtam.xachauthanh", "from": "", "to": "2026-03-05"})
    assert pager.pages == 3
    assert pager.offset == 50
    assert pager.previous == "?user=lmtam.xachauthanh&to=2026-03-05&page=1"
    assert pager.next == "?user=lmtam.xachauthanh&to=2026-03-05&page=3"
    assert Pager(1, 0, {}).next is None
