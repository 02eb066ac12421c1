"""Signing in over HTTP, on the in-memory repositories: the cookie, the sign-in page's answers, CSRF, the API
with a session instead of a bearer token, the roles, signing out, forced password changes and the accounts
page."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from migradesk_intake.accounts import AccountService
from migradesk_intake.adapters.accounts import AccountRepository, SessionRepository
from migradesk_intake.adapters.accounts_memory import InMemoryAccountRepository, InMemorySessionRepository
from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from migradesk_intake.demo import DEMO_ACCOUNTS
from migradesk_intake.domain.audit import AccountAction, AccountEvent, FailureReason
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.web.session import CSRF_HEADER, SESSION_COOKIE
from tests.service.intake.helpers import cheap_passwords

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), seed_demo_accounts=True)
PASSWORDS = {d.username: d.password for d in DEMO_ACCOUNTS}
PERSON = {"full_name": "Wilner Joseph", "nationality": "HTI",
          "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}}


class Desk:
    """A browser on intake: its cookies, and what the last page gave it to post back."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def sign_in(self, username: str, password: str | None = None, *, next_url: str = "",
                headers: dict[str, str] | None = None) -> Response:
        form = self.client.get("/sign-in", headers=headers)
        return self.client.post("/sign-in", headers=headers, follow_redirects=False, data={
            "username": username, "password": PASSWORDS.get(username, "") if password is None else password,
            "csrf_token": field(form.text, "csrf_token"), "next": next_url})

    def csrf(self, path: str = "/account/password") -> str:
        return field(self.client.get(path).text, "csrf_token")

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get(SESSION_COOKIE)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


@pytest.fixture
def stores() -> tuple[AccountRepository, SessionRepository]:
    return InMemoryAccountRepository(), InMemorySessionRepository()


def client_for(settings: IntakeSettings, stores: tuple[AccountRepository, SessionRepository]) -> TestClient:
    accounts, sessions = stores
    return TestClient(create_app(settings, repository=InMemoryIntakeRepository(), accounts=accounts,
                                 sessions=sessions, passwords=cheap_passwords()))


@pytest.fixture
def desk(stores: tuple[AccountRepository, SessionRepository]) -> Iterator[Desk]:
    with client_for(SETTINGS, stores) as client:
        yield Desk(client)


def service_of(desk: Desk) -> AccountService:
    service: AccountService = desk.client.app.state.accounts  # type: ignore[attr-defined]
    return service


def audit_of(desk: Desk, username: str) -> list[AccountEvent]:
    assert desk.client.portal is not None
    events: list[AccountEvent] = desk.client.portal.call(service_of(desk).audit_of, username)
    return events


# --- the sign-in page ----------------------------------------------------------------------------------------


def test_signing_in_sets_an_http_only_same_site_session_cookie(desk: Desk) -> None:
    assert desk.client.get("/", follow_redirects=False).headers["location"] == "/sign-in?next=%2F"
    signed = desk.sign_in("ana", next_url="/?lang=es")
    assert signed.status_code == 303 and signed.headers["location"] == "/?lang=es"
    [cookie] = [c for c in signed.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Max-Age" not in cookie  # local http; forgotten when the browser closes
    page = desk.client.get("/")
    assert page.status_code == 200 and 'id="case-form"' in page.text
    assert "Conectado como ana (Equipe de atendimento)" in page.text and ">Sair</button>" in page.text
    assert 'value="ana"' in page.text  # the staff member attending is whoever signed in


def test_behind_https_the_cookie_is_secure(stores: tuple[AccountRepository, SessionRepository]) -> None:
    with client_for(SETTINGS.model_copy(update={"secure_cookies": True}), stores) as client:
        signed = Desk(client).sign_in("ana")
    assert all("Secure" in c for c in signed.headers.get_list("set-cookie"))


def test_a_wrong_password_gets_no_cookie_and_the_same_message_as_an_unknown_username(desk: Desk) -> None:
    wrong, unknown = desk.sign_in("ana", "not the password"), desk.sign_in("nobody", "not the password")
    for refused in (wrong, unknown):
        assert refused.status_code == 401
        assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in refused.headers.get_list("set-cookie"))
        assert alert(refused.text) == "Nome de usuário ou senha incorretos."
    assert desk.session_cookie is None
    assert 'value="ana"' in wrong.text and "not the password" not in wrong.text  # the password is not echoed


