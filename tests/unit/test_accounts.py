"""The account rules of Decision 37/2018/QĐ-UBND (Articles 6, 7, 9.2), without a database."""

from __future__ import annotations

import dataclasses
import datetime
import unicodedata

import pytest
from argon2 import PasswordHasher, Type, profiles

from console import accounts
from console.accounts import Account, LockReason, Role
from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
ISSUED = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
SECOND = datetime.timedelta(seconds=1)

PROVINCE, DEPARTMENT = "000.00.00.H62", "000.00.01.H62"
A, A1, B, B1 = "000.02.00.H62", "000.02.01.H62", "000.03.00.H62", "000.03.01.H62"
PARENTS: dict[str, str | None] = {
    PROVINCE: None,
    DEPARTMENT: PROVINCE,
    A: PROVINCE,
    A1: A,
    B: PROVINCE,
    B1: B,
}


def account(role: Role = Role.CLERK, unit: str = A, **changes: object) -> Account:
    made = Account(
        username="cvtrong.stttt",
        full_name="Cao Văn Trọng",
        unit=unit,
        role=role,
        issued_at=ISSUED,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("full_name", "abbreviation", "taken", "expected"),
    [
        # Article 6.2's own example, then its second holder.
        ("Cao Văn Trọng", "stttt", set(), "cvtrong.stttt"),
        ("Cao Văn Trọng", "stttt", {"cvtrong.stttt"}, "cvtrong2.stttt"),
        ("Cao Văn Trọng", "stttt", {"cvtrong.stttt", "cvtrong2.stttt"}, "cvtrong3.stttt"),
        # The first free number, and names taken at other units do not count.
        ("Cao Văn Trọng", "stttt", {"cvtrong.stttt", "cvtrong3.stttt"}, "cvtrong2.stttt"),
        ("Cao Văn Trọng", "sonv", {"cvtrong.stttt"}, "cvtrong.sonv"),
        # Different people, one personal part: they share the sequence.
        ("Nguyễn Văn An", "sonv", {"nvan.sonv"}, "nvan2.sonv"),
        ("Ngô Văn An", "sonv", {"nvan.sonv", "nvan2.sonv"}, "nvan3.sonv"),
        ("Nguyễn Văn An", "sonv", {f"nvan{n}.sonv" for n in ["", *range(2, 12)]}, "nvan12.sonv"),
        # Đ and đ are letters of their own, not d with a mark.
        ("Đặng Đình Đức", "ubndtinh", set(), "ddduc.ubndtinh"),
        ("Hồ Đắc Di", "sgddt", set(), "hddi.sgddt"),
        ("NGUYỄN ĐỨC ƯỚC", "sotc", set(), "nduoc.sotc"),
        # Compound given names: the last word is the given name, the others give initials.
        ("Nguyễn Thị Minh Khai", "ubndxa", set(), "ntmkhai.ubndxa"),
        ("Lê Thị Ánh Tuyết", "syt", set(), "ltatuyet.syt"),
        ("Trương Ngọc Ánh", "syt", set(), "tnanh.syt"),
        # Many middle names, compound family names.
        ("Công Tôn Nữ Thị Bích Ngọc", "sct", set(), "ctntbngoc.sct"),
        ("Tôn Thất Thuyết", "svhttdl", set(), "ttthuyet.svhttdl"),
        ("Âu Dương Phượng", "sldtbxh", set(), "adphuong.sldtbxh"),
        ("Phạm Quỳnh", "vpubnd", set(), "pquynh.vpubnd"),
        # Spacing, case, decomposed input and digits in the unit abbreviation.
        ("  nguyễn   văn   an  ", "ubndxa12", set(), "nvan.ubndxa12"),
        (unicodedata.normalize("NFD", "Huỳnh Thị Thuỷ"), "sgtvt", set(), "htthuy.sgtvt"),
        ("Bùi Thị Xuân", "ubndp3", set(), "btxuan.ubndp3"),
    ],
)
def test_user_names_follow_article_6_2(
    full_name: str, abbreviation: str, taken: set[str], expected: str
) -> None:
    assert accounts.username_for(full_name, abbreviation, taken) == expected
    assert accounts.USER_NAME.match(expected)


@pytest.mark.parametrize(
    "full_name",
    ["", "   ", "Khai", "Nguyễn Văn 3", "Robert'); DROP TABLE accounts; --", "Nguyễn Văn-An",
     "Nguyễn Văn 🙂", "Søren Kierkegaard", "a" * 20 + " " + "b" * 40],
)  # fmt: skip
def test_garbage_names_are_refused_with_a_reason(full_name: str) -> None:
    with pytest.raises(Rejected) as caught:
        accounts.username_for(full_name, "stttt", set())
    assert caught.value.reason is ReasonCode.ACCOUNT_NAME_INVALID


