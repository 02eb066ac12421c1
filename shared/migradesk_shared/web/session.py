"""Signed-in browsers: the session cookie, CSRF tokens, and the dependencies every service's pages use.

Intake keeps the accounts and the sessions (in its own database) and serves the sign-in pages. A signed-in
browser holds the cookie `migradesk_session`: HttpOnly, SameSite=Lax, Path=/, Secure behind https. It carries
a token (JWT, HS256) signed with a key derived from the deployment's API token secret, naming the session id,
the account (subject, role, agency), the account's page language and an expiry a few minutes away. Any
service checks it alone, with the secret it already has: `page_user(Role.…)` on a page route. Intake also
checks the session record on every request (a signed-out, expired or revoked session is gone at once there)
and re-issues the token while the session lives; another service sees a revocation when the token it holds
expires, then sends the browser to intake's sign-in page, which re-issues it if the session still lives.

Forged requests: every form a page posts carries `csrf_token`, and a page's script sends the same value in the
`X-CSRF-Token` header; it is an HMAC of the session id, so only a page that was rendered for this session
knows it. A cookie-authenticated unsafe request without it is refused (403).

Who the browser is comes from `request.app.state.identity` (an `Identity`), the cookie by default: a deployment
that puts an OpenID Connect proxy in front swaps in one that reads the identity the proxy vouches for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from http.cookies import SimpleCookie
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode

import jwt
from fastapi import Request
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migradesk_shared.auth import ALGORITHM, ISSUER, Principal, Role
from migradesk_shared.errors import Forbidden
from migradesk_shared.settings import secret_text
from migradesk_shared.web.i18n import N_

SESSION_COOKIE = "migradesk_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Session tokens name this audience, so one is never taken for a bearer token (nor the other way round).
SESSION_AUDIENCE = "migradesk-pages"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Intake's account pages, under the `accounts_url` setting.
SIGN_IN_PATH = "/sign-in"
SIGN_OUT_PATH = "/sign-out"
PASSWORD_PATH = "/account/password"  # noqa: S105 (a name, not a password)
# A form is a few fields; anything much larger is not one of ours.
MAX_FORM_BYTES = 64 * 1024
MAX_MULTIPART_FIELDS = 20

ROLE_LABELS: dict[Role, str] = {
    Role.STAFF: N_("Desk staff"),
    Role.AGENCY: N_("Partner agency"),
    Role.COORDINATOR: N_("Coordination"),
    Role.ADMIN: N_("Administrator"),
}


@dataclass(frozen=True)
class PageUser:
    """The person a page is rendered for, as their session token names them."""

    subject: str  # the account's username
    role: Role
    session_id: str  # the session's secret id: never stored, logged or shown in clear
    expires_at: datetime  # when the token stops being accepted by a service that cannot see the session record
    agency_id: str | None = None
    language: str | None = None  # the page language stored with the account
    must_change_password: bool = False  # after an administrator's reset: nothing else until it is changed

    @property
    def principal(self) -> Principal:
        return Principal(subject=self.subject, role=self.role, agency_id=self.agency_id)

    @property
    def actor(self) -> str:
        return self.principal.actor


def derived_key(secret: str, purpose: str) -> bytes:
    """A key of its own for each use of the deployment's secret: a bearer token never passes for a session
    token, nor a CSRF token for either."""
    return hmac.new(secret.encode(), f"migradesk/{purpose}".encode(), hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class SessionTokens:
    """Signs and reads session tokens and the CSRF tokens bound to a session."""

    def __init__(self, secret: str | SecretStr) -> None:
        secret = secret_text(secret)
        self._signing_key = derived_key(secret, "page-session")
        self._csrf_key = derived_key(secret, "csrf")

    def issue(self, user: PageUser, *, now: datetime) -> str:
        claims: dict[str, Any] = {"iss": ISSUER, "aud": SESSION_AUDIENCE, "sub": user.subject,
                                  "role": user.role.value, "sid": user.session_id, "iat": now,
                                  "exp": user.expires_at}
        if user.agency_id:
            claims["agency_id"] = user.agency_id
        if user.language:
            claims["lang"] = user.language
        if user.must_change_password:
            claims["pwc"] = True
        return jwt.encode(claims, self._signing_key, algorithm=ALGORITHM)

    def read(self, token: str, *, verify_expiry: bool = True) -> PageUser | None:
        """The user a token names; None for a forged, foreign, malformed or (unless told) expired one. Intake
        reads expired ones too: the session record, not the token, says whether the session lives there."""
        try:
            claims = jwt.decode(token, self._signing_key, algorithms=[ALGORITHM], issuer=ISSUER,
                                audience=SESSION_AUDIENCE,
                                options={"require": ["sub", "role", "sid", "exp", "iss", "aud"],
                                         "verify_exp": verify_expiry})
            role = Role(claims["role"])
        except (jwt.PyJWTError, ValueError):
            return None
        if role is Role.AGENCY and not claims.get("agency_id"):
            return None
        return PageUser(subject=str(claims["sub"]), role=role, session_id=str(claims["sid"]),
                        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                        agency_id=claims.get("agency_id"), language=claims.get("lang"),
                        must_change_password=bool(claims.get("pwc", False)))

    def csrf_token(self, session_key: str) -> str:
        """The CSRF token of a session (its id), or of a sign-in form (its nonce)."""
        return _mac(self._csrf_key, session_key)

    def csrf_valid(self, session_key: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session_key), token or "")


@cache
def session_tokens(secret: str | SecretStr) -> SessionTokens:
    return SessionTokens(secret)


def tokens_of(request: Request) -> SessionTokens:
    return session_tokens(request.app.state.settings.api_token_secret)


# --- who the browser is -------------------------------------------------------------------------------------


class Identity(Protocol):
    """Who the browser behind a request is. The default reads the session cookie; intake's also checks the
    session record; a deployment with an OpenID Connect proxy in front would read what the proxy vouches for."""

    async def page_user(self, request: Request) -> PageUser | None: ...


class SessionCookieIdentity:
    """The session token in the cookie, checked alone: signature and expiry."""

    async def page_user(self, request: Request) -> PageUser | None:
        token = request.cookies.get(SESSION_COOKIE)
        return tokens_of(request).read(token) if token else None


_UNRESOLVED = object()


async def current_user(request: Request) -> PageUser | None:
    """The signed-in user of a request, resolved once per request (the page, its layout and the API share it)."""
    known = getattr(request.state, "page_user", _UNRESOLVED)
    if known is _UNRESOLVED:
        identity: Identity = getattr(request.app.state, "identity", None) or SessionCookieIdentity()
        known = await identity.page_user(request)
        request.state.page_user = known
    return known  # type: ignore[return-value]


def remember_user(request: Request, user: PageUser | None) -> None:
    """What this request's page shows from now on (after signing in, or a change of the account)."""
    request.state.page_user = user


