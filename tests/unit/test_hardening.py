"""What every service's HTTP side, settings and logs do to be defensible: secrets never shown, security headers
on every response, a request size limit, no public API documentation or metrics in a deployment, and JSON logs
that keep an exception's traceback (never its local variables)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import logging
import re
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.types import Message

from migradesk_intake.bootstrap import create_app as create_intake
from migradesk_intake.settings import IntakeSettings
from migradesk_metrics.settings import MetricsSettings
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.auth import Role, issue_token, read_token
from migradesk_shared.http import INLINE_HANDLER_HASHES, RequestSizeLimitMiddleware, service_app
from migradesk_shared.logging import configure_logging
from migradesk_shared.settings import Environment, ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(32)
STORE_PASSWORD = "store-pass-" + secrets.token_hex(8)
STORE_URI = f"mongodb://intake:{STORE_PASSWORD}@db.internal:27017/"
TEMPLATES = sorted([*ROOT.glob("services/*/migradesk_*/templates/*.html"),
                    *ROOT.glob("shared/migradesk_shared/web/templates/*.html")])


# --- secrets ------------------------------------------------------------------------------------------------


def test_secrets_never_show_in_a_repr_a_dump_or_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    settings = IntakeSettings(api_token_secret=SECRET, mongodb_uri=STORE_URI, metrics_token="scrape-" + SECRET)
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    for text in shown:
        assert SECRET not in text and STORE_PASSWORD not in text
    # Still what signs and checks the tokens, where they are used.
    token = issue_token(settings.api_token_secret, subject="ana", role=Role.STAFF)
    assert read_token(SECRET, token, service="intake").subject == "ana"
    assert settings.mongodb_uri.get_secret_value() == STORE_URI
    with logging_restored():
        log = configure_logging("intake", json=True)
        log.info("settings read", settings=settings)
    assert SECRET not in capsys.readouterr().out


def test_a_refused_setting_names_the_field_never_the_values_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_ENVIRONMENT", "production")
    monkeypatch.setenv("INTAKE_MONGODB_URI", STORE_URI)
    monkeypatch.setenv("INTAKE_API_TOKEN_SECRET", "too-short-" + STORE_PASSWORD[:8])
    with pytest.raises(ValidationError) as refused:
        IntakeSettings()
    assert "API_TOKEN_SECRET is too short" in str(refused.value)
    assert STORE_PASSWORD not in str(refused.value) and STORE_PASSWORD[:8] not in str(refused.value)


# --- security headers ---------------------------------------------------------------------------------------


def small_app(settings: ServiceSettings) -> tuple[TestClient, list[int]]:
    """A service app with one route that reads its body, and what that route read."""
    router = APIRouter()
    read: list[int] = []

    @router.post("/api/echo")
    async def echo(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"bytes": read[-1]}

    app = service_app(title="test", settings=settings, lifespan=None, router=router)
    return TestClient(app, raise_server_exceptions=False), read


def policy_of(headers: Any) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in headers["content-security-policy"].split(";"))}


def test_every_response_carries_the_security_headers() -> None:
    client = TestClient(create_intake(IntakeSettings(api_token_secret=SECRET)), raise_server_exceptions=False)
    for response in (client.get("/sign-in"), client.get("/api/cases"), client.get("/health/live"),
                     client.get("/no/such/page")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        policy = policy_of(response.headers)
        assert policy["default-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert policy["form-action"][0] == "'self'"


def test_each_response_has_its_own_script_nonce() -> None:
    client = TestClient(create_intake(IntakeSettings(api_token_secret=SECRET)))
    policies = [client.get("/sign-in").headers["content-security-policy"] for _ in range(3)]
    nonces = {nonce for policy in policies for nonce in re.findall(r"'nonce-([^']+)'", policy)}
    assert len(nonces) == 3 and all(len(n) >= 16 for n in nonces)


def deployed(settings: type[S], **fields: Any) -> S:
    return settings(**{"environment": Environment.PRODUCTION, "api_token_secret": SECRET, **fields})


def test_forms_may_go_only_to_this_service_and_the_pages_the_settings_name() -> None:
    intake = deployed(IntakeSettings, agency_home_url="https://inbox.example.gov.br/inbox",
                      coordinator_home_url="/dashboard", return_origins=["https://painel.example.gov.br"])
    assert intake.page_origins() == ["https://painel.example.gov.br", "https://inbox.example.gov.br"]
    referral = deployed(ReferralSettings, accounts_url="https://desk.example.gov.br")
    assert referral.page_origins() == ["https://desk.example.gov.br"]
    assert deployed(MetricsSettings, accounts_url="").page_origins() == []
    # `make run` serves the three on loopback ports, and sign-in may return to any of them.
    assert "http://127.0.0.1:*" in MetricsSettings().page_origins()
    client, _ = small_app(referral)
    assert policy_of(client.get("/health/live").headers)["form-action"] == ["'self'", "https://desk.example.gov.br"]


def test_every_inline_script_of_the_pages_carries_the_nonce_and_every_inline_handler_is_allowed() -> None:
    for template in TEMPLATES:
        text = template.read_text()
        for attributes in re.findall(r"<script\b([^>]*)>", text):
            if "src=" in attributes or "application/json" in attributes:
                continue
            assert 'nonce="{{ csp_nonce }}"' in attributes, f"{template.name}: an inline script without the nonce"
        for handler in re.findall(r'\son[a-z]+="([^"]*)"', text):
            digest = base64.b64encode(hashlib.sha256(html.unescape(handler).encode()).digest()).decode()
            assert f"'sha256-{digest}'" in INLINE_HANDLER_HASHES, f"{template.name}: {handler!r} is not allowed"


def test_the_api_documentation_is_served_only_where_the_settings_allow_it() -> None:
    open_docs, _ = small_app(ServiceSettings())
    assert open_docs.get("/openapi.json").status_code == 200
    docs = open_docs.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers  # its scripts are a CDN's
    assert docs.headers["x-frame-options"] == "DENY"
    closed, _ = small_app(ServiceSettings(public_docs=False))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status_code == 404, path
        assert "content-security-policy" in closed.get(path).headers


# --- /metrics -----------------------------------------------------------------------------------------------


def test_metrics_answer_the_token_or_development_only() -> None:
    development, _ = small_app(ServiceSettings())
    assert development.get("/metrics").status_code == 200
    without_token, _ = small_app(deployed(ServiceSettings))
    assert without_token.get("/metrics").status_code == 404
    token = secrets.token_urlsafe(24)
    with_token, _ = small_app(deployed(ServiceSettings, metrics_token=token))
    assert with_token.get("/metrics").status_code == 401
    assert with_token.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert with_token.get("/metrics", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 401
    scraped = with_token.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "python_info" in scraped.text


# --- request size -------------------------------------------------------------------------------------------

LIMIT = 4096


def test_a_body_over_the_limit_is_refused_before_the_route_reads_it() -> None:
    client, read = small_app(ServiceSettings(max_request_bytes=LIMIT))
    assert client.post("/api/echo", json={"note": "x" * 100}).json() == {"bytes": 111}
    refused = client.post("/api/echo", json={"note": "x" * LIMIT})
    assert int(refused.request.headers["content-length"]) > LIMIT
    assert refused.status_code == 413
    assert refused.json()["error"] == "request_too_large"
    assert refused.json()["details"] == {"limit_bytes": LIMIT} and str(LIMIT) in refused.json()["message"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert read == [111]


def test_a_chunked_body_is_counted_as_it_arrives() -> None:
    client, read = small_app(ServiceSettings(max_request_bytes=LIMIT))

    def chunks(count: int) -> Iterator[bytes]:
        yield from (b"x" * 1024 for _ in range(count))

    assert client.post("/api/echo", content=chunks(3)).json() == {"bytes": 3072}
    refused = client.post("/api/echo", content=chunks(40))
    assert refused.request.headers["transfer-encoding"] == "chunked"
    assert refused.status_code == 413 and refused.json()["details"] == {"limit_bytes": LIMIT}
    assert read == [3072]


async def test_the_limit_holds_for_a_body_without_a_length() -> None:
    """Below the test client: a body in parts and no Content-Length, as a chunked upload reaches the app."""
    reached: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    async def parts() -> AsyncIterator[Message]:
        for n in range(10):
            yield {"type": "http.request", "body": b"y" * 1000, "more_body": n < 9}

    incoming = parts()
    sent: list[Message] = []

    async def receive() -> Message:
        return await anext(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/echo", "headers": [(b"transfer-encoding", b"chunked")]}
    await RequestSizeLimitMiddleware(app, limit=LIMIT)(scope, receive, send)
    assert reached == []
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]
    assert json.loads(b"".join(m.get("body", b"") for m in sent))["details"] == {"limit_bytes": LIMIT}


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app was called")

    async def receive() -> Message:
        raise AssertionError("the body was read")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/cases",
             "headers": [(b"content-length", str(LIMIT + 1).encode())]}
    await RequestSizeLimitMiddleware(app, limit=LIMIT)(scope, receive, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]


# --- logs ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """configure_logging replaces the root handler and structlog's configuration: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def failing(person_name: str) -> None:
    raise ValueError("the case could not be read")


def test_a_json_log_line_keeps_the_traceback_and_never_the_local_variables(
        capsys: pytest.CaptureFixture[str]) -> None:
    with logging_restored():
        log = configure_logging("intake", json=True)
        try:
            failing("Daniela Suárez")
        except ValueError:
            log.exception("case read failed", case_id="c-1")
            # A record of the standard library (uvicorn, aiokafka) goes through the same renderer.
            logging.getLogger("uvicorn.error").error("request failed", exc_info=sys.exc_info())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["case read failed", "request failed"]
    for line in lines:
        [exception] = line["exception"]
        assert (exception["exc_type"], exception["exc_value"]) == ("ValueError", "the case could not be read")
        assert [frame["name"] for frame in exception["frames"]][-1] == "failing"
        assert all("locals" not in frame for frame in exception["frames"])
        assert "Daniela" not in json.dumps(line)
    assert lines[0]["case_id"] == "c-1"