@pytest.mark.parametrize(
    "abbreviation", ["", "s", "STTTT", "sở", "st.tt", "st tt", "a" * 21, "stttt\n"]
)
def test_unit_abbreviations_are_lower_case_ascii(abbreviation: str) -> None:
    with pytest.raises(Rejected) as caught:
        accounts.username_for("Cao Văn Trọng", abbreviation, set())
    assert caught.value.reason is ReasonCode.UNIT_ABBREVIATION_INVALID


@pytest.mark.parametrize(
    "username",
    ["cvtrong1.stttt", "cvtrong02.stttt", "c.stttt", "cvtrong", "cvtrong.", "Cv.st",
     "cvtrong.stttt\n"],  # a trailing newline: `$` alone would let it through
)  # fmt: skip
def test_the_user_name_pattern_is_strict(username: str) -> None:
    with pytest.raises(Rejected):
        accounts.check_username(username)


def test_a_refused_name_is_explained_in_both_languages() -> None:
    with pytest.raises(Rejected) as caught:
        accounts.username_for("Khai", "stttt", set())
    text = caught.value.reason.explain(caught.value.message)
    assert "Điều 6.2" in text
    assert "Article 6.2" in text


def test_never_used_accounts_lock_after_30_days() -> None:
    fresh = account()
    assert accounts.lock_due(fresh, ISSUED + 30 * DAY) is None
    assert accounts.lock_due(fresh, ISSUED + 30 * DAY + SECOND) is LockReason.NEVER_USED


def test_idle_accounts_lock_60_days_after_the_last_login() -> None:
    used = account(last_login_at=ISSUED + 10 * DAY)
    assert accounts.lock_due(used, ISSUED + 40 * DAY) is None  # used once: 7.1 is done
    assert accounts.lock_due(used, ISSUED + 70 * DAY) is None
    assert accounts.lock_due(used, ISSUED + 70 * DAY + SECOND) is LockReason.IDLE


def test_the_locking_job_lists_each_due_account_once_with_its_reason() -> None:
    now = ISSUED + 100 * DAY
    never = account(username="a.stttt")
    idle = account(username="b.stttt", last_login_at=ISSUED + 5 * DAY)
    active = account(username="c.stttt", last_login_at=now - DAY)
    already = account(username="d.stttt", locked_at=now - DAY, lock_reason=LockReason.MANUAL)
    due = accounts.locks_due([never, idle, active, already], now)
    assert [(a.username, reason) for a, reason in due] == [
        ("a.stttt", LockReason.NEVER_USED),
        ("b.stttt", LockReason.IDLE),
    ]
    assert accounts.locks_due([accounts.locked(a, r, now) for a, r in due], now + DAY) == []


def test_an_unlock_restarts_the_clocks() -> None:
    lock_day = ISSUED + 31 * DAY
    was = accounts.locked(account(failed_logins=2), LockReason.NEVER_USED, lock_day)
    back = accounts.unlocked(was, lock_day + 14 * DAY)
    assert not back.locked
    assert back.failed_logins == 0
    assert accounts.lock_due(back, lock_day + 44 * DAY) is None
    assert accounts.lock_due(back, lock_day + 44 * DAY + SECOND) is LockReason.NEVER_USED


def test_a_login_applies_a_lock_the_job_has_not_yet() -> None:
    outcome = accounts.login(account(), True, ISSUED + 31 * DAY)
    assert outcome.refused is ReasonCode.ACCOUNT_LOCKED
    assert outcome.account.lock_reason is LockReason.NEVER_USED


def test_repeated_failed_logins_lock_the_account() -> None:
    now = ISSUED + DAY
    current = account()
    for attempt in range(1, accounts.MAX_FAILED_LOGINS + 1):
        outcome = accounts.login(current, False, now)
        assert outcome.refused is ReasonCode.LOGIN_FAILED
        current = outcome.account
        assert current.failed_logins == attempt
        assert current.locked is (attempt == accounts.MAX_FAILED_LOGINS)
    assert current.lock_reason is LockReason.FAILED_LOGINS
    refused = accounts.login(current, True, now)  # the right password no longer helps
    assert refused.refused is ReasonCode.ACCOUNT_LOCKED
    assert refused.account.failed_logins == accounts.MAX_FAILED_LOGINS


