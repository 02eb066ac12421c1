"""The pages of signing in: sign in, sign out, change one's password, and the administrators' accounts page.
Thin like the API's routes: read the form, call one use case, render the outcome in the request's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from migradesk_intake.accounts import (
    ChangeOwnPassword,
    CreateAccount,
    ResetPassword,
    SetActive,
    SignIn,
    SignInRefused,
)
from migradesk_intake.domain.account import Account, AccountRule, AccountRuleViolation, SignInRefusal
from migradesk_intake.entrypoints.identity import (
    HOME,
    SIGN_IN_COOKIE,
    account_service,
    clear_session_cookie,
    client_address,
    issue_session_cookie,
    new_sign_in_nonce,
    safe_next,
    settings_of,
    sign_in_csrf_key,
    signed_in,
)
from migradesk_shared.auth import Role
from migradesk_shared.errors import Conflict, MigraDeskError, NotFound
from migradesk_shared.web.forms import FIELD_ERRORS
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.session import (
    PASSWORD_PATH,
    ROLE_LABELS,
    SIGN_IN_PATH,
    SIGN_OUT_PATH,
    PageUser,
    cookie_header,
    current_user,
    queue_cookie,
    submitted_form,
    tokens_of,
)
from migradesk_shared.web.templates import Pages

ACCOUNTS_PATH = "/admin/accounts"

AnyoneSignedIn = Annotated[PageUser, Depends(signed_in(pending_password_change=True))]
Administrator = Annotated[PageUser, Depends(signed_in(Role.ADMIN))]

# What a refused change of an account tells the person, by the rule it broke.
RULE_MESSAGES: dict[AccountRule, str] = {
    AccountRule.USERNAME_FORMAT: N_("A username has 3 to 64 characters: lower-case letters, digits, dots, dashes "
                                    "or underscores, starting with a letter or a digit."),
    AccountRule.AGENCY_REQUIRED: N_("An agency account must name its agency."),
    AccountRule.AGENCY_NOT_ALLOWED: N_("Only an agency account names an agency: leave this field empty."),
    AccountRule.AGENCY_FORMAT: N_("Write the agency's id as the referral directory has it, e.g. "
                                  "ubs-jardim-climax."),
    AccountRule.PASSWORD_TOO_SHORT: N_("A password has at least %(count)s characters."),
    AccountRule.PASSWORD_TOO_LONG: N_("A password has at most %(count)s characters."),
    AccountRule.PASSWORD_IS_USERNAME: N_("The password cannot be the username."),
    AccountRule.PASSWORD_UNCHANGED: N_("Choose a password other than the current one."),
    AccountRule.CURRENT_PASSWORD_WRONG: N_("The current password is not right."),
    AccountRule.OWN_ACCOUNT: N_("You cannot disable your own account."),
    AccountRule.LANGUAGE_UNKNOWN: N_("The pages are not available in this language."),
}
PASSWORDS_DIFFER = N_("The two new passwords are not the same.")
USERNAME_TAKEN = N_("This username is already taken.")
NO_SUCH_ACCOUNT = N_("There is no such account.")
CHANGED_MEANWHILE = N_("Someone else changed this account meanwhile. Try again.")
MISSING = FIELD_ERRORS["missing"]

# The outcome an administrator sees after each action (?done=...).
DONE_MESSAGES: dict[str, str] = {
    "created": N_("Account %(account)s created. Tell its person the temporary password: they choose their own "
                  "at their first sign-in."),
    "disabled": N_("Account %(account)s disabled: it is signed out everywhere and cannot sign in."),
    "enabled": N_("Account %(account)s enabled again."),
    "password": N_("New temporary password set for %(account)s: their sessions ended, and they choose their own "
                   "password at their next sign-in."),
}


@dataclass(frozen=True)
class FieldError:
    message: str  # a message of the catalog, translated by the template
    params: dict[str, Any]


def rule_error(exc: AccountRuleViolation, min_length: int, max_length: int) -> FieldError:
    count = {AccountRule.PASSWORD_TOO_SHORT: min_length, AccountRule.PASSWORD_TOO_LONG: max_length}.get(exc.rule)
    return FieldError(RULE_MESSAGES[exc.rule], {"count": count} if count is not None else {})


def error_of(exc: MigraDeskError, request: Request) -> FieldError:
    rules = account_service(request).rules
    if isinstance(exc, AccountRuleViolation):
        return rule_error(exc, rules.min_password_length, rules.max_password_length)
    if isinstance(exc, NotFound):
        return FieldError(NO_SUCH_ACCOUNT, {})
    if isinstance(exc, Conflict):
        return FieldError(CHANGED_MEANWHILE, {})
    raise exc


@dataclass(frozen=True)
class AccountRow:
    account: Account
    role_label: str
    locked: bool


def landing(request: Request, user: PageUser, next_url: str | None) -> str:
    """Where a person goes once signed in: the password page after a reset, else the page they were sent from
    (safe_next), else their home: a partner agency's is referral's inbox (`agency_home_url`), a coordinator's
    metrics' dashboard (`coordinator_home_url`), everyone else's the desk."""
    if user.must_change_password:
        return PASSWORD_PATH
    target = safe_next(request, next_url)
    return home_of(request, user) if target == HOME else target


def home_of(request: Request, user: PageUser) -> str:
    """A partner agency's home is referral's inbox (`agency_home_url`), a coordinator's the dashboard
    (`coordinator_home_url`: aggregates are all a coordinator sees); everyone else's the desk."""
    settings = settings_of(request)
    if user.role is Role.AGENCY and settings.agency_home_url:
        return settings.agency_home_url
    if user.role is Role.COORDINATOR and settings.coordinator_home_url:
        return settings.coordinator_home_url
    return HOME


