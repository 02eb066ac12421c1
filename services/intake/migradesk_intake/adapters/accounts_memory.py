"""In-memory account and session repositories for fast tests, keeping the store's rules: unique usernames
(Conflict), writes conditional on the version, account changes audited with the change, sign-in attempts in
the audit log, sessions pruned by whole past days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from migradesk_intake.adapters.accounts import days_to_prune
from migradesk_intake.domain.account import Account, FailureCounter, Session
from migradesk_intake.domain.audit import AccountEvent
from migradesk_shared.errors import Conflict


@dataclass
class _StoredAccount:
    account: Account
    audit: list[AccountEvent] = field(default_factory=list)


class InMemoryAccountRepository:
    def __init__(self) -> None:
        self._accounts: dict[str, _StoredAccount] = {}
        self._log: list[AccountEvent] = []
        self._failures: dict[str, tuple[FailureCounter, str]] = {}  # with the day it was created

    async def ensure_indexes(self) -> None:
        return None

    async def add(self, account: Account, *, event: AccountEvent) -> None:
        if account.username in self._accounts:
            raise Conflict(f"the username {account.username} is taken", field="username")
        self._accounts[account.username] = _StoredAccount(account, [event])

    async def get(self, username: str) -> Account | None:
        stored = self._accounts.get(username)
        return stored.account if stored is not None else None

    async def save(self, account: Account, *, expected_version: int, event: AccountEvent | None = None) -> bool:
        stored = self._accounts.get(account.username)
        if stored is None or stored.account.version != expected_version:
            return False
        stored.account = account
        if event is not None:
            stored.audit.append(event)
        return True

    async def all(self) -> list[Account]:
        return [self._accounts[name].account for name in sorted(self._accounts)]

    async def record(self, event: AccountEvent) -> None:
        self._log.append(event)

    async def events_of(self, username: str) -> list[AccountEvent]:
        stored = self._accounts.get(username)
        changes = stored.audit if stored is not None else []
        return sorted([*changes, *(e for e in self._log if e.username == username)], key=lambda e: e.at)

    async def failure_counters(self, counter_ids: Sequence[str]) -> list[FailureCounter]:
        return [self._failures[i][0] for i in counter_ids if i in self._failures]

    async def count_failure(self, counter_id: str, *, day: date) -> int:
        counter, created = self._failures.get(counter_id, (FailureCounter(counter_id, 0), day.isoformat()))
        self._failures[counter_id] = (replace(counter, failures=counter.failures + 1), created)
        return counter.failures + 1

    async def lock_failures(self, counter_id: str, until: datetime) -> None:
        if counter_id in self._failures:
            counter, created = self._failures[counter_id]
            if counter.locked_until is None or counter.locked_until < until:
                self._failures[counter_id] = (replace(counter, locked_until=until), created)

    async def clear_failures(self, counter_ids: Sequence[str]) -> None:
        for counter_id in counter_ids:
            self._failures.pop(counter_id, None)

    async def prune_failures(self, *, today: date, look_back_days: int = 60) -> int:
        days = set(days_to_prune(today, look_back_days))
        ended = [i for i, (_, day) in self._failures.items() if day in days]
        for counter_id in ended:
            del self._failures[counter_id]
        return len(ended)


class InMemorySessionRepository:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def add(self, session: Session) -> None:
        self._sessions[session.key] = session

    async def get(self, key: str) -> Session | None:
        return self._sessions.get(key)

    async def touch(self, session: Session) -> None:
        stored = self._sessions.get(session.key)
        if stored is not None:
            self._sessions[session.key] = replace(stored, last_seen_at=session.last_seen_at,
                                                  idle_expiry=session.idle_expiry)

    async def delete(self, key: str) -> bool:
        return self._sessions.pop(key, None) is not None

    async def delete_of_account(self, username: str, *, keep: str | None = None) -> int:
        keys = [k for k, s in self._sessions.items() if s.username == username and k != keep]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    async def update_of_account(self, username: str, *, language: str | None = None,
                                must_change_password: bool | None = None) -> None:
        for key, session in list(self._sessions.items()):
            if session.username == username:
                self._sessions[key] = replace(
                    session, language=language if language is not None else session.language,
                    must_change_password=must_change_password if must_change_password is not None
                    else session.must_change_password)

    async def prune(self, *, today: date, look_back_days: int = 60) -> int:
        days = set(days_to_prune(today, look_back_days))
        ended = [k for k, s in self._sessions.items() if s.absolute_expiry.date().isoformat() in days]
        for key in ended:
            del self._sessions[key]
        return len(ended)
