"""Accounts people sign in with, and their sessions: who may have one, which passwords are acceptable, when
repeated failures lock an account, how long a session lives. Pure: hashing and storage happen elsewhere; an
account holds its password's hash only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from migradesk_shared.contracts.vocabulary import Role
from migradesk_shared.errors import DomainRuleViolation

# Lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit: safe in an audit
# line, an address and a store key, and the same however it was typed (see normalize_username).
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
# Agency ids are the referral directory's (e.g. "ubs-jardim-climax").
AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


class AccountRule(StrEnum):
    """Which rule a refused account change broke (the pages say it in the person's language)."""

    USERNAME_FORMAT = "username_format"
    AGENCY_REQUIRED = "agency_required"
    AGENCY_NOT_ALLOWED = "agency_not_allowed"
    AGENCY_FORMAT = "agency_format"
    PASSWORD_TOO_SHORT = "password_too_short"  # noqa: S105 (a name, not a password)
    PASSWORD_TOO_LONG = "password_too_long"  # noqa: S105 (a name, not a password)
    PASSWORD_IS_USERNAME = "password_is_username"  # noqa: S105 (a name, not a password)
    PASSWORD_UNCHANGED = "password_unchanged"  # noqa: S105 (a name, not a password)
    CURRENT_PASSWORD_WRONG = "current_password_wrong"  # noqa: S105 (a name, not a password)
    OWN_ACCOUNT = "own_account"
    LANGUAGE_UNKNOWN = "language_unknown"


class AccountRuleViolation(DomainRuleViolation):
    def __init__(self, rule: AccountRule, message: str, *, field: str) -> None:
        super().__init__(message, field=field, rule=rule.value)
        self.rule = rule


@dataclass(frozen=True)
class AccountRules:
    """The password policy and the lock-out (settings give the numbers)."""

    min_password_length: int = 12
    # Argon2 takes any length, but a megabyte "password" is a way to burn the server's time.
    max_password_length: int = 256
    # This many failed sign-ins within the window lock the account for lock_duration.
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=15)
    lock_duration: timedelta = timedelta(minutes=15)
    # This many from one network address, whatever the usernames, refuse that address for lock_duration:
    # guessing one password across many accounts. Higher than an account's: a whole office may share an address.
    max_failures_per_address: int = 30

    def __post_init__(self) -> None:
        if self.min_password_length < 12:
            raise ValueError("passwords have at least 12 characters")


def normalize_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    """The username as stored, or AccountRuleViolation."""
    normalized = normalize_username(username)
    if not USERNAME.fullmatch(normalized):
        raise AccountRuleViolation(
            AccountRule.USERNAME_FORMAT, "a username has 3 to 64 characters: letters a-z, digits, '.', '-' or '_', "
            "starting with a letter or digit", field="username")
    return normalized


def check_password(password: str, *, username: str, rules: AccountRules) -> None:
    """The password policy: long enough (a passphrase beats complexity rules), not absurdly long, and not the
    username (the first thing anyone tries)."""
    if len(password) < rules.min_password_length:
        raise AccountRuleViolation(AccountRule.PASSWORD_TOO_SHORT,
                                   f"a password has at least {rules.min_password_length} characters",
                                   field="password")
    if len(password) > rules.max_password_length:
        raise AccountRuleViolation(AccountRule.PASSWORD_TOO_LONG,
                                   f"a password has at most {rules.max_password_length} characters", field="password")
    if password.strip().casefold() == normalize_username(username).casefold():
        raise AccountRuleViolation(AccountRule.PASSWORD_IS_USERNAME, "the password cannot be the username",
                                   field="password")


def check_role(role: Role, agency_id: str | None) -> str | None:
    """An agency account names its agency (it sees that agency's referrals only); no other account names one."""
    agency = (agency_id or "").strip().lower() or None
    if role is Role.AGENCY:
        if agency is None:
            raise AccountRuleViolation(AccountRule.AGENCY_REQUIRED, "an agency account must name its agency",
                                       field="agency_id")
        if not AGENCY_ID.fullmatch(agency):
            raise AccountRuleViolation(AccountRule.AGENCY_FORMAT, "an agency id is like 'ubs-jardim-climax'",
                                       field="agency_id")
        return agency
    if agency is not None:
        raise AccountRuleViolation(AccountRule.AGENCY_NOT_ALLOWED, "only an agency account names an agency",
                                   field="agency_id")
    return None


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    password_hash: str
    created_at: datetime
    agency_id: str | None = None
    active: bool = True  # a disabled account cannot sign in
    # Set by an administrator's reset (and for a new account's first password): the person chooses their own
    # before anything else.
    must_change_password: bool = False
    language: str | None = None  # the pages' language the person chose
    # The failed sign-ins of the current window, oldest first; cleared by a success or a lock.
    failed_sign_ins: tuple[datetime, ...] = ()
    locked_until: datetime | None = None
    last_sign_in_at: datetime | None = None
    password_changed_at: datetime | None = None
    version: int = 1  # every change bumps it; a write conditional on it never overwrites a concurrent one

    @property
    def actor(self) -> str:
        """How audit records name this account (as a Principal names a token's subject)."""
        return f"{self.role.value}:{self.username}" + (f"@{self.agency_id}" if self.agency_id else "")

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def _changed(self, **changes: object) -> Account:
        return replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]

    def after_failed_sign_in(self, now: datetime, rules: AccountRules) -> Account:
        """One more failure; the one that makes max_failures within the window locks the account."""
        recent = (*(t for t in self.failed_sign_ins if now - t < rules.failure_window), now)
        if len(recent) >= rules.max_failures:
            return self._changed(failed_sign_ins=(), locked_until=now + rules.lock_duration)
        return self._changed(failed_sign_ins=recent)

    def after_sign_in(self, now: datetime, *, password_hash: str | None = None) -> Account:
        """A success clears the failures; `password_hash` replaces a hash made with older parameters."""
        return self._changed(failed_sign_ins=(), locked_until=None, last_sign_in_at=now,
                             password_hash=password_hash or self.password_hash)

    def disabled(self) -> Account:
        return self._changed(active=False)

    def enabled(self) -> Account:
        # Enabled with a clean slate: failures from before it was disabled do not count against the person.
        return self._changed(active=True, failed_sign_ins=(), locked_until=None)

    def with_password(self, password_hash: str, now: datetime, *, temporary: bool) -> Account:
        """A new password: temporary when an administrator set it (the person must change it at their next
        sign-in); either way the account is unlocked, since someone just proved who they are."""
        return self._changed(password_hash=password_hash, must_change_password=temporary, password_changed_at=now,
                             failed_sign_ins=(), locked_until=None)

    def with_language(self, language: str) -> Account:
        return self._changed(language=language)


