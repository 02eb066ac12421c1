"""What only the real store can prove about accounts and sessions: what the documents hold (a password's hash,
never the password; a session id's hash, never the id), the indexes the look-ups use, and the command line
that creates a deployment's first administrator."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.accounts import AccountService, CreateAccount, SignIn, SignInRefused
from migradesk_intake.adapters.accounts import MongoAccountRepository, MongoSessionRepository
from migradesk_shared.auth import Role
from tests.service.intake.helpers import Clock, cheap_passwords

pytestmark = [pytest.mark.infra]

PASSWORD = "rita's own passphrase"


@pytest.fixture
async def accounts(intake_db: AsyncDatabase[dict[str, Any]]) -> AccountService:
    service = AccountService(MongoAccountRepository(intake_db), MongoSessionRepository(intake_db),
                             cheap_passwords(), clock=Clock())
    await service.accounts.ensure_indexes()
    await service.sessions.ensure_indexes()
    return service


async def test_the_store_holds_hashes_never_passwords_or_session_ids(
        accounts: AccountService, intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    await accounts.create_account(CreateAccount(username="rita", role=Role.AGENCY, password=PASSWORD,
                                                actor="admin:root", address="203.0.113.9", agency_id="cras-canaa"))
    with pytest.raises(SignInRefused):
        await accounts.sign_in(SignIn("rita", "a wrong guess", "203.0.113.9"))
    signed = await accounts.sign_in(SignIn("rita", PASSWORD, "203.0.113.9"))

    account = await intake_db["accounts"].find_one({"_id": "rita"})
    assert account is not None
    assert sorted(account) == sorted([
        "_id", "role", "agency_id", "password_hash", "active", "must_change_password", "language",
        "failed_sign_ins", "locked_until", "last_sign_in_at", "password_changed_at", "created_at", "version",
        "audit"])
    assert account["password_hash"].startswith("$argon2id$")
    assert [(e["actor"], e["action"], e["address"]) for e in account["audit"]] == [
        ("admin:root", "account.created", "203.0.113.9")]
    [session] = await intake_db["sessions"].find().to_list()
    assert session["_id"] == signed.session.key != signed.session_id
    assert (session["username"], session["role"], session["agency_id"]) == ("rita", "agency", "cras-canaa")
    log = await intake_db["audit_log"].find({"subject_id": "account:rita"}).sort("at", 1).to_list()
    assert [(e["action"], e["reason"], e["actor"], e["address"]) for e in log] == [
        ("account.sign_in_failed", "wrong_password", "anonymous", "203.0.113.9"),
        ("account.sign_in", None, "agency:rita@cras-canaa", "203.0.113.9")]
    everything = str([await intake_db[name].find().to_list() for name in ("accounts", "sessions", "audit_log")])
    for secret in (PASSWORD, "a wrong guess", signed.session_id):
        assert secret not in everything


async def test_sessions_are_found_by_index(accounts: AccountService,
                                           intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    indexes = {tuple(key for key, _ in spec["key"]) for spec in
               (await intake_db["sessions"].index_information()).values()}
    assert {("_id",), ("username",), ("day",)} <= indexes


def test_the_first_administrator_is_created_on_the_command_line(infra: Any, namespace: str) -> None:
    env = {**os.environ, "INTAKE_MONGODB_URI": infra.mongodb_uri, "INTAKE_MONGODB_DATABASE": f"{namespace}_intake"}
    command = [sys.executable, "-m", "migradesk_intake", "create-admin", "--username", "Root"]
    created = subprocess.run(command, input="the first admin's passphrase\n", env=env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    assert "administrator root created" in created.stdout
    again = subprocess.run(command, input="another passphrase!\n", env=env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert again.returncode != 0 and "root is taken" in again.stderr
    weak = subprocess.run([*command[:-1], "second"], input="short\n", env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert weak.returncode != 0 and "at least 12 characters" in weak.stderr
