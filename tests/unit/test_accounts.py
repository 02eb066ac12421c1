"""The rules of accounts and sessions (domain.account), without any storage: usernames, roles and agencies, the
password policy, the lock-out after repeated failures, and how long a session lives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migradesk_intake.domain.account import (
    Account,
    AccountRule,
    AccountRules,
    AccountRuleViolation,
    SessionRules,
    check_password,
    check_role,
    check_username,
    new_account,
    open_session,
)
from migradesk_shared.auth import Role

T0 = datetime(2026, 11, 22, 15, tzinfo=UTC)
RULES = AccountRules()


def account(**changes: object) -> Account:
    base = new_account(username="ana", role=Role.STAFF, agency_id=None, password_hash="h", now=T0,
                       temporary_password=False)
    return Account(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def rule_of(call: object) -> AccountRule:
    with pytest.raises(AccountRuleViolation) as refused:
        call()  # type: ignore[operator]
    return refused.value.rule


# --- usernames, roles, agencies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [("ana", "ana"), ("  Ana.Souza ", "ana.souza"), ("r2-d2_x", "r2-d2_x"),
                                               ("recepcao.ubs", "recepcao.ubs")])
def test_a_username_is_stored_in_one_form_however_it_was_typed(typed: str, stored: str) -> None:
    assert check_username(typed) == stored


@pytest.mark.parametrize("username", ["", "ab", "a" * 65, "-ana", ".ana", "ana souza", "anã", "ana@desk", "ana/x"])
def test_a_username_outside_the_rules_is_refused(username: str) -> None:
    assert rule_of(lambda: check_username(username)) is AccountRule.USERNAME_FORMAT


def test_an_agency_account_names_its_agency_and_no_other_account_does() -> None:
    assert check_role(Role.AGENCY, " UBS-Jardim-Climax ") == "ubs-jardim-climax"
    assert rule_of(lambda: check_role(Role.AGENCY, None)) is AccountRule.AGENCY_REQUIRED
    assert rule_of(lambda: check_role(Role.AGENCY, "  ")) is AccountRule.AGENCY_REQUIRED
    assert rule_of(lambda: check_role(Role.AGENCY, "ubs jardim")) is AccountRule.AGENCY_FORMAT
    for role in (Role.STAFF, Role.COORDINATOR, Role.ADMIN):
        assert check_role(role, None) is None and check_role(role, "") is None
        assert rule_of(lambda role=role: check_role(role, "cras-canaa")) is AccountRule.AGENCY_NOT_ALLOWED


def test_a_new_account_keeps_its_role_and_agency_and_starts_with_a_temporary_password() -> None:
    created = new_account(username="Rita", role=Role.AGENCY, agency_id="cras-canaa", password_hash="h", now=T0)
    assert (created.username, created.role, created.agency_id) == ("rita", Role.AGENCY, "cras-canaa")
    assert created.must_change_password and created.active and created.version == 1
    assert created.actor == "agency:rita@cras-canaa"
    assert new_account(username="root", role=Role.ADMIN, agency_id=None, password_hash="h", now=T0,
                       temporary_password=False).must_change_password is False


# --- the password policy -------------------------------------------------------------------------------------


def test_a_password_has_twelve_characters_at_least() -> None:
    check_password("twelve chars", username="ana", rules=RULES)
    assert rule_of(lambda: check_password("eleven char", username="ana", rules=RULES)) is AccountRule.PASSWORD_TOO_SHORT
    assert rule_of(lambda: check_password("x" * 257, username="ana", rules=RULES)) is AccountRule.PASSWORD_TOO_LONG
    longer = AccountRules(min_password_length=16)
    assert rule_of(lambda: check_password("fifteen chars!!", username="ana", rules=longer)) \
        is AccountRule.PASSWORD_TOO_SHORT


def test_the_password_is_not_the_username() -> None:
    assert rule_of(lambda: check_password("ana.souza.2026", username="ana.souza.2026", rules=RULES)) \
        is AccountRule.PASSWORD_IS_USERNAME
    assert rule_of(lambda: check_password("Ana.Souza.2026", username="ana.souza.2026", rules=RULES)) \
        is AccountRule.PASSWORD_IS_USERNAME
    check_password("ana.souza.2026!", username="ana.souza.2026", rules=RULES)


def test_the_policy_cannot_be_weakened_below_twelve() -> None:
    with pytest.raises(ValueError, match="at least 12"):
        AccountRules(min_password_length=8)


# --- lock-out ------------------------------------------------------------------------------------------------


def fail(acc: Account, *minutes: float) -> Account:
    for minute in minutes:
        acc = acc.after_failed_sign_in(T0 + timedelta(minutes=minute), RULES)
    return acc


def test_five_failures_within_fifteen_minutes_lock_the_account_for_fifteen_minutes() -> None:
    four = fail(account(), 0, 1, 2, 3)
    assert not four.locked(T0 + timedelta(minutes=3)) and len(four.failed_sign_ins) == 4
    locked = fail(four, 14)
    assert locked.locked_until == T0 + timedelta(minutes=29)
    assert locked.locked(T0 + timedelta(minutes=28, seconds=59))
    assert not locked.locked(T0 + timedelta(minutes=29))
    assert locked.failed_sign_ins == ()  # a fresh count once the lock is over
    assert locked.version == account().version + 5


def test_failures_spread_over_more_than_the_window_do_not_lock() -> None:
    spread = fail(account(), 0, 4, 8, 12, 16, 20, 24)
    assert not spread.locked(T0 + timedelta(minutes=24))
    # Only the failures of the last fifteen minutes count.
    assert spread.failed_sign_ins == tuple(T0 + timedelta(minutes=m) for m in (12, 16, 20, 24))


def test_a_success_clears_the_failures() -> None:
    cleared = fail(account(), 0, 1, 2, 3).after_sign_in(T0 + timedelta(minutes=4))
    assert cleared.failed_sign_ins == () and cleared.last_sign_in_at == T0 + timedelta(minutes=4)
    assert not fail(cleared, 5).locked(T0 + timedelta(minutes=5))


def test_the_lock_out_follows_the_settings() -> None:
    strict = AccountRules(max_failures=3, failure_window=timedelta(hours=1), lock_duration=timedelta(hours=2))
    acc = account()
    for minute in (0, 30, 59):
        acc = acc.after_failed_sign_in(T0 + timedelta(minutes=minute), strict)
    assert acc.locked_until == T0 + timedelta(minutes=59, hours=2)


@given(st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=30))
def test_an_account_locks_exactly_when_five_failures_fall_within_the_window(offsets: list[int]) -> None:
    acc, times, locked_at = account(), sorted(offsets), None
    for minute in times:
        now = T0 + timedelta(minutes=minute)
        if acc.locked(now):
            continue  # a locked account's attempts are refused before the password is even checked
        acc = acc.after_failed_sign_in(now, RULES)
        if acc.locked(now):
            locked_at = now
            break
    counted: list[datetime] = []
    expected = None
    for minute in times:
        now = T0 + timedelta(minutes=minute)
        counted = [t for t in counted if now - t < RULES.failure_window] + [now]
        if len(counted) >= RULES.max_failures:
            expected = now
            break
    assert locked_at == expected


def test_an_administrator_reset_unlocks_and_asks_for_a_new_password() -> None:
    locked = fail(account(), 0, 1, 2, 3, 4)
    reset = locked.with_password("new-hash", T0 + timedelta(minutes=5), temporary=True)
    assert not reset.locked(T0 + timedelta(minutes=5)) and reset.must_change_password
    assert reset.password_hash == "new-hash" and reset.password_changed_at == T0 + timedelta(minutes=5)
    chosen = reset.with_password("own-hash", T0 + timedelta(minutes=6), temporary=False)
    assert not chosen.must_change_password


def test_disabling_and_enabling() -> None:
    disabled = fail(account(), 0, 1).disabled()
    assert not disabled.active
    enabled = disabled.enabled()
    assert enabled.active and enabled.failed_sign_ins == () and enabled.version == disabled.version + 1


# --- sessions ------------------------------------------------------------------------------------------------


def test_a_session_ends_after_thirty_idle_minutes_or_twelve_hours_whatever_happens() -> None:
    rules = SessionRules()
    session = open_session(account(language="es"), key="k", now=T0, rules=rules)
    assert (session.username, session.role, session.language) == ("ana", Role.STAFF, "es")
    assert session.alive(T0 + timedelta(minutes=29, seconds=59))
    assert not session.alive(T0 + timedelta(minutes=30))
    # Used every twenty minutes, it lives on, but never past twelve hours after signing in.
    used = session
    for step in range(1, 40):
        now = T0 + timedelta(minutes=20 * step)
        if not used.alive(now):
            break
        used = used.touched(now, rules)
    assert now == T0 + timedelta(hours=12)
    assert not used.alive(T0 + timedelta(hours=12))
    assert used.alive(T0 + timedelta(hours=11, minutes=59))


def test_a_session_token_is_short_and_never_outlives_its_session() -> None:
    rules = SessionRules()
    session = open_session(account(), key="k", now=T0, rules=rules)
    assert session.token_expiry(T0, rules) == T0 + timedelta(minutes=15)
    # Near the idle end, the token ends with the session.
    assert session.token_expiry(T0 + timedelta(minutes=20), rules) == T0 + timedelta(minutes=30)


def test_the_last_use_is_written_at_most_once_a_minute() -> None:
    rules = SessionRules()
    session = open_session(account(), key="k", now=T0, rules=rules)
    assert not session.needs_touch(T0 + timedelta(seconds=59), rules)
    assert session.needs_touch(T0 + timedelta(minutes=1), rules)
