"""The use cases of signing in: accounts (created, disabled and enabled, passwords reset by an administrator or
changed by their person, a page language) and sessions (opened by signing in, resumed on every request, ended
by signing out or by time). Each loads through the repositories, applies the pure rules of domain.account, and
audits what happened: every sign-in attempt, every sign-out, every change of an account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from migradesk_intake.adapters.accounts import AccountRepository, SessionRepository
from migradesk_intake.adapters.passwords import Passwords
from migradesk_intake.domain.account import (
    Account,
    AccountRule,
    AccountRules,
    AccountRuleViolation,
    Session,
    SessionRules,
    SignInRefusal,
    address_key,
    check_password,
    check_username,
    failure_windows,
    locked_until,
    new_account,
    normalize_username,
    open_session,
    unknown_username_key,
)
from migradesk_intake.domain.audit import ANONYMOUS, AccountAction, AccountEvent, FailureReason
from migradesk_shared.contracts.vocabulary import Role
from migradesk_shared.errors import Conflict, MigraDeskError, NotFound
from migradesk_shared.web.i18n import supported_locale

# Concurrent writes to one account (sign-in failures racing each other) are retried this often.
WRITE_ATTEMPTS = 10


class SignInRefused(MigraDeskError):
    status_code = 401
    code = "sign_in_refused"

    def __init__(self, refusal: SignInRefusal, *, locked_until: datetime | None = None) -> None:
        super().__init__({SignInRefusal.WRONG_CREDENTIALS: "wrong username or password",
                          SignInRefusal.LOCKED: "the account is locked for a while after repeated failures",
                          SignInRefusal.DISABLED: "the account is disabled",
                          SignInRefusal.THROTTLED: "too many failed sign-ins from this address; try again later",
                          }[refusal], field="username")
        self.refusal = refusal
        self.locked_until = locked_until


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def session_key(session_id: str) -> str:
    """What the store keeps of a session id: its hash. A stolen copy of the sessions collection signs nobody in.
    (A fast hash is right here: the id is 256 random bits, nothing to guess.)"""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SignIn:
    username: str
    password: str
    address: str | None


@dataclass(frozen=True)
class SignedIn:
    session_id: str  # for the cookie, and nowhere else
    session: Session


@dataclass(frozen=True)
class CreateAccount:
    username: str
    role: Role
    password: str
    actor: str
    address: str | None
    agency_id: str | None = None
    # A password the administrator chose is temporary: the person replaces it at their first sign-in.
    temporary_password: bool = True
    language: str | None = None


@dataclass(frozen=True)
class SetActive:
    username: str
    active: bool
    actor: str
    actor_username: str  # an administrator does not disable their own account (and lock everyone out)
    address: str | None


@dataclass(frozen=True)
class ResetPassword:
    username: str
    temporary_password: str
    actor: str
    address: str | None


@dataclass(frozen=True)
class ChangeOwnPassword:
    session_id: str
    current_password: str
    new_password: str
    address: str | None


@dataclass(frozen=True)
class SetLanguage:
    session_id: str
    language: str
    address: str | None


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    agency_id: str | None = None


class AccountService:
    def __init__(self, accounts: AccountRepository, sessions: SessionRepository, passwords: Passwords, *,
                 rules: AccountRules | None = None, session_rules: SessionRules | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 new_session_id: Callable[[], str] = new_session_id) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.passwords = passwords
        self.rules = rules or AccountRules()
        self.session_rules = session_rules or SessionRules()
        self._clock = clock
        self._new_session_id = new_session_id

    def now(self) -> datetime:
        return self._clock()

    # --- signing in and out ---------------------------------------------------------------------------------

    async def sign_in(self, command: SignIn) -> SignedIn:
        """A session for the right username and password. Refused, and audited either way, for anything else:
        an unknown username or a wrong password alike (the person is not told which), a locked account (until
        when; a username no account has locks alike), a disabled one (only to whoever knows its password), an
        address that failed too often (until when). A success clears the failures counted outside the account."""
        username = normalize_username(command.username)
        account = await self.accounts.get(username) if username else None
        now = self._clock()
        address = address_key(command.address) if command.address else None
        if address is not None and (until := await self._refused_until(address, now)):
            # Not even checked, like a locked account's password: the address is guessing.
            await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, account.username if account else None,
                              command.address, FailureReason.THROTTLED, now)
            raise SignInRefused(SignInRefusal.THROTTLED, locked_until=until)
        if account is None:
            await self._unknown_username(username, command, now)
        if account.locked(now):
            # The password is not even checked: a lock that still answered right or wrong would not stop guessing.
            await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, username, command.address,
                              FailureReason.LOCKED, now)
            raise SignInRefused(SignInRefusal.LOCKED, locked_until=account.locked_until)
        if not await self.passwords.verify(account.password_hash, command.password):
            failed = await self._change(username, lambda a: a.after_failed_sign_in(now, self.rules))
            await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, username, command.address,
                              FailureReason.WRONG_PASSWORD, now)
            address_refused = await self._address_failed(command.address, now)
            if failed.locked(now):
                await self._audit("system", AccountAction.LOCKED, username, command.address, None, now)
                raise SignInRefused(SignInRefusal.LOCKED, locked_until=failed.locked_until)
            if address_refused is not None:
                raise SignInRefused(SignInRefusal.THROTTLED, locked_until=address_refused)
            raise SignInRefused(SignInRefusal.WRONG_CREDENTIALS)
        if not account.active:
            await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, username, command.address,
                              FailureReason.DISABLED, now)
            raise SignInRefused(SignInRefusal.DISABLED)
        rehashed = (await self.passwords.hash(command.password)
                    if self.passwords.needs_rehash(account.password_hash) else None)
        account = await self._change(username, lambda a: a.after_sign_in(now, password_hash=rehashed))
        if address is not None:
            await self.accounts.clear_failures(failure_windows(address, now, self.rules))
        session_id = self._new_session_id()
        session = open_session(account, key=session_key(session_id), now=now, rules=self.session_rules)
        await self.sessions.add(session)
        await self._audit(account.actor, AccountAction.SIGN_IN, username, command.address, None, now)
        return SignedIn(session_id=session_id, session=session)

    async def _unknown_username(self, username: str, command: SignIn, now: datetime) -> NoReturn:
        """A username no account has: refused as a wrong password is, and locked after as many failures as an
        account (counted apart from any account), so that a lock never tells an account exists."""
        key = unknown_username_key(username)
        if key is not None and (until := await self._refused_until(key, now)):
            await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, None, command.address,
                              FailureReason.LOCKED, now)
            raise SignInRefused(SignInRefusal.LOCKED, locked_until=until)
        await self.passwords.verify_unknown(command.password)
        await self._audit(ANONYMOUS, AccountAction.SIGN_IN_FAILED, None, command.address,
                          FailureReason.UNKNOWN_USERNAME, now)
        address_refused = await self._address_failed(command.address, now)
        if key is not None and (until := await self._count_failure(key, self.rules.max_failures, now)):
            await self._audit("system", AccountAction.LOCKED, None, command.address, None, now)
            raise SignInRefused(SignInRefusal.LOCKED, locked_until=until)
        if address_refused is not None:
            raise SignInRefused(SignInRefusal.THROTTLED, locked_until=address_refused)
        raise SignInRefused(SignInRefusal.WRONG_CREDENTIALS)

    async def _address_failed(self, address: str | None, now: datetime) -> datetime | None:
        """One more failure from the address; the one that reaches the limit refuses it (audited): until when."""
        if address is None:
            return None
        until = await self._count_failure(address_key(address), self.rules.max_failures_per_address, now)
        if until is not None:
            await self._audit("system", AccountAction.ADDRESS_THROTTLED, None, address, None, now)
        return until

    async def _refused_until(self, key: str, now: datetime) -> datetime | None:
        return locked_until(await self.accounts.failure_counters(failure_windows(key, now, self.rules)), now)

    async def _count_failure(self, key: str, limit: int, now: datetime) -> datetime | None:
        """Count a failure in the current window; when that reaches `limit`, lock the key: until when."""
        [current, *_] = failure_windows(key, now, self.rules)
        if await self.accounts.count_failure(current, day=now.date()) < limit:
            return None
        until = now + self.rules.lock_duration
        await self.accounts.lock_failures(current, until)
        return until

    async def resume(self, session_id: str) -> Session | None:
        """The live session of this id (its last use noted), or None: never opened, signed out, revoked, or
        expired (idle too long or past its absolute end; then it is deleted)."""
        key = session_key(session_id)
        session = await self.sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if not session.alive(now):
            await self.sessions.delete(key)
            return None
        if session.needs_touch(now, self.session_rules):
            session = session.touched(now, self.session_rules)
            await self.sessions.touch(session)
        return session

    async def sign_out(self, session_id: str, *, address: str | None) -> None:
        session = await self.sessions.get(session_key(session_id))
        if session is None or not await self.sessions.delete(session.key):
            return  # already gone: signing out twice is signing out
        await self._audit(session.actor, AccountAction.SIGN_OUT, session.username, address, None, self._clock())

    async def prune_sessions(self) -> int:
        """Forget the ended sessions, and the failed sign-ins counted outside the accounts whose time is over."""
        today = self._clock().date()
        return await self.sessions.prune(today=today) + await self.accounts.prune_failures(today=today)

    # --- accounts -------------------------------------------------------------------------------------------

    async def create_account(self, command: CreateAccount) -> Account:
        username = check_username(command.username)
        check_password(command.password, username=username, rules=self.rules)
        language = self._language(command.language) if command.language else None
        now = self._clock()
        account = new_account(username=username, role=command.role, agency_id=command.agency_id,
                              password_hash=await self.passwords.hash(command.password), now=now,
                              temporary_password=command.temporary_password, language=language)
        await self.accounts.add(account, event=AccountEvent(command.actor, AccountAction.CREATED, username, now,
                                                            command.address))
        return account

    async def set_active(self, command: SetActive) -> Account:
        username = normalize_username(command.username)
        if not command.active and username == normalize_username(command.actor_username):
            raise AccountRuleViolation(AccountRule.OWN_ACCOUNT, "you cannot disable your own account",
                                       field="username")
        now = self._clock()
        action = AccountAction.ENABLED if command.active else AccountAction.DISABLED
        account = await self._change(username, lambda a: a.enabled() if command.active else a.disabled(),
                                     AccountEvent(command.actor, action, username, now, command.address))
        if not command.active:
            await self.sessions.delete_of_account(username)  # signed out everywhere, at once
        return account

    async def reset_password(self, command: ResetPassword) -> Account:
        """An administrator's temporary password: the account's sessions end, and its person must choose a new
        password at their next sign-in."""
        username = normalize_username(command.username)
        check_password(command.temporary_password, username=username, rules=self.rules)
        password_hash = await self.passwords.hash(command.temporary_password)
        now = self._clock()
        account = await self._change(username, lambda a: a.with_password(password_hash, now, temporary=True),
                                     AccountEvent(command.actor, AccountAction.PASSWORD_RESET, username, now,
                                                  command.address))
        await self.sessions.delete_of_account(username)
        return account

    async def change_own_password(self, command: ChangeOwnPassword) -> Account:
        """The signed-in person's new password; their other sessions end (whoever else knew the old one is out)."""
        session = await self._live_session(command.session_id)
        account = await self._account(session.username)
        if not await self.passwords.verify(account.password_hash, command.current_password):
            raise AccountRuleViolation(AccountRule.CURRENT_PASSWORD_WRONG, "the current password is not right",
                                       field="current_password")
        check_password(command.new_password, username=account.username, rules=self.rules)
        if command.new_password == command.current_password:
            raise AccountRuleViolation(AccountRule.PASSWORD_UNCHANGED, "choose a password other than the current one",
                                       field="new_password")
        password_hash = await self.passwords.hash(command.new_password)
        now = self._clock()
        changed = await self._change(account.username,
                                     lambda a: a.with_password(password_hash, now, temporary=False),
                                     AccountEvent(account.actor, AccountAction.PASSWORD_CHANGED, account.username,
                                                  now, command.address))
        await self.sessions.delete_of_account(account.username, keep=session.key)
        await self.sessions.update_of_account(account.username, must_change_password=False)
        return changed

    async def set_language(self, command: SetLanguage) -> Account:
        """The pages' language of the signed-in person, kept with their account (and their live sessions)."""
        language = self._language(command.language)
        session = await self._live_session(command.session_id)
        now = self._clock()
        account = await self._change(session.username, lambda a: a.with_language(language),
                                     AccountEvent(session.actor, AccountAction.LANGUAGE_SET, session.username,
                                                  now, command.address))
        await self.sessions.update_of_account(session.username, language=language)
        return account

    async def list_accounts(self) -> list[Account]:
        return await self.accounts.all()

    async def audit_of(self, username: str) -> list[AccountEvent]:
        return await self.accounts.events_of(normalize_username(username))

    async def ensure_demo_accounts(self, demo: Sequence[DemoAccount]) -> int:
        """Create the demo accounts that are missing (their passwords are known: development only, which the
        settings enforce). Returns how many were created."""
        created = 0
        for entry in demo:
            if await self.accounts.get(entry.username) is not None:
                continue
            try:
                await self.create_account(CreateAccount(
                    username=entry.username, role=entry.role, password=entry.password, actor="system:demo",
                    address=None, agency_id=entry.agency_id, temporary_password=False))
                created += 1
            except Conflict:
                pass  # another process of the service created it meanwhile
        return created

    # --- helpers --------------------------------------------------------------------------------------------

    async def _account(self, username: str) -> Account:
        account = await self.accounts.get(username)
        if account is None:
            raise NotFound(f"there is no account {username}", field="username")
        return account

    async def _live_session(self, session_id: str) -> Session:
        session = await self.resume(session_id)
        if session is None:
            raise NotFound("the session has ended: sign in again", field="session")
        return session

    async def _change(self, username: str, change: Callable[[Account], Account],
                      event: AccountEvent | None = None) -> Account:
        """Apply a change to the stored account, conditional on its version; read again and retry when someone
        changed it meanwhile (two failed sign-ins at once both count)."""
        for _ in range(WRITE_ATTEMPTS):
            account = await self._account(username)
            changed = change(account)
            if await self.accounts.save(changed, expected_version=account.version, event=event):
                return changed
        raise Conflict(f"the account {username} kept changing meanwhile; try again", field="username")

    def _language(self, language: str) -> str:
        found = supported_locale(language)
        if found is None:
            raise AccountRuleViolation(AccountRule.LANGUAGE_UNKNOWN, f"the pages are not in {language!r}",
                                       field="language")
        return found

    async def _audit(self, actor: str, action: AccountAction, username: str | None, address: str | None,
                     reason: FailureReason | None, at: datetime) -> None:
        await self.accounts.record(AccountEvent(actor=actor, action=action, username=username, at=at,
                                                address=address, reason=reason))
