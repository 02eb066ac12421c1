"""LGPD accountability: who read or changed a person's data, when, and in which case. Ids only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccessKind(StrEnum):
    CASE_OPEN = "case.open"
    CASE_READ = "case.read"
    DUPLICATE_CANDIDATE = "person.duplicate_candidate"
    PERSON_ERASE = "person.erase"
    CONSENT_CHANGE = "person.consent"
    PERSON_REGISTER = "person.register"
    PERSON_READ = "person.read"
    # Named in a list staff saw: the worklist, search results.
    PERSON_LISTED = "person.listed"
    PERSON_CORRECT = "person.correct"
    # The writes of a case after it was opened: each is an entry of its timeline.
    CASE_NOTE = "case.note"
    CASE_FOLLOW_UP = "case.follow_up"
    CASE_FOLLOW_UP_DONE = "case.follow_up_done"
    CASE_REQUEST = "case.request"
    CASE_CLOSE = "case.close"
    CASE_REOPEN = "case.reopen"


@dataclass(frozen=True)
class Access:
    actor: str
    action: AccessKind
    subject_id: str  # the person
    case_id: str
    at: datetime
    # Why, where the action needs a reason (an erasure), and the reference of the request that asked for it.
    reason: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Write:
    """A write of a case or a person, kept in the document it changed, in the same write: who, what, when, and
    which part (a note's, follow-up's or request's id, the outcome of a closing); ids and codes only."""

    actor: str
    action: AccessKind
    at: datetime
    subject: str | None = None


# --- accounts and sign-in ------------------------------------------------------------------------------------


class AccountAction(StrEnum):
    SIGN_IN = "account.sign_in"
    SIGN_IN_FAILED = "account.sign_in_failed"
    LOCKED = "account.locked"  # the failure that locked the account
    # The failure that made a network address refused for a while (the username is not the point: no account).
    ADDRESS_THROTTLED = "account.address_throttled"
    SIGN_OUT = "account.sign_out"
    CREATED = "account.created"
    DISABLED = "account.disabled"
    ENABLED = "account.enabled"
    # By an administrator (a temporary password), and by the person themselves.
    PASSWORD_RESET = "account.password_reset"  # noqa: S105 (a name, not a password)
    PASSWORD_CHANGED = "account.password_changed"  # noqa: S105 (a name, not a password)
    LANGUAGE_SET = "account.language_set"


class FailureReason(StrEnum):
    """Why a sign-in failed, for the audit only (the person is told less, see domain.account.SignInRefusal)."""

    UNKNOWN_USERNAME = "unknown_username"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a name, not a password)
    LOCKED = "locked"
    DISABLED = "disabled"
    THROTTLED = "throttled"  # from an address refused for a while


# The actor of what nobody signed in did: a failed sign-in.
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class AccountEvent:
    """A sign-in attempt, a sign-out or a change of an account: who, what, which account, when, from where.
    Never a password, never a session id."""

    actor: str
    action: AccountAction
    username: str | None  # the account concerned; None when the username given matches no account
    at: datetime
    address: str | None  # the client's network address as the service saw it
    reason: FailureReason | None = None
