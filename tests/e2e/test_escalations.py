"""Escalations people see, against the running services and a real SMTP server on a local socket (aiosmtpd, in
this process): a request both CRAS decline falls to manual routing, and referral's job writes to the desk's
mailbox, without personal data; in a real browser (Debian's Chromium), the desk prints the person's slip from
intake's case page (in the person's language, Haitian Creole here) and finds the request on referral's
escalations page with the notice sent.

The stack is this module's own: intake knows where referral's pages are (INTAKE_AGENCY_HOME_URL) and referral
where people sign in (REFERRAL_ACCOUNTS_URL) and which mail server to use (REFERRAL_SMTP_*).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, Locator, Page, expect

from infra.demo import DEMO_ACCOUNTS_ENV
from infra.local.process import free_port
from infra.local.services import SERVICE_PORTS, ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_intake.demo import DEMO_ACCOUNTS
from tests.e2e.test_agency_inbox import TEXTS, sign_in
from tests.e2e.test_desk_journeys import browser, reload_until_text, wait_for
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

__all__ = ["browser"]

STAFF = next(a for a in DEMO_ACCOUNTS if a.username == "ana")
DESK_MAILBOX = "coordenacao@dourados.example"
PERSON_NAME = f"Wideline Joseph {uuid.uuid4().hex[:6]}"


@dataclass
class Mailbox:
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        with self.lock:
            # The default policy parses into an EmailMessage (decoded headers, get_content).
            self.messages.append((list(envelope.rcpt_tos), cast(EmailMessage, message_from_bytes(
                envelope.content, policy=policy.default))))
        return "250 OK"


@dataclass(frozen=True)
class EscalationStack:
    services: dict[str, ServiceProcess]
    tokens: Tokens
    mailbox: Mailbox

    @property
    def intake(self) -> str:
        return self.services["intake"].url

    @property
    def referral(self) -> str:
        return self.services["referral"].url


@pytest.fixture(scope="module")
def escalation_stack(infra: Infra) -> Iterator[EscalationStack]:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    secret = secrets.token_urlsafe(32)
    ports = {name: free_port() for name in SERVICE_PORTS}
    extra_env = {
        "REFERRAL_SEED_DEMO_AGENCIES": "true", **DEMO_ACCOUNTS_ENV,
        "REFERRAL_ACCOUNTS_URL": f"http://127.0.0.1:{ports['intake']}",
        "INTAKE_AGENCY_HOME_URL": f"http://127.0.0.1:{ports['referral']}/inbox",
        "REFERRAL_SMTP_HOST": "127.0.0.1", "REFERRAL_SMTP_PORT": str(smtp.port), "REFERRAL_SMTP_STARTTLS": "false",
        "REFERRAL_DESK_NOTIFICATION_EMAIL": DESK_MAILBOX, "REFERRAL_NOTIFY_POLL_SECONDS": "0.5",
        "REFERRAL_PAGES_BASE_URL": f"http://127.0.0.1:{ports['referral']}",
    }
    try:
        with running_services(infra, new_namespace("escal"), secret, ports=ports, extra_env=extra_env) as services:
            yield EscalationStack(services, Tokens(secret), mailbox)
    finally:
        smtp.stop()


def register_visit(stack: EscalationStack) -> tuple[str, str]:
    """The desk registers a Haitian Creole speaker's request for the Cadastro Único; (case, referral)."""
    person = {"full_name": PERSON_NAME, "birth_date": "1988-02-03", "sex": "female", "nationality": "HTI",
              "preferred_language": "ht", "languages": ["fr"], "migratory_status": "other", "documents": [],
              "phone": "(67) 99123-4567",
              "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}}
    response = httpx.post(f"{stack.intake}/api/cases", headers=stack.tokens.staff,
                          json={"person": person, "requests": [{"category": "cadunico"}]})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id, wait_for(lambda: first_referral(stack, case_id), what="the referral in referral")["referral_id"]


def first_referral(stack: EscalationStack, case_id: str) -> dict[str, Any] | None:
    found = httpx.get(f"{stack.referral}/api/referrals", params={"case_id": case_id}, headers=stack.tokens.staff)
    return next(iter(found.json()["referrals"]), None) if found.status_code == 200 else None


def declined_by_every_cras(stack: EscalationStack, case_id: str) -> dict[str, Any]:
    """Each CRAS the request goes to declines it: it falls to manual routing."""
    for _ in range(2):
        live = wait_for(lambda: next((r for r in httpx.get(
            f"{stack.referral}/api/referrals", params={"case_id": case_id}, headers=stack.tokens.staff,
        ).json()["referrals"] if r["status"] in ("pending", "needs_manual_routing")), None), what="a live referral")
        assert live["status"] == "pending", live
        answer = httpx.post(f"{stack.referral}/api/referrals/{live['referral_id']}/actions",
                            headers=stack.tokens.agency(live["agency_id"]),
                            json={"action": "decline", "reason": "no_capacity"})
        assert answer.status_code == 200, answer.text

    def manual() -> dict[str, Any] | None:
        found = httpx.get(f"{stack.referral}/api/referrals/escalations", headers=stack.tokens.staff).json()
        return next((r for r in found["needs_manual_routing"] if r["case_id"] == case_id), None)

    found: dict[str, Any] = wait_for(manual, what="the request in the manual-routing queue")
    return found


def test_a_request_no_agency_takes_is_mailed_to_the_desk(escalation_stack: EscalationStack) -> None:
    stack = escalation_stack
    case_id, _ = register_visit(stack)
    manual = declined_by_every_cras(stack, case_id)

    def mailed() -> list[tuple[list[str], EmailMessage]]:
        with stack.mailbox.lock:
            return [m for m in stack.mailbox.messages if manual["referral_id"] in m[1].get_content()]

    [(recipients, message)] = wait_for(mailed, what="the desk's e-mail")
    assert recipients == [DESK_MAILBOX]
    assert message["Subject"] == "[MigraDesk] Encaminhamento que nenhuma instituição pôde receber: Assistência social"
    text = message.get_content()
    assert f"{stack.referral}/inbox/referrals/{manual['referral_id']}" in text
    assert PERSON_NAME.split()[0] not in text and "99123" not in text and case_id not in text

    def marked_sent() -> bool:
        shown = httpx.get(f"{stack.referral}/api/referrals/{manual['referral_id']}", headers=stack.tokens.staff)
        return [n["status"] for n in shown.json().get("notices", {}).values()] == ["sent"]

    wait_for(marked_sent, what="the notice marked sent")
    with stack.mailbox.lock:
        assert len([m for m in stack.mailbox.messages if manual["referral_id"] in m[1].get_content()]) == 1


def reload_until_sent(page: Page, notice: Locator, *, timeout: float = 60.0) -> None:
    """Reload until the notice reads sent (referral's job sends it meanwhile)."""
    deadline = time.monotonic() + timeout
    while notice.count() != 1 or notice.get_attribute("data-status") != "sent":
        if time.monotonic() > deadline:
            expect(notice).to_have_attribute("data-status", "sent", timeout=1)  # fails, saying what it reads
        page.wait_for_timeout(500)
        page.reload()


@pytest.mark.browser
def test_the_desk_prints_the_slip_and_finds_the_escalation(escalation_stack: EscalationStack,
                                                          browser: Browser) -> None:
    stack = escalation_stack
    case_id, referral_id = register_visit(stack)
    texts = TEXTS["pt_BR"]

    # The case page (intake) links each routed referral to its slip (referral), in the person's language.
    desk = browser.new_context(locale="pt-BR")
    page = desk.new_page()
    page.goto(f"{stack.intake}/cases/{case_id}")
    sign_in(page, texts, STAFF.username, STAFF.password)
    expect(page).to_have_url(f"{stack.intake}/cases/{case_id}")
    slip_link = page.locator(f'p.referral[data-referral="{referral_id}"] a.slip-link')
    reload_until_text(page, slip_link, "Imprimir a guia para a pessoa")
    slip_link.click()
    expect(page).to_have_url(f"{stack.referral}/inbox/referrals/{referral_id}/slip")
    expect(page.get_by_role("heading", name="Guia de encaminhamento", level=1)).to_be_visible()
    slip = page.locator("#slip")
    expect(slip).to_have_attribute("lang", "ht")
    expect(slip.get_by_role("heading", name="Sa pou w pote")).to_be_visible()
    expect(slip).to_contain_text(f"Pou: {PERSON_NAME}")
    expect(slip.locator("#slip-reference")).to_have_text(referral_id)
    expect(slip).not_to_contain_text("99123")
    # Printed: the slip alone, without the header or the buttons.
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Imprimir")).to_be_hidden()
    expect(slip).to_be_visible()
    page.emulate_media(media="screen")

    # Both CRAS decline: the request is on the escalations page, with the notice to the desk.
    manual = declined_by_every_cras(stack, case_id)
    # The desk's navigation (intake) leads to referral's escalations page.
    page.goto(f"{stack.intake}/cases")
    page.get_by_role("navigation", name="Núcleo").get_by_role("link", name="Atrasos e pendências").click()
    expect(page).to_have_url(f"{stack.referral}/inbox/escalations")
    row = page.locator(f'#manual tr[data-referral="{manual["referral_id"]}"]')
    expect(row).to_be_visible()
    notice = row.locator("li[data-notice]")
    reload_until_sent(page, notice)
    expect(notice).to_contain_text(DESK_MAILBOX)
    expect(notice).to_contain_text("Enviado")
    # From its row to its page's routing form: the desk sends it to a CRAS after all.
    row.get_by_role("link", name="Encaminhar a uma instituição").click()
    expect(page).to_have_url(f"{stack.referral}/inbox/referrals/{manual['referral_id']}#route")
    expect(page.locator("#notices")).to_contain_text("Enviado")
    form = page.get_by_role("form", name="Encaminhar a uma instituição")
    form.get_by_label("Instituição").select_option(value="cras-canaa")
    form.get_by_label("Motivo").fill("vaga aberta no CRAS")
    form.get_by_role("button", name="Encaminhar", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Encaminhamento enviado: a instituição já o recebeu.")
    expect(page.locator("#referral-status")).to_have_attribute("data-status", "pending")
    page.goto(f"{stack.referral}/inbox/escalations")
    expect(page.locator(f'tr[data-referral="{manual["referral_id"]}"]')).to_have_count(0)
    desk.close()