def build_account_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    # --- signing in -----------------------------------------------------------------------------------------

    async def sign_in_page(request: Request, *, next_url: str, username: str = "", refusal: str | None = None,
                           locked_until: datetime | None = None, status_code: int = 200) -> HTMLResponse:
        nonce = new_sign_in_nonce(request)
        return await pages.render(request, "sign_in.html", {
            "form_token": tokens_of(request).csrf_token(sign_in_csrf_key(nonce)), "next_url": next_url,
            "username": username, "refusal": refusal, "locked_until": locked_until,
        }, status_code=status_code)

    @router.get(SIGN_IN_PATH, response_class=HTMLResponse)
    async def sign_in_form(request: Request, next: str | None = None) -> Response:
        user = await current_user(request)
        if user is not None:
            # Already signed in (perhaps sent here by another service whose token had expired: it has a fresh
            # one now): on to where they were going.
            return RedirectResponse(landing(request, user, next), status_code=303)
        return await sign_in_page(request, next_url=next or "")

    @router.post(SIGN_IN_PATH, response_class=HTMLResponse)
    async def sign_in(request: Request) -> Response:
        form = await submitted_form(request)
        next_url, username = form.get("next", ""), form.get("username", "")
        nonce = request.cookies.get(SIGN_IN_COOKIE, "")
        if not nonce or not tokens_of(request).csrf_valid(sign_in_csrf_key(nonce), form.get("csrf_token")):
            return await sign_in_page(request, next_url=next_url, username=username, refusal="expired",
                                      status_code=400)
        service = account_service(request)
        try:
            signed = await service.sign_in(SignIn(username=username, password=form.get("password", ""),
                                                  address=client_address(request)))
        except SignInRefused as refused:
            # 429 for an address refused for a while: what it is (and what proxies and monitoring count).
            return await sign_in_page(request, next_url=next_url, username=username,
                                      refusal=refused.refusal.value, locked_until=refused.locked_until,
                                      status_code=429 if refused.refusal is SignInRefusal.THROTTLED else 401)
        user = issue_session_cookie(request, signed.session, signed.session_id)
        settings = settings_of(request)
        queue_cookie(request, cookie_header(SIGN_IN_COOKIE, "", max_age=0, secure=settings.secure_cookies))
        return RedirectResponse(landing(request, user, next_url), status_code=303)

    @router.post(SIGN_OUT_PATH)
    async def sign_out(request: Request, user: AnyoneSignedIn) -> Response:
        await account_service(request).sign_out(user.session_id, address=client_address(request))
        clear_session_cookie(request)
        return RedirectResponse(SIGN_IN_PATH, status_code=303)

    # --- one's own password ---------------------------------------------------------------------------------

    async def password_page(request: Request, user: PageUser, *, errors: dict[str, FieldError] | None = None,
                            changed: bool = False, status_code: int = 200) -> HTMLResponse:
        return await pages.render(request, "password.html", {
            "user": user, "errors": errors or {}, "changed": changed,
            "min_length": account_service(request).rules.min_password_length}, status_code=status_code)

    @router.get(PASSWORD_PATH, response_class=HTMLResponse)
    async def password_form(request: Request, user: AnyoneSignedIn, changed: bool = False) -> HTMLResponse:
        return await password_page(request, user, changed=changed)

    @router.post(PASSWORD_PATH, response_class=HTMLResponse)
    async def change_password(request: Request, user: AnyoneSignedIn) -> Response:
        form = await submitted_form(request)
        errors = {name: FieldError(MISSING, {}) for name in ("current_password", "new_password", "confirm_password")
                  if not form.get(name)}
        if not errors and form["new_password"] != form["confirm_password"]:
            errors["confirm_password"] = FieldError(PASSWORDS_DIFFER, {})
        if errors:
            return await password_page(request, user, errors=errors, status_code=422)
        service = account_service(request)
        try:
            await service.change_own_password(ChangeOwnPassword(
                session_id=user.session_id, current_password=form["current_password"],
                new_password=form["new_password"], address=client_address(request)))
        except AccountRuleViolation as exc:
            field = exc.field if exc.field in {"current_password", "new_password"} else "new_password"
            return await password_page(request, user, errors={field: error_of(exc, request)}, status_code=422)
        session = await service.resume(user.session_id)
        if session is not None:
            issue_session_cookie(request, session, user.session_id)
        return RedirectResponse(home_of(request, user) if user.must_change_password
                                else f"{PASSWORD_PATH}?changed=true", status_code=303)

    # --- the administrators' accounts page ------------------------------------------------------------------

    async def accounts_page(request: Request, user: PageUser, *, errors: dict[str, FieldError] | None = None,
                            entered: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
        service = account_service(request)
        now = service.now()
        rows = [AccountRow(a, ROLE_LABELS[a.role], a.locked(now)) for a in await service.list_accounts()]
        done, name = request.query_params.get("done", ""), request.query_params.get("account", "")
        return await pages.render(request, "accounts.html", {
            "user": user, "rows": rows, "errors": errors or {}, "entered": entered or {},
            "roles": [(role.value, ROLE_LABELS[role]) for role in Role],
            "done": DONE_MESSAGES.get(done) if not errors else None, "done_account": name,
            "min_length": service.rules.min_password_length}, status_code=status_code)

    def back_to_list(done: str, username: str) -> RedirectResponse:
        return RedirectResponse(f"{ACCOUNTS_PATH}?{urlencode({'done': done, 'account': username})}",
                                status_code=303)

    @router.get(ACCOUNTS_PATH, response_class=HTMLResponse)
    async def accounts(request: Request, user: Administrator) -> HTMLResponse:
        return await accounts_page(request, user)

    @router.post(ACCOUNTS_PATH, response_class=HTMLResponse)
    async def create_account(request: Request, user: Administrator) -> Response:
        form = await submitted_form(request)
        entered = {k: form.get(k, "") for k in ("username", "role", "agency_id")}
        errors = {name: FieldError(MISSING, {}) for name in ("username", "role", "password") if not form.get(name)}
        if form.get("role") and form["role"] not in set(Role):
            errors["role"] = FieldError(FIELD_ERRORS["enum"], {})
        if errors:
            return await accounts_page(request, user, errors=errors, entered=entered, status_code=422)
        try:
            account = await account_service(request).create_account(CreateAccount(
                username=form["username"], role=Role(form["role"]), password=form["password"], actor=user.actor,
                address=client_address(request), agency_id=form.get("agency_id") or None))
        except Conflict:
            return await accounts_page(request, user, errors={"username": FieldError(USERNAME_TAKEN, {})},
                                       entered=entered, status_code=409)
        except AccountRuleViolation as exc:
            return await accounts_page(request, user, errors={exc.field or "username": error_of(exc, request)},
                                       entered=entered, status_code=422)
        return back_to_list("created", account.username)

    @router.post(ACCOUNTS_PATH + "/{username}/{action}", response_class=HTMLResponse)
    async def change_account(request: Request, username: str, action: str, user: Administrator) -> Response:
        form = await submitted_form(request)
        service = account_service(request)
        address = client_address(request)
        try:
            if action in {"disable", "enable"}:
                changed = await service.set_active(SetActive(username=username, active=action == "enable",
                                                             actor=user.actor, actor_username=user.subject,
                                                             address=address))
                return back_to_list(f"{action}d", changed.username)
            if action == "password":
                if not form.get("temporary_password"):
                    return await accounts_page(request, user, status_code=422,
                                               errors={f"{username}.password": FieldError(MISSING, {})})
                changed = await service.reset_password(ResetPassword(
                    username=username, temporary_password=form["temporary_password"], actor=user.actor,
                    address=address))
                return back_to_list("password", changed.username)
        except (AccountRuleViolation, NotFound, Conflict) as exc:
            key = f"{username}.password" if exc.field == "password" else "account"
            return await accounts_page(request, user, errors={key: error_of(exc, request)},
                                       status_code=exc.status_code)
        return await accounts_page(request, user, errors={"account": FieldError(NO_SUCH_ACCOUNT, {})},
                                   status_code=404)

    return router
