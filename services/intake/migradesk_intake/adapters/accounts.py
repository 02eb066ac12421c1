"""Where intake keeps the accounts people sign in with and their sessions: the interfaces in domain terms, and
their implementations on the MongoDB-compatible store.

Every look-up is by `_id` (an account by its username, a session by the hash of its id, a failure counter by
its key and window) or an equality on an index's leading field (the sessions of an account, the sessions and
counters of a day), so signing in and checking a session cost the same with ten accounts as with ten
thousand. An account change stores its audit entry in the same document write (like a case's); sign-in attempts
and sign-outs go to the audit log (like reads of a case). Failures are counted with an atomic `$inc`, so every
process of the service adds to the same count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_intake.domain.account import Account, FailureCounter, Session
from migradesk_intake.domain.audit import AccountAction, AccountEvent, FailureReason
from migradesk_shared.contracts.vocabulary import Role
from migradesk_shared.errors import Conflict

ACCOUNTS, SESSIONS, AUDIT_LOG = "accounts", "sessions", "audit_log"
# Failed sign-ins counted outside an account (by network address, by unknown username): domain.account.
SIGN_IN_FAILURES = "sign_in_failures"
# How the audit log names an account (a person is named by their id there, which never starts like this).
ACCOUNT_SUBJECT = "account:"
UNKNOWN_ACCOUNT = "account:(unknown)"


class AccountRepository(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def add(self, account: Account, *, event: AccountEvent) -> None:
        """Store a new account with the audit entry of its creation. Conflict if the username is taken."""
        ...

    async def get(self, username: str) -> Account | None: ...

    async def save(self, account: Account, *, expected_version: int, event: AccountEvent | None = None) -> bool:
        """Store a changed account (with the audit entry of the change), only if the stored one still has
        `expected_version`: False (nothing written) when someone changed it meanwhile or it is gone."""
        ...

    async def all(self) -> list[Account]:
        """Every account, by username (an administrator's list: a municipality has tens of them)."""
        ...

    async def record(self, event: AccountEvent) -> None:
        """A sign-in attempt or a sign-out, in the audit log."""
        ...

    async def events_of(self, username: str) -> list[AccountEvent]:
        """Everything audited about an account, oldest first."""
        ...

    async def failure_counters(self, counter_ids: Sequence[str]) -> list[FailureCounter]:
        """The failure counters of these ids that exist."""
        ...

    async def count_failure(self, counter_id: str, *, day: date) -> int:
        """One more failure on the counter (created at the first): the count with it, atomic whichever process
        counts."""
        ...

    async def lock_failures(self, counter_id: str, until: datetime) -> None:
        """The counter reached its limit: refused until then (a later lock never shortens an earlier one)."""
        ...

    async def clear_failures(self, counter_ids: Sequence[str]) -> None:
        """Forget these counters: a successful sign-in."""
        ...

    async def prune_failures(self, *, today: date, look_back_days: int = 60) -> int:
        """Forget the counters of the days before yesterday (their windows and locks are long over)."""
        ...


class SessionRepository(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def add(self, session: Session) -> None: ...

    async def get(self, key: str) -> Session | None: ...

    async def touch(self, session: Session) -> None:
        """Store the session's last use and its pushed-back idle expiry."""
        ...

    async def delete(self, key: str) -> bool:
        """False when there was no such session."""
        ...

    async def delete_of_account(self, username: str, *, keep: str | None = None) -> int:
        """End an account's sessions (all but `keep`), e.g. when it is disabled or its password changes."""
        ...

    async def update_of_account(self, username: str, *, language: str | None = None,
                                must_change_password: bool | None = None) -> None:
        """Carry a change of the account into its live sessions (what their tokens will say)."""
        ...

    async def prune(self, *, today: date, look_back_days: int = 60) -> int:
        """Forget the sessions that ended before yesterday (the store has no TTL index)."""
        ...


# --- documents ----------------------------------------------------------------------------------------------


def account_document(account: Account) -> dict[str, Any]:
    """An account's state, without its audit array (writes push to it)."""
    return {"_id": account.username, "role": account.role.value, "agency_id": account.agency_id,
            "password_hash": account.password_hash, "active": account.active,
            "must_change_password": account.must_change_password, "language": account.language,
            "failed_sign_ins": list(account.failed_sign_ins), "locked_until": account.locked_until,
            "last_sign_in_at": account.last_sign_in_at, "password_changed_at": account.password_changed_at,
            "created_at": account.created_at, "version": account.version}


def account_from_document(doc: dict[str, Any]) -> Account:
    return Account(username=doc["_id"], role=Role(doc["role"]), password_hash=doc["password_hash"],
                   created_at=doc["created_at"], agency_id=doc.get("agency_id"), active=doc.get("active", True),
                   must_change_password=doc.get("must_change_password", False), language=doc.get("language"),
                   failed_sign_ins=tuple(doc.get("failed_sign_ins") or ()), locked_until=doc.get("locked_until"),
                   last_sign_in_at=doc.get("last_sign_in_at"), password_changed_at=doc.get("password_changed_at"),
                   version=doc["version"])


def account_audit_entry(event: AccountEvent) -> dict[str, Any]:
    """An account change's entry in the account's own `audit` array."""
    return {"actor": event.actor, "action": event.action.value, "at": event.at, "address": event.address}


def account_event_from_entry(username: str, entry: dict[str, Any]) -> AccountEvent:
    return AccountEvent(actor=entry["actor"], action=AccountAction(entry["action"]), username=username,
                        at=entry["at"], address=entry.get("address"))


def audit_log_document(event: AccountEvent) -> dict[str, Any]:
    subject = ACCOUNT_SUBJECT + event.username if event.username else UNKNOWN_ACCOUNT
    return {"_id": str(uuid.uuid4()), "actor": event.actor, "action": event.action.value, "subject_id": subject,
            "at": event.at, "address": event.address, "reason": event.reason.value if event.reason else None}


def account_event_from_log(doc: dict[str, Any]) -> AccountEvent:
    subject: str = doc["subject_id"]
    return AccountEvent(actor=doc["actor"], action=AccountAction(doc["action"]),
                        username=None if subject == UNKNOWN_ACCOUNT else subject.removeprefix(ACCOUNT_SUBJECT),
                        at=doc["at"], address=doc.get("address"),
                        reason=FailureReason(doc["reason"]) if doc.get("reason") else None)


def session_document(session: Session) -> dict[str, Any]:
    return {"_id": session.key, "username": session.username, "role": session.role.value,
            "agency_id": session.agency_id, "language": session.language,
            "must_change_password": session.must_change_password, "created_at": session.created_at,
            "last_seen_at": session.last_seen_at, "idle_expiry": session.idle_expiry,
            "absolute_expiry": session.absolute_expiry,
            # The day the session ends at the latest: pruning deletes whole past days by an indexed equality.
            "day": session.absolute_expiry.date().isoformat()}


def session_from_document(doc: dict[str, Any]) -> Session:
    return Session(key=doc["_id"], username=doc["username"], role=Role(doc["role"]), created_at=doc["created_at"],
                   last_seen_at=doc["last_seen_at"], idle_expiry=doc["idle_expiry"],
                   absolute_expiry=doc["absolute_expiry"], agency_id=doc.get("agency_id"),
                   language=doc.get("language"), must_change_password=doc.get("must_change_password", False))


def failure_counter_from_document(doc: dict[str, Any]) -> FailureCounter:
    return FailureCounter(counter_id=doc["_id"], failures=doc.get("failures", 0), locked_until=doc.get("locked_until"))


def days_to_prune(today: date, look_back_days: int) -> list[str]:
    """The days whose sessions have all ended: before yesterday (a session lasts hours, never a day)."""
    return [(today - timedelta(days=age)).isoformat() for age in range(2, 2 + look_back_days)]


# --- on the store -------------------------------------------------------------------------------------------


class MongoAccountRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.accounts = db[ACCOUNTS]
        self.audit = db[AUDIT_LOG]
        self.failures = db[SIGN_IN_FAILURES]

    async def ensure_indexes(self) -> None:
        # The audit log's index (also created by the case repository): an account's entries by subject.
        await self.audit.create_index([("subject_id", 1), ("at", 1)])
        await self.failures.create_index([("day", 1)])

    async def add(self, account: Account, *, event: AccountEvent) -> None:
        try:
            await self.accounts.insert_one({**account_document(account), "audit": [account_audit_entry(event)]})
        except DuplicateKeyError as exc:
            raise Conflict(f"the username {account.username} is taken", field="username") from exc

    async def get(self, username: str) -> Account | None:
        doc = await self.accounts.find_one({"_id": username}, {"audit": 0})
        return account_from_document(doc) if doc is not None else None

    async def save(self, account: Account, *, expected_version: int, event: AccountEvent | None = None) -> bool:
        update: dict[str, Any] = {"$set": {k: v for k, v in account_document(account).items() if k != "_id"}}
        if event is not None:
            update["$push"] = {"audit": account_audit_entry(event)}
        result = await self.accounts.update_one({"_id": account.username, "version": expected_version}, update)
        return result.matched_count == 1

    async def all(self) -> list[Account]:
        docs = await self.accounts.find({}, {"audit": 0}).sort("_id", 1).to_list()
        return [account_from_document(doc) for doc in docs]

    async def record(self, event: AccountEvent) -> None:
        await self.audit.insert_one(audit_log_document(event))

    async def events_of(self, username: str) -> list[AccountEvent]:
        doc = await self.accounts.find_one({"_id": username}, {"audit": 1})
        changes = [account_event_from_entry(username, e) for e in (doc or {}).get("audit", [])]
        logged = [account_event_from_log(d)
                  for d in await self.audit.find({"subject_id": ACCOUNT_SUBJECT + username}).to_list()]
        return sorted([*changes, *logged], key=lambda e: e.at)

    async def failure_counters(self, counter_ids: Sequence[str]) -> list[FailureCounter]:
        docs = await self.failures.find({"_id": {"$in": list(counter_ids)}}).to_list()
        return [failure_counter_from_document(doc) for doc in docs]

    async def count_failure(self, counter_id: str, *, day: date) -> int:
        update = {"$inc": {"failures": 1}, "$setOnInsert": {"day": day.isoformat()}}
        try:
            doc = await self.failures.find_one_and_update({"_id": counter_id}, update, upsert=True,
                                                          return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            # Two processes creating the same counter at once: the loser's insert hit the unique _id; it counts
            # on the one the other created.
            doc = await self.failures.find_one_and_update({"_id": counter_id}, {"$inc": {"failures": 1}},
                                                          return_document=ReturnDocument.AFTER)
        return int(doc["failures"]) if doc is not None else 1

    async def lock_failures(self, counter_id: str, until: datetime) -> None:
        await self.failures.update_one({"_id": counter_id}, {"$max": {"locked_until": until}})

    async def clear_failures(self, counter_ids: Sequence[str]) -> None:
        await self.failures.delete_many({"_id": {"$in": list(counter_ids)}})

    async def prune_failures(self, *, today: date, look_back_days: int = 60) -> int:
        removed = 0
        for day in days_to_prune(today, look_back_days):
            removed += (await self.failures.delete_many({"day": day})).deleted_count
        return removed


class MongoSessionRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.sessions = db[SESSIONS]

    async def ensure_indexes(self) -> None:
        await self.sessions.create_index([("username", 1)])
        await self.sessions.create_index([("day", 1)])

    async def add(self, session: Session) -> None:
        await self.sessions.insert_one(session_document(session))

    async def get(self, key: str) -> Session | None:
        doc = await self.sessions.find_one({"_id": key})
        return session_from_document(doc) if doc is not None else None

    async def touch(self, session: Session) -> None:
        await self.sessions.update_one({"_id": session.key}, {"$set": {"last_seen_at": session.last_seen_at,
                                                                       "idle_expiry": session.idle_expiry}})

    async def delete(self, key: str) -> bool:
        return (await self.sessions.delete_one({"_id": key})).deleted_count == 1

    async def _keys_of(self, username: str) -> list[str]:
        return [doc["_id"] async for doc in self.sessions.find({"username": username}, {"_id": 1})]

    async def delete_of_account(self, username: str, *, keep: str | None = None) -> int:
        # Found by the indexed username, deleted by _id: both are what the store looks up without a scan.
        keys = [key for key in await self._keys_of(username) if key != keep]
        if not keys:
            return 0
        return (await self.sessions.delete_many({"_id": {"$in": keys}})).deleted_count

    async def update_of_account(self, username: str, *, language: str | None = None,
                                must_change_password: bool | None = None) -> None:
        changes: dict[str, Any] = {}
        if language is not None:
            changes["language"] = language
        if must_change_password is not None:
            changes["must_change_password"] = must_change_password
        keys = await self._keys_of(username)
        if changes and keys:
            await self.sessions.update_many({"_id": {"$in": keys}}, {"$set": changes})

    async def prune(self, *, today: date, look_back_days: int = 60) -> int:
        removed = 0
        for day in days_to_prune(today, look_back_days):
            removed += (await self.sessions.delete_many({"day": day})).deleted_count
        return removed

