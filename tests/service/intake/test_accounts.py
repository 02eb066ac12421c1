"""Signing in and the accounts behind it: the use cases of migradesk_intake.accounts, on the in-memory
repositories and on the real store alike. Every sign-in attempt, sign-out and account change is audited, and
no audit entry holds a password or a session id."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from migradesk_intake.accounts import (
    AccountService,
    ChangeOwnPassword,
    CreateAccount,
    ResetPassword,
    SetActive,
    SetLanguage,
    SignedIn,
    SignIn,
    SignInRefused,
    session_key,
)
from migradesk_intake.adapters.passwords import Argon2Passwords
from migradesk_intake.demo import DEMO_ACCOUNTS
from migradesk_intake.domain.account import AccountRule, AccountRuleViolation, SignInRefusal
from migradesk_intake.domain.audit import ANONYMOUS, AccountAction, FailureReason
from migradesk_shared.auth import Role
from migradesk_shared.errors import Conflict, NotFound
from tests.service.intake.helpers import Clock

PASSWORD = "ana's own passphrase"
ADMIN = "admin:root"
HERE = "198.51.100.7"


async def create(accounts: AccountService, username: str = "ana", *, role: Role = Role.STAFF,
                 password: str = PASSWORD, agency_id: str | None = None, temporary: bool = False) -> None:
    await accounts.create_account(CreateAccount(username=username, role=role, password=password, actor=ADMIN,
                                                address=HERE, agency_id=agency_id, temporary_password=temporary))


async def sign_in(accounts: AccountService, username: str = "ana", password: str = PASSWORD) -> SignedIn:
    return await accounts.sign_in(SignIn(username=username, password=password, address=HERE))


async def refusal(accounts: AccountService, username: str = "ana", password: str = "not the password") -> \
        SignInRefused:
    with pytest.raises(SignInRefused) as refused:
        await sign_in(accounts, username, password)
    return refused.value


async def test_the_right_password_opens_a_session_and_the_sign_in_is_audited(accounts: AccountService) -> None:
    await create(accounts, "Ana")
    signed = await sign_in(accounts, " ANA ")
    assert len(signed.session_id) >= 43  # 256 random bits
    assert (signed.session.username, signed.session.role, signed.session.agency_id) == ("ana", Role.STAFF, None)
    assert signed.session.key == session_key(signed.session_id) != signed.session_id
    assert await accounts.resume(signed.session_id) is not None
    account = await accounts.accounts.get("ana")
    assert account is not None and account.last_sign_in_at == signed.session.created_at
    events = await accounts.audit_of("ana")
    assert [(e.action, e.actor, e.address) for e in events] == [
        (AccountAction.CREATED, ADMIN, HERE), (AccountAction.SIGN_IN, "staff:ana", HERE)]
    assert PASSWORD not in repr(events) and signed.session_id not in repr(events)


async def test_a_wrong_password_and_an_unknown_username_get_the_same_answer(accounts: AccountService) -> None:
    await create(accounts)
    wrong, unknown = await refusal(accounts), await refusal(accounts, "nobody", PASSWORD)
    assert wrong.refusal is unknown.refusal is SignInRefusal.WRONG_CREDENTIALS
    assert wrong.message == unknown.message == "wrong username or password"
    # The audit knows the difference; the person signing in does not.
    [failed] = [e for e in await accounts.audit_of("ana") if e.action is AccountAction.SIGN_IN_FAILED]
    assert (failed.actor, failed.reason, failed.address) == (ANONYMOUS, FailureReason.WRONG_PASSWORD, HERE)
    assert "not the password" not in repr(await accounts.audit_of("ana"))


async def test_five_failures_in_fifteen_minutes_lock_the_account_for_fifteen_minutes(
        accounts: AccountService, clock: Clock) -> None:
    await create(accounts)
    for _ in range(4):
        assert (await refusal(accounts)).refusal is SignInRefusal.WRONG_CREDENTIALS
    fifth = await refusal(accounts)
    assert fifth.refusal is SignInRefusal.LOCKED and fifth.locked_until is not None
    locked_at = fifth.locked_until - timedelta(minutes=15)
    # Locked: even the right password is refused, without being checked.
    right = await refusal(accounts, password=PASSWORD)
    assert right.refusal is SignInRefusal.LOCKED and right.locked_until == fifth.locked_until
    clock.now = locked_at + timedelta(minutes=15)
    assert (await sign_in(accounts)).session.username == "ana"
    reasons = [(e.action, e.reason) for e in await accounts.audit_of("ana")]
    assert reasons == [(AccountAction.CREATED, None), *[(AccountAction.SIGN_IN_FAILED,
                                                         FailureReason.WRONG_PASSWORD)] * 5,
                       (AccountAction.LOCKED, None), (AccountAction.SIGN_IN_FAILED, FailureReason.LOCKED),
                       (AccountAction.SIGN_IN, None)]


async def test_failures_further_apart_than_the_window_do_not_lock(accounts: AccountService, clock: Clock) -> None:
    await create(accounts)
    for _ in range(8):
        await refusal(accounts)
        clock.now += timedelta(minutes=4)
    assert (await sign_in(accounts)).session.username == "ana"


async def test_failed_sign_ins_at_the_same_moment_all_count(accounts: AccountService) -> None:
    await create(accounts)
    outcomes = await asyncio.gather(*(sign_in(accounts, password=f"guess {n}") for n in range(6)),
                                    return_exceptions=True)
    assert all(isinstance(o, SignInRefused) for o in outcomes)
    assert (await refusal(accounts, password=PASSWORD)).refusal is SignInRefusal.LOCKED


async def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(accounts: AccountService) -> None:
    await create(accounts)
    signed = await sign_in(accounts)
    await accounts.set_active(SetActive("ana", active=False, actor=ADMIN, actor_username="root", address=HERE))
    assert await accounts.resume(signed.session_id) is None
    assert (await refusal(accounts, password=PASSWORD)).refusal is SignInRefusal.DISABLED
    # Only whoever knows the password learns it is disabled.
    assert (await refusal(accounts)).refusal is SignInRefusal.WRONG_CREDENTIALS
    await accounts.set_active(SetActive("ana", active=True, actor=ADMIN, actor_username="root", address=HERE))
    assert (await sign_in(accounts)).session.username == "ana"
    actions = [e.action for e in await accounts.audit_of("ana")]
    assert AccountAction.DISABLED in actions and AccountAction.ENABLED in actions


async def test_an_administrator_cannot_disable_their_own_account(accounts: AccountService) -> None:
    await create(accounts, "root", role=Role.ADMIN)
    with pytest.raises(AccountRuleViolation) as refused:
        await accounts.set_active(SetActive("root", active=False, actor=ADMIN, actor_username="Root", address=HERE))
    assert refused.value.rule is AccountRule.OWN_ACCOUNT


async def test_unknown_accounts_are_not_found(accounts: AccountService) -> None:
    with pytest.raises(NotFound):
        await accounts.set_active(SetActive("nobody", active=False, actor=ADMIN, actor_username="root",
                                            address=HERE))
    with pytest.raises(NotFound):
        await accounts.reset_password(ResetPassword("nobody", "a temporary one", actor=ADMIN, address=HERE))


async def test_a_reset_password_is_temporary_until_its_person_chooses_their_own(accounts: AccountService) -> None:
    await create(accounts)
    before = await sign_in(accounts)
    await accounts.reset_password(ResetPassword("ana", "temporary for ana", actor=ADMIN, address=HERE))
    assert await accounts.resume(before.session_id) is None  # whoever held a session is out
    assert (await refusal(accounts, password=PASSWORD)).refusal is SignInRefusal.WRONG_CREDENTIALS
    first, second = await sign_in(accounts, password="temporary for ana"), \
        await sign_in(accounts, password="temporary for ana")
    assert first.session.must_change_password

    async def change(current: str, new: str) -> AccountRule:
        with pytest.raises(AccountRuleViolation) as refused:
            await accounts.change_own_password(ChangeOwnPassword(first.session_id, current, new, HERE))
        return refused.value.rule

    assert await change("wrong current one", "a brand new passphrase") is AccountRule.CURRENT_PASSWORD_WRONG
    assert await change("temporary for ana", "short") is AccountRule.PASSWORD_TOO_SHORT
    assert await change("temporary for ana", "temporary for ana") is AccountRule.PASSWORD_UNCHANGED
    changed = await accounts.change_own_password(ChangeOwnPassword(
        first.session_id, "temporary for ana", "a brand new passphrase", HERE))
    assert not changed.must_change_password
    kept = await accounts.resume(first.session_id)
    assert kept is not None and not kept.must_change_password
    assert await accounts.resume(second.session_id) is None  # the other session ended
    assert (await sign_in(accounts, password="a brand new passphrase")).session.username == "ana"
    events = await accounts.audit_of("ana")
    assert [e.actor for e in events if e.action is AccountAction.PASSWORD_RESET] == [ADMIN]
    assert [e.actor for e in events if e.action is AccountAction.PASSWORD_CHANGED] == ["staff:ana"]
    assert not any(secret in repr(events) for secret in ("temporary for ana", "brand new", first.session_id))


async def test_a_reset_unlocks_a_locked_account(accounts: AccountService) -> None:
    await create(accounts)
    for _ in range(5):
        await refusal(accounts)
    await accounts.reset_password(ResetPassword("ana", "temporary for ana", actor=ADMIN, address=HERE))
    assert (await sign_in(accounts, password="temporary for ana")).session.must_change_password


async def test_accounts_follow_the_rules_of_usernames_roles_and_passwords(accounts: AccountService) -> None:
    async def rule(**options: object) -> AccountRule:
        with pytest.raises(AccountRuleViolation) as refused:
            await create(accounts, **options)  # type: ignore[arg-type]
        return refused.value.rule

    assert await rule(username="a b") is AccountRule.USERNAME_FORMAT
    assert await rule(username="rita", role=Role.AGENCY) is AccountRule.AGENCY_REQUIRED
    assert await rule(username="bia", agency_id="cras-canaa") is AccountRule.AGENCY_NOT_ALLOWED
    assert await rule(username="bia", password="too short") is AccountRule.PASSWORD_TOO_SHORT
    assert await rule(username="bia.souza.2026", password="bia.souza.2026") is AccountRule.PASSWORD_IS_USERNAME
    await create(accounts, "rita", role=Role.AGENCY, agency_id="cras-canaa", temporary=True)
    with pytest.raises(Conflict):
        await create(accounts, "RITA")
    [rita] = await accounts.list_accounts()
    assert (rita.username, rita.role, rita.agency_id, rita.must_change_password) == (
        "rita", Role.AGENCY, "cras-canaa", True)
    assert rita.password_hash.startswith("$argon2id$") and PASSWORD not in rita.password_hash
    signed = await sign_in(accounts, "rita")
    assert signed.session.agency_id == "cras-canaa" and signed.session.must_change_password


async def test_a_session_ends_after_thirty_idle_minutes(accounts: AccountService, clock: Clock) -> None:
    await create(accounts)
    signed = await sign_in(accounts)
    clock.now += timedelta(minutes=25)
    assert await accounts.resume(signed.session_id) is not None  # used: thirty minutes more from now
    clock.now += timedelta(minutes=25)
    assert await accounts.resume(signed.session_id) is not None
    clock.now += timedelta(minutes=31)
    assert await accounts.resume(signed.session_id) is None
    assert await accounts.sessions.get(signed.session.key) is None  # and it is gone


async def test_a_session_ends_twelve_hours_after_signing_in_however_busy(accounts: AccountService,
                                                                        clock: Clock) -> None:
    await create(accounts)
    signed = await sign_in(accounts)
    for _ in range(47):
        clock.now += timedelta(minutes=15)
        assert await accounts.resume(signed.session_id) is not None
    clock.now += timedelta(minutes=15)
    assert await accounts.resume(signed.session_id) is None


async def test_signing_out_ends_the_session_and_is_audited(accounts: AccountService) -> None:
    await create(accounts, "rita", role=Role.AGENCY, agency_id="cras-canaa")
    signed = await sign_in(accounts, "rita")
    await accounts.sign_out(signed.session_id, address=HERE)
    assert await accounts.resume(signed.session_id) is None
    await accounts.sign_out(signed.session_id, address=HERE)  # twice is once
    await accounts.sign_out("never issued", address=HERE)
    outs = [e for e in await accounts.audit_of("rita") if e.action is AccountAction.SIGN_OUT]
    assert [(e.actor, e.address) for e in outs] == [("agency:rita@cras-canaa", HERE)]


async def test_the_page_language_is_kept_with_the_account_and_its_sessions(accounts: AccountService) -> None:
    await create(accounts)
    first, second = await sign_in(accounts), await sign_in(accounts)
    await accounts.set_language(SetLanguage(first.session_id, "ht-HT", HERE))
    account = await accounts.accounts.get("ana")
    assert account is not None and account.language == "ht"
    for signed in (first, second):
        session = await accounts.resume(signed.session_id)
        assert session is not None and session.language == "ht"
    assert (await sign_in(accounts)).session.language == "ht"
    with pytest.raises(AccountRuleViolation) as refused:
        await accounts.set_language(SetLanguage(first.session_id, "de", HERE))
    assert refused.value.rule is AccountRule.LANGUAGE_UNKNOWN
    assert [e.action for e in await accounts.audit_of("ana")].count(AccountAction.LANGUAGE_SET) == 1


async def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_sign_in(accounts: AccountService) -> None:
    await create(accounts)
    old = await accounts.accounts.get("ana")
    assert old is not None
    stronger = AccountService(accounts.accounts, accounts.sessions,
                              Argon2Passwords(PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)),
                              clock=accounts.now)
    await sign_in(stronger)
    new = await accounts.accounts.get("ana")
    assert new is not None and new.password_hash != old.password_hash and "m=1024,t=2,p=1" in new.password_hash
    assert (await sign_in(stronger)).session.username == "ana"


async def test_ended_sessions_are_pruned_by_day(accounts: AccountService, clock: Clock) -> None:
    await create(accounts)
    old = await sign_in(accounts)
    clock.now += timedelta(days=3)
    recent = await sign_in(accounts)
    assert await accounts.prune_sessions() == 1
    assert await accounts.sessions.get(old.session.key) is None
    assert await accounts.sessions.get(recent.session.key) is not None


async def test_the_demo_accounts_are_created_once_one_per_role(accounts: AccountService) -> None:
    assert await accounts.ensure_demo_accounts(DEMO_ACCOUNTS) == 4
    assert await accounts.ensure_demo_accounts(DEMO_ACCOUNTS) == 0
    assert {a.role for a in await accounts.list_accounts()} == set(Role)
    for demo in DEMO_ACCOUNTS:
        signed = await sign_in(accounts, demo.username, demo.password)
        assert not signed.session.must_change_password and signed.session.agency_id == demo.agency_id