def test_five_failures_lock_the_account_with_the_time_in_the_page_language(desk: Desk) -> None:
    for _ in range(4):
        assert alert(desk.sign_in("ana", "not the password").text) == "Nome de usuário ou senha incorretos."
    locked = desk.sign_in("ana", "not the password", headers={"Accept-Language": "en"})
    assert re.fullmatch(r"Too many failed attempts: this account is locked until \d+/\d+/\d+, \d+:\d+\W(AM|PM)\.",
                        alert(locked.text))
    still = desk.sign_in("ana")
    assert still.status_code == 401 and "bloqueada até" in alert(still.text)
    reasons = [e.reason for e in audit_of(desk, "ana") if e.action is AccountAction.SIGN_IN_FAILED]
    assert reasons == [FailureReason.WRONG_PASSWORD] * 5 + [FailureReason.LOCKED]


def test_a_disabled_account_cannot_sign_in(desk: Desk) -> None:
    admin = Desk(desk.client)
    admin.sign_in("admin")
    disabled = admin.client.post("/admin/accounts/ana/disable", data={"csrf_token": admin.csrf("/admin/accounts")})
    assert "Conta ana desativada" in disabled.text
    admin.client.post("/sign-out", data={"csrf_token": admin.csrf()})
    refused = desk.sign_in("ana")
    assert refused.status_code == 401 and alert(refused.text).startswith("Esta conta está desativada.")


