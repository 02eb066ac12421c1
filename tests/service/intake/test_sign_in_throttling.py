"""Failed sign-ins counted outside the accounts: one network address failing too often (across usernames) is
refused for a while, and a username no account has locks exactly as an account does. On the in-memory
repositories and on the real store; the count holds across two processes sharing the store."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.accounts import AccountService, CreateAccount, SignIn, SignInRefused
from migradesk_intake.adapters.accounts import (
    SIGN_IN_FAILURES,
    AccountRepository,
    MongoAccountRepository,
    MongoSessionRepository,
    SessionRepository,
)
from migradesk_intake.adapters.accounts_memory import InMemoryAccountRepository, InMemorySessionRepository
from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from migradesk_intake.domain.account import AccountRules, SignInRefusal
from migradesk_intake.domain.audit import AccountAction, FailureReason
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role
from tests.service.intake.helpers import Clock, cheap_passwords

PASSWORD = "ana's own passphrase"
OFFICE, ELSEWHERE = "203.0.113.40", "198.51.100.8"
# Three failures from one address refuse it; an account (or an unknown username) locks at five.
RULES = AccountRules(max_failures_per_address=3)


@pytest.fixture
async def accounts(account_stores: tuple[AccountRepository, SessionRepository], clock: Clock) -> AccountService:
    account_repository, session_repository = account_stores
    await account_repository.ensure_indexes()
    await session_repository.ensure_indexes()
    service = AccountService(account_repository, session_repository, cheap_passwords(), rules=RULES, clock=clock)
    for username in ("ana", "bia"):
        await service.create_account(CreateAccount(username=username, role=Role.STAFF, password=PASSWORD,
                                                   actor="admin:root", address=None, temporary_password=False))
    return service


async def refusal(accounts: AccountService, username: str, password: str = "a wrong guess",
                  address: str = OFFICE) -> SignInRefused:
    with pytest.raises(SignInRefused) as refused:
        await accounts.sign_in(SignIn(username=username, password=password, address=address))
    return refused.value


async def test_an_address_failing_too_often_is_refused_for_a_while_whatever_the_username(
        accounts: AccountService, clock: Clock) -> None:
    assert (await refusal(accounts, "ana")).refusal is SignInRefusal.WRONG_CREDENTIALS
    assert (await refusal(accounts, "bia")).refusal is SignInRefusal.WRONG_CREDENTIALS
    third = await refusal(accounts, "nobody")
    assert third.refusal is SignInRefusal.THROTTLED and third.locked_until is not None
    throttled_at = third.locked_until - RULES.lock_duration
    # Refused without the password being checked, even the right one of an account that never failed.
    right = await refusal(accounts, "bia", PASSWORD)
    assert right.refusal is SignInRefusal.THROTTLED and right.locked_until == third.locked_until
    # Another address is not concerned.
    assert (await accounts.sign_in(SignIn("bia", PASSWORD, ELSEWHERE))).session.username == "bia"
    clock.now = throttled_at + RULES.lock_duration
    assert (await accounts.sign_in(SignIn("bia", PASSWORD, OFFICE))).session.username == "bia"
    # Audited: the failure that refused the address, and the attempt refused, with the account it named.
    bia = [(e.action, e.reason, e.address) for e in await accounts.audit_of("bia")]
    assert (AccountAction.SIGN_IN_FAILED, FailureReason.THROTTLED, OFFICE) in bia
    assert (AccountAction.SIGN_IN, None, OFFICE) == bia[-1]


async def test_the_address_refusal_is_audited_once_with_the_address(
        account_stores: tuple[AccountRepository, SessionRepository], clock: Clock) -> None:
    logged: list[Any] = []
    account_repository, session_repository = account_stores
    service = AccountService(account_repository, session_repository, cheap_passwords(), rules=RULES, clock=clock)
    record = account_repository.record

    async def recording(event: Any) -> None:
        logged.append(event)
        await record(event)

    account_repository.record = recording  # type: ignore[method-assign]
    for _ in range(4):
        await refusal(service, "nobody")
    throttled = [e for e in logged if e.action is AccountAction.ADDRESS_THROTTLED]
    assert [(e.actor, e.address, e.username) for e in throttled] == [("system", OFFICE, None)]
    assert logged[-1].reason is FailureReason.THROTTLED


async def test_a_successful_sign_in_clears_the_address_failures(accounts: AccountService) -> None:
    for _ in range(2):
        await refusal(accounts, "ana")
    await accounts.sign_in(SignIn("bia", PASSWORD, OFFICE))
    for _ in range(2):
        assert (await refusal(accounts, "ana")).refusal is SignInRefusal.WRONG_CREDENTIALS


async def test_every_guess_counts_for_the_address_also_the_one_that_locks_an_account(
        account_stores: tuple[AccountRepository, SessionRepository], clock: Clock) -> None:
    account_repository, session_repository = account_stores
    service = AccountService(account_repository, session_repository, cheap_passwords(),
                             rules=AccountRules(max_failures=2, max_failures_per_address=5), clock=clock)
    await service.create_account(CreateAccount(username="ana", role=Role.STAFF, password=PASSWORD,
                                                actor="admin:root", address=None, temporary_password=False))
    assert [(await refusal(service, name)).refusal for name in ("ana", "ana", "ghost", "ghost")] == [
        SignInRefusal.WRONG_CREDENTIALS, SignInRefusal.LOCKED, SignInRefusal.WRONG_CREDENTIALS, SignInRefusal.LOCKED]
    assert (await refusal(service, "bia")).refusal is SignInRefusal.THROTTLED


async def test_a_username_no_account_has_locks_as_an_account_does(accounts: AccountService,
                                                                   clock: Clock) -> None:
    # Each failure from another address: only the username's count is at stake.
    answers = [await refusal(accounts, name, address=f"192.0.2.{n}") for n in range(5) for name in ("ana", "ghost")]
    known, unknown = answers[0::2], answers[1::2]
    assert [a.refusal for a in known] == [a.refusal for a in unknown] == [SignInRefusal.WRONG_CREDENTIALS] * 4 + [
        SignInRefusal.LOCKED]
    assert known[-1].message == unknown[-1].message
    assert known[-1].locked_until is not None and unknown[-1].locked_until is not None
    assert known[-1].locked_until - unknown[-1].locked_until < timedelta(seconds=5)
    again = await refusal(accounts, "ghost", address="192.0.2.99")
    assert again.refusal is SignInRefusal.LOCKED and again.locked_until == unknown[-1].locked_until
    clock.now = unknown[-1].locked_until
    assert (await refusal(accounts, "ghost", address="192.0.2.99")).refusal is SignInRefusal.WRONG_CREDENTIALS


async def test_failure_counters_are_pruned_by_whole_past_days(accounts: AccountService, clock: Clock) -> None:
    await refusal(accounts, "ghost")
    clock.now += timedelta(days=3)
    assert await accounts.prune_sessions() == 2  # the address's counter and the unknown username's
    assert (await refusal(accounts, "ghost")).refusal is SignInRefusal.WRONG_CREDENTIALS


@pytest.mark.infra
async def test_two_processes_count_the_same_failures(intake_db: AsyncDatabase[dict[str, Any]], infra: Any,
                                                     clock: Clock) -> None:
    """Each process has its own connection to the store; failures at the same moment on both all count."""
    other: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        processes = [AccountService(MongoAccountRepository(db), MongoSessionRepository(db), cheap_passwords(),
                                    rules=AccountRules(max_failures_per_address=6), clock=clock)
                     for db in (intake_db, other[intake_db.name])]
        await processes[0].accounts.ensure_indexes()
        outcomes = await asyncio.gather(*(processes[n % 2].sign_in(SignIn(f"user{n}", "guess", OFFICE))
                                          for n in range(5)), return_exceptions=True)
        assert all(isinstance(o, SignInRefused) and o.refusal is SignInRefusal.WRONG_CREDENTIALS
                   for o in outcomes)
        sixth = await refusal(processes[1], "user5")
        assert sixth.refusal is SignInRefusal.THROTTLED
        assert (await refusal(processes[0], "user6")).refusal is SignInRefusal.THROTTLED
        counters = await intake_db[SIGN_IN_FAILURES].find({"_id": {"$regex": "^address:"}}).to_list()
        assert [(c["failures"], c["locked_until"] is not None) for c in counters] == [(6, True)]
        indexes = {tuple(k for k, _ in spec["key"]) for spec in
                   (await intake_db[SIGN_IN_FAILURES].index_information()).values()}
        assert ("day",) in indexes
    finally:
        await other.close()


# --- the sign-in page -----------------------------------------------------------------------------------------

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), seed_demo_accounts=True,
                          sign_in_max_failures_per_address=2)


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


def post_sign_in(client: TestClient, username: str, password: str, lang: str) -> Any:
    form = client.get(f"/sign-in?lang={lang}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": token.group(1)}, follow_redirects=False)


@pytest.mark.parametrize(("lang", "says"), [("en", "Too many failed sign-ins from this network: try again after"),
                                            ("pt-BR", "Tentativas de acesso falhas demais a partir desta rede")])
def test_the_page_says_the_address_is_refused_until_when_in_the_person_s_language(lang: str, says: str) -> None:
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(),
                               accounts=InMemoryAccountRepository(), sessions=InMemorySessionRepository(),
                               passwords=cheap_passwords())) as client:
        assert post_sign_in(client, "ana", "not it", lang).status_code == 401
        refused = post_sign_in(client, "bia", "not it either", lang)
        assert refused.status_code == 429
        assert alert(refused.text).startswith(says)
        assert re.search(r"\d{1,2}:\d{2}", alert(refused.text))


def test_an_inline_script_runs_with_the_nonce_of_its_response() -> None:
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(),
                               accounts=InMemoryAccountRepository(), sessions=InMemorySessionRepository(),
                               passwords=cheap_passwords())) as client:
        assert post_sign_in(client, "ana", "demo-staff-2026", "en").status_code == 303
        desk = client.get("/")
        assert desk.status_code == 200
        policy = desk.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce is not None
        scripts = re.findall(r"<script(?![^>]*application/json)([^>]*)>", desk.text)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in attributes for attributes in scripts)
        assert nonce.group(1) not in client.get("/").headers["content-security-policy"]