def new_account(*, username: str, role: Role, agency_id: str | None, password_hash: str, now: datetime,
                temporary_password: bool = True, language: str | None = None) -> Account:
    """An account as an administrator creates it: with a temporary password unless told otherwise (the first
    administrator, created on the command line, and the demo accounts)."""
    return Account(username=check_username(username), role=role, agency_id=check_role(role, agency_id),
                   password_hash=password_hash, created_at=now, must_change_password=temporary_password,
                   language=language, password_changed_at=now)


# --- sign-in outcomes ---------------------------------------------------------------------------------------


class SignInRefusal(StrEnum):
    """What a refused sign-in tells the person: never which of username and password was wrong."""

    WRONG_CREDENTIALS = "wrong_credentials"
    LOCKED = "locked"
    DISABLED = "disabled"
    THROTTLED = "throttled"  # too many failures from the person's network address


# --- failures counted outside an account --------------------------------------------------------------------
# Failed sign-ins from one network address, and those for a username no account has (so that it locks exactly
# when an account would: a lock must not tell that an account exists), are counted in fixed windows of
# `failure_window`, one counter per key and window: every process of the service adds to the same one.


def address_key(address: str) -> str:
    return f"address:{address}"


def unknown_username_key(username: str) -> str | None:
    """The counter of a username no account has; None for one no account can have (nothing to hide)."""
    return f"username:{username}" if USERNAME.fullmatch(username) else None


def failure_windows(key: str, now: datetime, rules: AccountRules) -> list[str]:
    """The ids of `key`'s counters that may still hold a lock: the current window's first, then as many earlier
    ones as a lock set in them can outlast."""
    span = rules.failure_window.total_seconds()
    current = math.floor(now.timestamp() / span)
    earlier = math.ceil(rules.lock_duration / rules.failure_window)
    return [f"{key}@{round((current - back) * span)}" for back in range(earlier + 1)]


@dataclass(frozen=True)
class FailureCounter:
    """One key's failed sign-ins in one window, and the lock they set when they reached the limit."""

    counter_id: str
    failures: int
    locked_until: datetime | None = None


def locked_until(counters: list[FailureCounter], now: datetime) -> datetime | None:
    return max((c.locked_until for c in counters if c.locked_until is not None and now < c.locked_until),
               default=None)


# --- sessions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRules:
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    # How long a session token is accepted where the session record cannot be seen (other services).
    token_lifetime: timedelta = timedelta(minutes=15)
    # The record's last use is written at most this often: a write per request would cost more than it tells.
    touch_interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Session:
    """A signed-in browser. `key` is the hash of the session's secret id (the cookie holds the id)."""

    key: str
    username: str
    role: Role
    created_at: datetime
    last_seen_at: datetime
    idle_expiry: datetime  # pushed back by each use
    absolute_expiry: datetime  # fixed when signing in
    agency_id: str | None = None
    language: str | None = None
    must_change_password: bool = False

    @property
    def actor(self) -> str:
        """How audit records name the signed-in account (as Account.actor does)."""
        return f"{self.role.value}:{self.username}" + (f"@{self.agency_id}" if self.agency_id else "")

    def expires_at(self) -> datetime:
        return min(self.idle_expiry, self.absolute_expiry)

    def alive(self, now: datetime) -> bool:
        return now < self.expires_at()

    def needs_touch(self, now: datetime, rules: SessionRules) -> bool:
        return now - self.last_seen_at >= rules.touch_interval

    def touched(self, now: datetime, rules: SessionRules) -> Session:
        return replace(self, last_seen_at=now, idle_expiry=now + rules.idle_timeout)

    def token_expiry(self, now: datetime, rules: SessionRules) -> datetime:
        """The expiry of a token issued now: short, and never past the session's own end."""
        return min(now + rules.token_lifetime, self.expires_at())


def open_session(account: Account, *, key: str, now: datetime, rules: SessionRules) -> Session:
    return Session(key=key, username=account.username, role=account.role, created_at=now, last_seen_at=now,
                   idle_expiry=now + rules.idle_timeout, absolute_expiry=now + rules.absolute_timeout,
                   agency_id=account.agency_id, language=account.language,
                   must_change_password=account.must_change_password)