def test_a_good_login_resets_the_count_and_asks_for_a_new_password_first() -> None:
    now = ISSUED + DAY
    nearly = account(failed_logins=accounts.MAX_FAILED_LOGINS - 1)
    outcome = accounts.login(nearly, True, now)
    assert outcome.ok
    assert outcome.account.failed_logins == 0
    assert outcome.account.last_login_at == now
    assert outcome.must_change_password  # Article 9.2(b)
    assert not accounts.login(
        dataclasses.replace(outcome.account, must_change_password=False), True, now
    ).must_change_password


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-1", "at least 12 characters"),
        ("x" * 129, "at most 128"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
        ("121212121212", "different characters"),
        ("CVTrong-2026-Bến-Tre", "user name"),
    ],
)
def test_the_password_policy(password: str, problem: str) -> None:
    with pytest.raises(Rejected, match=problem) as caught:
        accounts.check_password(password, "cvtrong2.stttt")
    assert caught.value.reason is ReasonCode.PASSWORD_TOO_WEAK


def test_good_and_one_time_passwords_pass() -> None:
    accounts.check_password("dừa xiêm Bến Tre 1975", "cvtrong.stttt")
    first, second = (accounts.one_time_password("cvtrong.stttt") for _ in range(2))
    assert first != second
    accounts.check_password(first, "cvtrong.stttt")


def test_passwords_are_argon2id_hashes() -> None:
    assert accounts.HASHER.type is Type.ID
    stored = accounts.hash_password("dừa xiêm Bến Tre 1975", CHEAP)
    assert stored.startswith("$argon2id$")
    assert accounts.password_matches(stored, "dừa xiêm Bến Tre 1975", CHEAP)
    assert not accounts.password_matches(stored, "dua xiem Ben Tre 1975", CHEAP)
    assert not accounts.password_matches("not a hash", "anything", CHEAP)


def test_a_unit_admin_manages_its_unit_and_the_units_below_only() -> None:
    admin = account(Role.UNIT_ADMIN, A)
    for unit in (A, A1):
        for role in (Role.UNIT_ADMIN, Role.CLERK, Role.OFFICER):
            assert accounts.may_administer(admin, unit, role, PARENTS)
    assert not accounts.may_administer(admin, B, Role.CLERK, PARENTS)
    assert not accounts.may_administer(admin, PROVINCE, Role.CLERK, PARENTS)
    assert not accounts.may_administer(admin, A1, Role.DEPARTMENT_MONITOR, PARENTS)
    assert not accounts.may_administer(admin, A, Role.PROVINCIAL_ADMIN, PARENTS)
    assert accounts.may_read_registers(admin, A1, PARENTS)
    assert not accounts.may_read_registers(admin, B, PARENTS)
    with pytest.raises(AccessDenied) as caught:
        accounts.require(accounts.may_read_registers(admin, B, PARENTS), admin, f"read {B}")
    assert caught.value.reason is ReasonCode.ACCOUNT_SCOPE_FORBIDDEN


def test_the_province_and_the_department_see_the_whole_tree() -> None:
    provincial = account(Role.PROVINCIAL_ADMIN, PROVINCE)
    monitor = account(Role.DEPARTMENT_MONITOR, PROVINCE)
    for unit in PARENTS:
        assert accounts.may_read_registers(provincial, unit, PARENTS)
        assert accounts.may_read_registers(monitor, unit, PARENTS)
        assert accounts.may_administer(provincial, unit, Role.DEPARTMENT_MONITOR, PARENTS)
        assert not accounts.may_administer(monitor, unit, Role.OFFICER, PARENTS)
    outside = "000.00.00.H07"
    assert not accounts.may_read_registers(provincial, outside, PARENTS)


def test_the_departments_monitor_sees_its_province_from_a_department_of_it() -> None:
    """The Department of ICT is one department, but it monitors the whole province."""
    monitor = account(Role.DEPARTMENT_MONITOR, DEPARTMENT)
    unit_admin = account(Role.UNIT_ADMIN, DEPARTMENT)
    for unit in PARENTS:
        assert accounts.may_read_registers(monitor, unit, PARENTS)
    assert not accounts.may_read_registers(unit_admin, A, PARENTS)
    assert not accounts.may_read_registers(monitor, "000.00.00.H07", PARENTS)


def test_clerks_and_officers_see_their_own_unit_only() -> None:
    for role in (Role.CLERK, Role.OFFICER):
        user = account(role, A)
        assert accounts.may_read_registers(user, A, PARENTS)
        assert not accounts.may_read_registers(user, A1, PARENTS)
        assert not accounts.may_administer(user, A, Role.OFFICER, PARENTS)


def test_a_locked_account_may_do_nothing() -> None:
    admin = account(
        Role.PROVINCIAL_ADMIN, PROVINCE, locked_at=ISSUED, lock_reason=LockReason.MANUAL
    )
    assert not accounts.may_administer(admin, A, Role.CLERK, PARENTS)
    assert not accounts.may_read_registers(admin, A, PARENTS)


def test_a_looping_directory_does_not_hang_the_scope_check() -> None:
    looped: dict[str, str | None] = {A: B, B: A}
    assert not accounts.within(A, PROVINCE, looped)
    assert accounts.within(A, B, looped)