async def session_language(request: Request) -> str | None:
    """The `account_language` hook of `Pages`: the language stored with the signed-in account."""
    user = await current_user(request)
    return user.language if user else None


# --- the cookie ---------------------------------------------------------------------------------------------

_QUEUED_COOKIES = "queued_cookies"


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None, path: str = "/",
                  domain: str | None = None, samesite: Literal["lax", "strict"] = "lax") -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = path
    morsel["httponly"] = True
    morsel["samesite"] = samesite.capitalize()
    if secure:
        morsel["secure"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    if domain:
        morsel["domain"] = domain
    return morsel.OutputString()


def queue_cookie(request: Request, header: str) -> None:
    """A Set-Cookie header for this request's response, whichever response it turns out to be (a page, a JSON
    body, a redirect rendered by an error handler): SessionCookieMiddleware adds it."""
    queued: list[str] = getattr(request.state, _QUEUED_COOKIES, None) or []
    queued.append(header)
    setattr(request.state, _QUEUED_COOKIES, queued)


class SessionCookieMiddleware:
    """Adds the cookies a request's handling queued (queue_cookie) to its response. A plain ASGI middleware:
    it also sees the responses of exception handlers, and costs no task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(_QUEUED_COOKIES):
                headers = [*message.get("headers", []),
                           *((b"set-cookie", header.encode("latin-1")) for header in state[_QUEUED_COOKIES])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


# --- CSRF and forms -----------------------------------------------------------------------------------------


class CsrfRejected(Forbidden):
    code = "csrf_failed"


async def submitted_fields(request: Request) -> list[tuple[str, str]]:
    """The fields of a posted form (application/x-www-form-urlencoded) in order, repeated ones repeated, read
    once per request; of a form that uploads a file (multipart/form-data), its text fields (the route reads the
    file from `request.form()`, parsed once here). A JSON body gives no fields."""
    cached: list[tuple[str, str]] | None = getattr(request.state, "submitted_fields", None)
    if cached is not None:
        return cached
    fields: list[tuple[str, str]] = []
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise PageRefused(PageRefused.TOO_LARGE, status_code=413)
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    elif kind == "multipart/form-data":
        # One file and a few fields at most; the body's size was bounded by the request size limit.
        form = await request.form(max_files=1, max_fields=MAX_MULTIPART_FIELDS, max_part_size=MAX_FORM_BYTES)
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    request.state.submitted_fields = fields
    return fields


async def submitted_form(request: Request) -> dict[str, str]:
    """The fields of a posted form, the last value of a repeated field (see submitted_fields)."""
    return dict(await submitted_fields(request))


async def csrf_token_sent(request: Request) -> str | None:
    """The header a script sends, else the field a form posts."""
    return request.headers.get(CSRF_HEADER) or (await submitted_form(request)).get(CSRF_FIELD)


# --- what pages and APIs depend on --------------------------------------------------------------------------


class SignInRequired(Exception):
    """No signed-in user: the browser goes to the sign-in page (Pages.install_error_pages redirects)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageRefused(Exception):
    """A page that answers with the translated refusal page (403 unless told)."""

    ROLE = N_("Your role does not give access to this page.")
    CSRF = N_("This form has expired or did not come from a MigraDesk page. Go back, reload the page and try "
              "again.")
    TOO_LARGE = N_("What was sent is too large for this form.")

    def __init__(self, message: str, *, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message  # a message of the shared catalog, translated when the page renders
        self.status_code = status_code


def accounts_url(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "accounts_url", "") or "").rstrip("/")


def sign_in_location(request: Request) -> str:
    """Intake's sign-in page, with the page to come back to (a form's target is none: it starts over)."""
    base = accounts_url(request)
    if request.method not in SAFE_METHODS:
        return f"{base}{SIGN_IN_PATH}"
    here = str(request.url) if base else request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{base}{SIGN_IN_PATH}?{urlencode({'next': here})}"


def page_user(*roles: Role, pending_password_change: bool = False) -> Callable[[Request], Awaitable[PageUser]]:
    """A page route's dependency: the signed-in user, if their role is one of `roles` (any role if none given).
    An anonymous browser is sent to sign in; a wrong role gets the refusal page (403); a POST (any unsafe
    method) without the session's CSRF token too. An account whose password an administrator reset is sent to
    change it, except on the route that does that (`pending_password_change=True`)."""
    allowed = frozenset(roles or Role)

    async def dependency(request: Request) -> PageUser:
        user = await current_user(request)
        if user is None:
            raise SignInRequired(sign_in_location(request))
        if request.method not in SAFE_METHODS and not tokens_of(request).csrf_valid(
                user.session_id, await csrf_token_sent(request)):
            raise PageRefused(PageRefused.CSRF)
        if user.must_change_password and not pending_password_change:
            raise SignInRequired(f"{accounts_url(request)}{PASSWORD_PATH}")
        if user.role not in allowed:
            raise PageRefused(PageRefused.ROLE)
        return user

    return dependency


async def session_principal(request: Request) -> Principal | None:
    """The principal of a signed-in browser's API call (see auth.requires), CSRF-checked for unsafe methods."""
    user = await current_user(request)
    if user is None:
        return None
    if request.method not in SAFE_METHODS and not tokens_of(request).csrf_valid(
            user.session_id, request.headers.get(CSRF_HEADER)):
        raise CsrfRejected(f"a signed-in page sends its CSRF token in the {CSRF_HEADER} header with every change; "
                           "reload the page and try again", field=CSRF_HEADER)
    if user.must_change_password:
        raise Forbidden("the password of this account was reset: change it first", field="password")
    return user.principal


async def layout_context(request: Request) -> dict[str, Any]:
    """What the layout shows of the session: who is signed in and their role, the sign-out form with its CSRF
    token, and where to change the password."""
    user = await current_user(request)
    base = accounts_url(request)
    return {"signed_in": user, "role_label": ROLE_LABELS[user.role] if user else "",
            "csrf_token": tokens_of(request).csrf_token(user.session_id) if user else "",
            "sign_out_url": f"{base}{SIGN_OUT_PATH}", "password_url": f"{base}{PASSWORD_PATH}"}
