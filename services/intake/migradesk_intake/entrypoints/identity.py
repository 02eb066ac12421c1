"""Who is signed in, as intake sees it: the session token's signature (migradesk_shared.web.session), then the
session record, which intake alone holds. A signed-out, revoked or expired session ends here at once, whatever
the token's own expiry says; a live one gets its token re-issued before other services would stop accepting it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import Request

from migradesk_intake.accounts import AccountService, SetLanguage
from migradesk_intake.domain.account import Session
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role
from migradesk_shared.settings import Environment
from migradesk_shared.web.i18n import LANG_PARAM, supported_locale
from migradesk_shared.web.session import (
    SESSION_COOKIE,
    PageUser,
    cookie_header,
    page_user,
    queue_cookie,
    remember_user,
    tokens_of,
)

# The sign-in form's own CSRF nonce: there is no session yet to bind its token to.
SIGN_IN_COOKIE = "migradesk_sign_in"
SIGN_IN_COOKIE_SECONDS = 3600
HOME = "/"


def account_service(request: Request) -> AccountService:
    service: AccountService = request.app.state.accounts
    return service


def settings_of(request: Request) -> IntakeSettings:
    settings: IntakeSettings = request.app.state.settings
    return settings


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_of(session: Session, session_id: str, *, expires_at: datetime) -> PageUser:
    return PageUser(subject=session.username, role=session.role, session_id=session_id, expires_at=expires_at,
                    agency_id=session.agency_id, language=session.language,
                    must_change_password=session.must_change_password)


def issue_session_cookie(request: Request, session: Session, session_id: str) -> PageUser:
    """A fresh token for a live session, in the cookie of this request's response; the page shows its user."""
    service = account_service(request)
    now = service.now()
    user = user_of(session, session_id, expires_at=session.token_expiry(now, service.session_rules))
    settings = settings_of(request)
    # No Max-Age: the browser forgets the cookie when it closes (desks share computers); the server ends the
    # session after its idle or absolute timeout in any case.
    queue_cookie(request, cookie_header(SESSION_COOKIE, tokens_of(request).issue(user, now=now),
                                        secure=settings.secure_cookies, domain=settings.session_cookie_domain))
    remember_user(request, user)
    return user


def clear_session_cookie(request: Request) -> None:
    settings = settings_of(request)
    queue_cookie(request, cookie_header(SESSION_COOKIE, "", max_age=0, secure=settings.secure_cookies,
                                        domain=settings.session_cookie_domain))
    remember_user(request, None)


class IntakeSessions:
    """Intake's `Identity` (app.state.identity): the pages' and the API's signed-in user."""

    async def page_user(self, request: Request) -> PageUser | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        # Read even when expired: the record, not the token, says whether the session lives here.
        claims = tokens_of(request).read(token, verify_expiry=False)
        service = account_service(request)
        session = await service.resume(claims.session_id) if claims is not None else None
        if claims is None or session is None:
            clear_session_cookie(request)
            return None
        now = service.now()
        current = user_of(session, claims.session_id, expires_at=claims.expires_at)
        stale = (current.subject, current.role, current.agency_id, current.language,
                 current.must_change_password) != (claims.subject, claims.role, claims.agency_id, claims.language,
                                                   claims.must_change_password)
        # Re-issued at half its life: other services' pages never see it expire while the person works.
        if stale or claims.expires_at - now < service.session_rules.token_lifetime / 2:
            return issue_session_cookie(request, session, claims.session_id)
        return current


def new_sign_in_nonce(request: Request) -> str:
    """The sign-in form's nonce (kept while the browser has one, so two open tabs both work)."""
    nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(16)
    settings = settings_of(request)
    queue_cookie(request, cookie_header(SIGN_IN_COOKIE, nonce, max_age=SIGN_IN_COOKIE_SECONDS,
                                        secure=settings.secure_cookies))
    return nonce


def sign_in_csrf_key(nonce: str) -> str:
    return f"sign-in:{nonce}"


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a path of this service, or a page of another service whose origin the
    settings name (any loopback one in development); anything else would make the sign-in page an open
    redirect for phishing. Else the desk."""
    if not target:
        return HOME
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    parts = urlsplit(target)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return HOME
    settings = settings_of(request)
    origin = f"{parts.scheme}://{parts.netloc}"
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if origin in settings.return_origins or (loopback and settings.environment is Environment.DEVELOPMENT):
        return target
    return HOME


def signed_in(*roles: Role, pending_password_change: bool = False) -> Callable[[Request], Awaitable[PageUser]]:
    """Intake's page dependency: web.session's page_user, and a language chosen with the switcher (?lang=) by a
    signed-in person is kept with their account, so it follows them to their next page, device and service."""
    signed_in_user = page_user(*roles, pending_password_change=pending_password_change)

    async def dependency(request: Request) -> PageUser:
        user = await signed_in_user(request)
        chosen = supported_locale(request.query_params.get(LANG_PARAM))
        if chosen is None or chosen == user.language:
            return user
        service = account_service(request)
        await service.set_language(SetLanguage(session_id=user.session_id, language=chosen,
                                               address=client_address(request)))
        session = await service.resume(user.session_id)
        return issue_session_cookie(request, session, user.session_id) if session else user

    return dependency
