"""The pages' session as any service sees it (migradesk_shared.web.session): the signed token in the cookie, the
CSRF token bound to it, and the page dependency that sends an anonymous browser to intake's sign-in page."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from migradesk_intake.entrypoints.pages import desk_pages
from migradesk_shared.auth import Principal, Role, Unauthenticated, issue_token, read_token, requires
from migradesk_shared.http import install_error_handlers
from migradesk_shared.settings import ServiceSettings
from migradesk_shared.web.session import (
    CSRF_HEADER,
    SESSION_COOKIE,
    PageUser,
    SessionTokens,
    cookie_header,
    page_user,
)

SECRET = secrets.token_urlsafe(32)
NOW = datetime.now(UTC).replace(microsecond=0)


def user(**changes: Any) -> PageUser:
    fields: dict[str, Any] = {"subject": "rita", "role": Role.AGENCY, "session_id": "s" * 43,
                              "expires_at": NOW + timedelta(minutes=15), "agency_id": "cras-canaa",
                              "language": "es"}
    return PageUser(**{**fields, **changes})


def test_a_session_token_names_the_session_the_account_and_its_expiry() -> None:
    tokens = SessionTokens(SECRET)
    read = tokens.read(tokens.issue(user(), now=NOW))
    assert read == user()
    assert read is not None and read.principal == Principal("rita", Role.AGENCY, "cras-canaa")
    assert read.actor == "agency:rita@cras-canaa"
    pending = tokens.read(tokens.issue(user(must_change_password=True, language=None), now=NOW))
    assert pending is not None and pending.must_change_password and pending.language is None


def test_expired_forged_and_foreign_session_tokens_name_nobody() -> None:
    tokens = SessionTokens(SECRET)
    expired = tokens.issue(user(expires_at=NOW - timedelta(seconds=1)), now=NOW - timedelta(minutes=15))
    assert tokens.read(expired) is None
    # Intake reads it anyway: its session record decides there.
    assert tokens.read(expired, verify_expiry=False) is not None
    assert tokens.read(SessionTokens(secrets.token_urlsafe(32)).issue(user(), now=NOW)) is None
    assert tokens.read("garbage") is None
    token = tokens.issue(user(), now=NOW)
    head, body, signature = token.split(".")
    assert tokens.read(f"{head}.{body}.{signature[::-1]}") is None


def test_a_session_token_is_no_bearer_token_and_a_bearer_token_no_session_token() -> None:
    tokens = SessionTokens(SECRET)
    with pytest.raises(Unauthenticated):
        read_token(SECRET, tokens.issue(user(), now=NOW), service="intake")
    assert tokens.read(issue_token(SECRET, subject="rita", role=Role.AGENCY, agency_id="cras-canaa")) is None


def test_the_csrf_token_is_bound_to_its_session() -> None:
    tokens = SessionTokens(SECRET)
    token = tokens.csrf_token("session-a")
    assert tokens.csrf_valid("session-a", token)
    assert not tokens.csrf_valid("session-b", token)
    assert not tokens.csrf_valid("session-a", None) and not tokens.csrf_valid("session-a", "")
    assert not SessionTokens(secrets.token_urlsafe(32)).csrf_valid("session-a", token)
    # It is not the session id, nor anything a page could compute without the secret.
    assert "session-a" not in token


def test_the_cookie_is_http_only_same_site_and_secure_when_told() -> None:
    plain = cookie_header(SESSION_COOKIE, "t", secure=False)
    assert plain == "migradesk_session=t; HttpOnly; Path=/; SameSite=Lax"
    assert "Secure" in cookie_header(SESSION_COOKIE, "t", secure=True)
    assert "Domain=.example.org" in cookie_header(SESSION_COOKIE, "t", secure=True, domain=".example.org")


# --- another service's pages: the token alone decides -------------------------------------------------------


@pytest.fixture
def other_service() -> Iterator[TestClient]:
    """A service with pages that is not intake: it reads the session token statelessly."""
    app = FastAPI()
    app.state.settings = ServiceSettings(api_token_secret=SECRET, accounts_url="http://desk.example")
    install_error_handlers(app)
    pages = desk_pages()
    pages.install_error_pages(app)

    @app.get("/inbox", response_class=HTMLResponse)
    async def inbox(request: Request,
                    who: Annotated[PageUser, Depends(page_user(Role.AGENCY, Role.STAFF))]) -> HTMLResponse:
        return HTMLResponse(f"inbox of {who.agency_id}")

    @app.post("/inbox/accept", response_class=HTMLResponse)
    async def accept(who: Annotated[PageUser, Depends(page_user(Role.AGENCY))]) -> HTMLResponse:
        return HTMLResponse("accepted")

    @app.post("/api/referrals/x/actions")
    async def act(caller: Annotated[Principal, Depends(requires(Role.AGENCY))]) -> dict[str, str]:
        return {"by": caller.actor}

    with TestClient(app, base_url="http://inbox.example") as client:
        yield client


def signed_in(client: TestClient, **changes: Any) -> PageUser:
    who = user(**changes)
    client.cookies.set(SESSION_COOKIE, SessionTokens(SECRET).issue(who, now=NOW))
    return who


def test_an_anonymous_browser_is_sent_to_intake_to_sign_in_and_back(other_service: TestClient) -> None:
    response = other_service.get("/inbox?status=pending", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "http://desk.example/sign-in?next=http%3A%2F%2Finbox.example%2Finbox%3Fstatus%3Dpending")


def test_a_signed_in_browser_is_served_without_asking_intake(other_service: TestClient) -> None:
    signed_in(other_service)
    assert other_service.get("/inbox").text == "inbox of cras-canaa"


def test_an_expired_token_sends_the_browser_to_intake_again(other_service: TestClient) -> None:
    signed_in(other_service, expires_at=NOW - timedelta(seconds=1))
    assert other_service.get("/inbox", follow_redirects=False).status_code == 303


def test_a_wrong_role_gets_the_refusal_page_in_its_language(other_service: TestClient) -> None:
    signed_in(other_service, role=Role.COORDINATOR, agency_id=None, language="es")
    refused = other_service.get("/inbox")
    assert refused.status_code == 403
    assert "Acceso denegado" in refused.text and "Su perfil no da acceso a esta página." in refused.text


def test_a_form_post_needs_the_csrf_token_of_its_session(other_service: TestClient) -> None:
    who = signed_in(other_service)
    assert other_service.post("/inbox/accept", data={}).status_code == 403
    assert other_service.post("/inbox/accept", data={"csrf_token": "forged"}).status_code == 403
    token = SessionTokens(SECRET).csrf_token(who.session_id)
    assert other_service.post("/inbox/accept", data={"csrf_token": token}).text == "accepted"
    assert other_service.post("/inbox/accept", headers={CSRF_HEADER: token}).text == "accepted"


def test_the_api_takes_the_session_cookie_with_its_csrf_header(other_service: TestClient) -> None:
    anonymous = other_service.post("/api/referrals/x/actions")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    who = signed_in(other_service)
    refused = other_service.post("/api/referrals/x/actions")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    token = SessionTokens(SECRET).csrf_token(who.session_id)
    accepted = other_service.post("/api/referrals/x/actions", headers={CSRF_HEADER: token})
    assert accepted.json() == {"by": "agency:rita@cras-canaa"}
    # A bearer token decides when there is one, whatever cookie comes along.
    bad = other_service.post("/api/referrals/x/actions", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_a_reset_password_closes_the_api_until_it_is_changed(other_service: TestClient) -> None:
    who = signed_in(other_service, must_change_password=True)
    token = SessionTokens(SECRET).csrf_token(who.session_id)
    assert other_service.post("/api/referrals/x/actions", headers={CSRF_HEADER: token}).status_code == 403
    page = other_service.get("/inbox", follow_redirects=False)
    assert page.headers["location"] == "http://desk.example/account/password"