def test_the_sign_in_form_needs_its_own_token(desk: Desk) -> None:
    desk.client.get("/sign-in")
    forged = desk.client.post("/sign-in", data={"username": "ana", "password": PASSWORDS["ana"],
                                                "csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 400 and desk.session_cookie is None
    assert alert(forged.text) == "O formulário de acesso tinha expirado. Tente novamente."


def test_sign_in_sends_nobody_to_another_site(desk: Desk) -> None:
    for target in ("https://evil.example/phish", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        desk.client.cookies.clear()
        assert desk.sign_in("ana", next_url=target).headers["location"] == "/"
    desk.client.cookies.clear()
    # In development another service's page on this machine is fine (a production list is a setting).
    assert desk.sign_in("ana", next_url="http://127.0.0.1:8002/inbox").headers["location"] == \
        "http://127.0.0.1:8002/inbox"


def test_a_partner_agency_lands_on_referrals_inbox(desk: Desk,
                                                  stores: tuple[AccountRepository, SessionRepository]) -> None:
    # Sent from a page: back there, whoever they are.
    assert desk.sign_in("recepcao.ubs", next_url="http://127.0.0.1:8002/inbox/referrals/r-1").headers[
        "location"] == "http://127.0.0.1:8002/inbox/referrals/r-1"
    desk.client.cookies.clear()
    # No page to go back to: an agency's home is referral's inbox (the desk's pages are not theirs), staff's the desk.
    assert desk.sign_in("recepcao.ubs").headers["location"] == SETTINGS.agency_home_url
    assert desk.client.get("/sign-in", follow_redirects=False).headers["location"] == SETTINGS.agency_home_url
    desk.client.cookies.clear()
    assert desk.sign_in("ana").headers["location"] == "/"
    # Where the services share one host, the inbox is a path of it.
    with client_for(SETTINGS.model_copy(update={"agency_home_url": "/inbox"}), stores) as client:
        assert Desk(client).sign_in("recepcao.ubs").headers["location"] == "/inbox"


def test_the_sign_in_page_of_a_signed_in_browser_goes_on_where_it_was_going(desk: Desk) -> None:
    desk.sign_in("ana")
    again = desk.client.get("/sign-in?next=/admin/accounts", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/admin/accounts"


# --- CSRF and the API ----------------------------------------------------------------------------------------


def test_the_api_takes_the_session_cookie_with_the_csrf_header(desk: Desk) -> None:
    assert desk.client.post("/api/cases", json={"person": PERSON, "requests": [{"category": "sus_card"}]}
                            ).status_code == 401
    desk.sign_in("ana")
    token = desk.csrf("/")
    body = {"person": PERSON, "requests": [{"category": "sus_card"}]}
    missing = desk.client.post("/api/cases", json=body)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf_failed"
    assert "X-CSRF-Token" in missing.json()["message"]
    wrong = desk.client.post("/api/cases", json=body, headers={CSRF_HEADER: "forged"})
    assert wrong.status_code == 403
    created = desk.client.post("/api/cases", json=body, headers={CSRF_HEADER: token})
    assert created.status_code == 201
    # Reading needs no CSRF token: it changes nothing.
    assert desk.client.get(f"/api/cases/{created.json()['case_id']}").json()["person"]["full_name"] == \
        "Wilner Joseph"
    desk.client.cookies.clear()
    assert desk.client.get(f"/api/cases/{created.json()['case_id']}").status_code == 401


def test_a_form_post_without_its_csrf_token_is_refused(desk: Desk) -> None:
    desk.sign_in("admin")
    for data in ({}, {"csrf_token": "forged"}):
        refused = desk.client.post("/admin/accounts", data={**data, "username": "bia", "role": "staff",
                                                            "password": "a long enough one"})
        assert refused.status_code == 403 and "Este formulário expirou" in refused.text
    signed_out = desk.client.post("/sign-out", data={})
    assert signed_out.status_code == 403 and desk.session_cookie is not None


def test_bearer_tokens_still_work_for_machines(desk: Desk) -> None:
    token = issue_token(SETTINGS.api_token_secret, subject="robot", role=Role.STAFF)
    created = desk.client.post("/api/cases", json={"person": PERSON, "requests": [{"category": "sus_card"}]},
                               headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201
    # Pages are for people: a bearer token does not open them.
    assert desk.client.get("/", headers={"Authorization": f"Bearer {token}"},
                           follow_redirects=False).status_code == 303


# --- roles ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["coordenacao", "recepcao.ubs"])
def test_the_desk_is_for_staff_and_administrators(desk: Desk, username: str) -> None:
    desk.sign_in(username)
    refused = desk.client.get("/", headers={"Accept-Language": "es"})
    assert refused.status_code == 403 and "Su perfil no da acceso a esta página." in refused.text
    assert ">Cerrar sesión</button>" in refused.text  # and the way out is right there
    body = {"person": PERSON, "requests": [{"category": "sus_card"}]}
    assert desk.client.post("/api/cases", json=body, headers={CSRF_HEADER: desk.csrf()}).status_code == 403


def test_the_accounts_page_is_for_administrators(desk: Desk) -> None:
    desk.sign_in("ana")
    assert desk.client.get("/admin/accounts").status_code == 403
    desk.client.post("/sign-out", data={"csrf_token": desk.csrf()})
    desk.sign_in("admin")
    page = desk.client.get("/admin/accounts")
    assert page.status_code == 200
    for demo in DEMO_ACCOUNTS:
        assert f'<th scope="row">{demo.username}</th>' in page.text
    assert "Disable admin" not in page.text and "Desativar admin" not in page.text  # not one's own
    assert 'href="/admin/accounts"' in desk.client.get("/").text


def test_an_administrator_creates_disables_enables_and_resets_accounts(desk: Desk) -> None:
    desk.sign_in("admin")
    token = desk.csrf("/admin/accounts")
    refused = desk.client.post("/admin/accounts", data={"csrf_token": token, "username": "rita", "role": "agency",
                                                        "agency_id": "", "password": "temporary for rita"})
    assert refused.status_code == 422 and "deve indicar a sua instituição" in refused.text
    assert 'value="rita"' in refused.text and "temporary for rita" not in refused.text
    short = desk.client.post("/admin/accounts", data={"csrf_token": token, "username": "rita", "role": "agency",
                                                      "agency_id": "cras-canaa", "password": "short"})
    assert "Uma senha tem pelo menos 12 caracteres." in short.text
    taken = desk.client.post("/admin/accounts", data={"csrf_token": token, "username": "ANA", "role": "staff",
                                                      "password": "temporary for ana"})
    assert taken.status_code == 409 and "Este nome de usuário já está em uso." in taken.text
    created = desk.client.post("/admin/accounts", data={"csrf_token": token, "username": "rita", "role": "agency",
                                                        "agency_id": "cras-canaa", "password": "temporary for rita"})
    assert created.status_code == 200 and "Conta rita criada." in created.text
    reset = desk.client.post("/admin/accounts/rita/password", data={"csrf_token": token,
                                                                    "temporary_password": "another temporary"})
    assert "Nova senha temporária definida para rita" in reset.text
    assert desk.client.post("/admin/accounts/rita/disable", data={"csrf_token": token}).status_code == 200
    enabled = desk.client.post("/admin/accounts/rita/enable", data={"csrf_token": token})
    assert "Conta rita reativada." in enabled.text
    assert desk.client.post("/admin/accounts/nobody/disable", data={"csrf_token": token}).status_code == 404
    assert desk.client.post("/admin/accounts/admin/disable", data={"csrf_token": token}).status_code == 422
    audit = audit_of(desk, "rita")
    assert [(e.action, e.actor) for e in audit] == [
        (AccountAction.CREATED, "admin:admin"), (AccountAction.PASSWORD_RESET, "admin:admin"),
        (AccountAction.DISABLED, "admin:admin"), (AccountAction.ENABLED, "admin:admin")]
    assert all(e.address == "testclient" for e in audit)


# --- signing out, and passwords an administrator reset -------------------------------------------------------


def test_signing_out_revokes_the_session_the_old_cookie_opens_nothing(desk: Desk) -> None:
    desk.sign_in("ana")
    old = desk.session_cookie
    assert old is not None
    signed_out = desk.client.post("/sign-out", data={"csrf_token": desk.csrf("/")}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/sign-in"
    assert any(c.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in c
               for c in signed_out.headers.get_list("set-cookie"))
    assert desk.client.get("/", follow_redirects=False).headers["location"] == "/sign-in?next=%2F"
    # A copy of the old cookie (a shared computer, a stolen token) is worth nothing now.
    desk.client.cookies.set(SESSION_COOKIE, old)
    assert desk.client.get("/", follow_redirects=False).status_code == 303
    assert desk.client.get("/api/cases/x").status_code == 401


def test_a_reset_password_must_be_changed_before_anything_else(desk: Desk) -> None:
    admin = Desk(desk.client)
    admin.sign_in("admin")
    admin.client.post("/admin/accounts/ana/password", data={"csrf_token": admin.csrf("/admin/accounts"),
                                                            "temporary_password": "temporary for ana"})
    admin.client.post("/sign-out", data={"csrf_token": admin.csrf()})
    signed = desk.sign_in("ana", "temporary for ana")
    assert signed.headers["location"] == "/account/password"
    assert desk.client.get("/", follow_redirects=False).headers["location"] == "/account/password"
    page = desk.client.get("/account/password")
    assert "choose your own password" not in page.text and "escolha a sua própria senha" in page.text
    token = field(page.text, "csrf_token")
    api = desk.client.post("/api/cases", json={"person": PERSON, "requests": [{"category": "sus_card"}]},
                           headers={CSRF_HEADER: token})
    assert api.status_code == 403
    differ = desk.client.post("/account/password", data={
        "csrf_token": token, "current_password": "temporary for ana", "new_password": "ana's new passphrase",
        "confirm_password": "something else"})
    assert differ.status_code == 422 and "As duas senhas novas não são iguais." in differ.text
    wrong = desk.client.post("/account/password", data={
        "csrf_token": token, "current_password": "not it", "new_password": "ana's new passphrase",
        "confirm_password": "ana's new passphrase"})
    assert wrong.status_code == 422 and "A senha atual não está correta." in wrong.text
    changed = desk.client.post("/account/password", follow_redirects=False, data={
        "csrf_token": token, "current_password": "temporary for ana", "new_password": "ana's new passphrase",
        "confirm_password": "ana's new passphrase"})
    assert changed.headers["location"] == "/"
    assert desk.client.get("/").status_code == 200


def test_a_person_changes_their_own_password(desk: Desk) -> None:
    desk.sign_in("ana")
    changed = desk.client.post("/account/password", data={
        "csrf_token": desk.csrf(), "current_password": PASSWORDS["ana"], "new_password": "ana's new passphrase",
        "confirm_password": "ana's new passphrase"})
    assert changed.status_code == 200 and "Sua senha foi alterada." in changed.text
    desk.client.post("/sign-out", data={"csrf_token": desk.csrf()})
    assert desk.sign_in("ana", "ana's new passphrase").status_code == 303


# --- the page language follows the account -------------------------------------------------------------------


def test_a_language_chosen_by_a_signed_in_person_follows_them(desk: Desk) -> None:
    desk.sign_in("ana")
    assert '<html lang="ht">' in desk.client.get("/?lang=ht").text
    desk.client.cookies.delete("migradesk_lang")  # another device: no language cookie
    spanish_browser = desk.client.get("/", headers={"Accept-Language": "es"})
    assert '<html lang="ht">' in spanish_browser.text
    desk.client.post("/sign-out", data={"csrf_token": desk.csrf()})
    desk.sign_in("ana")
    assert '<html lang="ht">' in desk.client.get("/", headers={"Accept-Language": "es"}).text
    actions = [e.action for e in audit_of(desk, "ana")]
    assert actions.count(AccountAction.LANGUAGE_SET) == 1


def test_the_session_token_is_reissued_before_other_services_would_refuse_it(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk.sign_in("ana")
    first = desk.session_cookie
    service = service_of(desk)
    ten_minutes_later = service.now() + timedelta(minutes=10)

    def clock() -> datetime:
        return ten_minutes_later

    monkeypatch.setattr(service, "_clock", clock)
    assert desk.client.get("/").status_code == 200
    assert desk.session_cookie not in (None, first)
