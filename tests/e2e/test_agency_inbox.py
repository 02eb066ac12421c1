"""A partner agency's day in a real browser (Debian's Chromium driven by Playwright) against the running services,
in pt-BR and Spanish: the desk registers a visit (API) whose request goes to the agency; the agency's receptionist
opens referral's inbox, is sent to sign in at intake and back, finds the referral, accepts it, schedules the
appointment, records the attendance and completes it with an outcome; the desk's case page (intake) then shows
the referral completed, from referral's events.

The stack is this module's own: intake knows where referral's inbox is (INTAKE_AGENCY_HOME_URL) and referral where
people sign in (REFERRAL_ACCOUNTS_URL), as `make run` has them on the fixed ports.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from infra.demo import DEMO_ACCOUNTS_ENV
from infra.local.process import free_port
from infra.local.services import SERVICE_PORTS, ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_intake.demo import DEMO_ACCOUNTS
from tests.e2e.test_desk_journeys import browser, reload_until_text, wait_for
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser, pytest.mark.slow]

__all__ = ["browser"]  # the module's Chromium, as the desk journeys launch it

STAFF = next(a for a in DEMO_ACCOUNTS if a.username == "ana")
AGENCY = next(a for a in DEMO_ACCOUNTS if a.username == "recepcao.ubs")
TIMEZONE = "America/Sao_Paulo"  # the services' default municipality clock


@dataclass(frozen=True)
class Texts:
    """What a person reads on the pages (written out here, not read from the catalogs)."""

    browser_locale: str
    username: str
    password: str
    sign_in: str
    inbox: str
    signed_in_as: str
    waiting: str
    accept: str
    accepted: str
    schedule_form: str
    date_time: str
    schedule: str
    scheduled: str
    attend_form: str
    attend: str
    attended: str
    complete_form: str
    outcome: str
    got_help: str
    complete: str
    completed_notice: str
    completed: str  # the status on the desk's case page


TEXTS = {
    "pt_BR": Texts(
        browser_locale="pt-BR", username="Nome de usuário", password="Senha", sign_in="Entrar",
        inbox="Encaminhamentos recebidos", signed_in_as="Conectado como recepcao.ubs (Instituição parceira)",
        waiting="Aguardando a instituição", accept="Aceitar", accepted="Encaminhamento aceito.",
        schedule_form="Agendar um horário", date_time="Data e horário do atendimento", schedule="Agendar",
        scheduled="Horário agendado.", attend_form="A pessoa compareceu ao horário agendado",
        attend="Registrar o comparecimento", attended="Comparecimento registrado.",
        complete_form="Concluir o encaminhamento", outcome="Resultado",
        got_help="A pessoa recebeu a ajuda de que precisava", complete="Concluir",
        completed_notice="Encaminhamento concluído.", completed="Concluído"),
    "es": Texts(
        browser_locale="es", username="Nombre de usuario", password="Contraseña", sign_in="Iniciar sesión",
        inbox="Derivaciones recibidas", signed_in_as="Sesión iniciada como recepcao.ubs (Institución asociada)",
        waiting="En espera de la institución", accept="Aceptar", accepted="Derivación aceptada.",
        schedule_form="Programar una cita", date_time="Fecha y hora de la cita", schedule="Programar",
        scheduled="Cita programada.", attend_form="La persona asistió a la cita", attend="Registrar la asistencia",
        attended="Asistencia registrada.", complete_form="Completar la derivación", outcome="Resultado",
        got_help="La persona recibió la ayuda que necesitaba", complete="Completar",
        completed_notice="Derivación completada.", completed="Completada"),
}


@dataclass(frozen=True)
class InboxStack:
    services: dict[str, ServiceProcess]
    tokens: Tokens

    @property
    def intake(self) -> str:
        return self.services["intake"].url

    @property
    def referral(self) -> str:
        return self.services["referral"].url


@pytest.fixture(scope="module")
def inbox_stack(infra: Infra) -> Iterator[InboxStack]:
    secret = secrets.token_urlsafe(32)
    ports = {name: free_port() for name in SERVICE_PORTS}
    extra_env = {
        "REFERRAL_SEED_DEMO_AGENCIES": "true", **DEMO_ACCOUNTS_ENV,
        # Each service's pages know where the other's are (`make run` has them on 8001 and 8002).
        "REFERRAL_ACCOUNTS_URL": f"http://127.0.0.1:{ports['intake']}",
        "INTAKE_AGENCY_HOME_URL": f"http://127.0.0.1:{ports['referral']}/inbox",
    }
    with running_services(infra, new_namespace("inbox"), secret, ports=ports, extra_env=extra_env) as services:
        yield InboxStack(services, Tokens(secret))


def register_visit(stack: InboxStack) -> tuple[str, str]:
    """The desk registers a Spanish-speaker's visit for primary care (shared with the network); (case, referral)."""
    person = {"full_name": f"Rosa Inbox {uuid.uuid4().hex[:6]}", "birth_date": "1990-05-17", "sex": "female",
              "nationality": "VEN", "preferred_language": "es", "languages": ["pt"], "migratory_status": "other",
              "documents": [], "phone": "(67) 99876-5432",
              "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}}
    response = httpx.post(f"{stack.intake}/api/cases", headers=stack.tokens.staff,
                          json={"person": person, "requests": [{"category": "primary_care"}]})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]

    def referral() -> dict[str, Any] | None:
        found = httpx.get(f"{stack.referral}/api/referrals", params={"case_id": case_id},
                          headers=stack.tokens.staff)
        return next(iter(found.json()["referrals"]), None) if found.status_code == 200 else None

    routed: dict[str, Any] = wait_for(referral, what="the referral in referral")
    assert routed["agency_id"] == AGENCY.agency_id, routed
    return case_id, routed["referral_id"]


def sign_in(page: Page, texts: Texts, username: str, password: str) -> None:
    page.get_by_label(texts.username).fill(username)
    page.get_by_label(texts.password).fill(password)
    page.get_by_role("button", name=texts.sign_in, exact=True).click()


@pytest.mark.parametrize("locale", ["pt_BR", "es"])
def test_an_agency_works_a_referral_from_its_inbox(inbox_stack: InboxStack, browser: Browser, locale: str) -> None:
    texts = TEXTS[locale]
    stack = inbox_stack
    case_id, referral_id = register_visit(stack)

    # 1. The inbox, anonymous: intake's sign-in page, then back to the inbox.
    agency = browser.new_context(locale=texts.browser_locale)
    page = agency.new_page()
    page.goto(f"{stack.referral}/inbox")
    expect(page).to_have_url(f"{stack.intake}/sign-in?next={quote(f'{stack.referral}/inbox', safe='')}")
    sign_in(page, texts, AGENCY.username, AGENCY.password)
    expect(page).to_have_url(f"{stack.referral}/inbox")
    expect(page.get_by_role("heading", name=texts.inbox, level=1)).to_be_visible()
    expect(page.get_by_text(texts.signed_in_as)).to_be_visible()
    row = page.locator(f'tr[data-referral="{referral_id}"]')
    expect(row.locator(".referral-status")).to_have_text(texts.waiting)

    # 2. The referral: accept, schedule, record the attendance, complete with an outcome.
    row.get_by_role("link").click()
    expect(page).to_have_url(f"{stack.referral}/inbox/referrals/{referral_id}")
    page.get_by_role("button", name=texts.accept, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.accepted)

    form = page.get_by_role("form", name=texts.schedule_form)
    when = (datetime.now(ZoneInfo(TIMEZONE)) + timedelta(days=2)).replace(hour=10, minute=30)
    form.get_by_label(texts.date_time).fill(when.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_role("button", name=texts.schedule, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.scheduled)

    page.get_by_role("form", name=texts.attend_form).get_by_role("button", name=texts.attend).click()
    expect(page.get_by_role("status")).to_have_text(texts.attended)

    form = page.get_by_role("form", name=texts.complete_form)
    form.get_by_label(texts.outcome, exact=True).select_option(label=texts.got_help)
    form.get_by_role("button", name=texts.complete, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.completed_notice)
    expect(page.locator("#referral-status")).to_have_attribute("data-status", "completed")
    agency.close()

    # 3. The desk's case page shows the referral completed (referral's events, through Kafka, to intake).
    desk = browser.new_context(locale=texts.browser_locale)
    page = desk.new_page()
    page.goto(f"{stack.intake}/cases/{case_id}")
    sign_in(page, texts, STAFF.username, STAFF.password)
    expect(page).to_have_url(f"{stack.intake}/cases/{case_id}")
    status = page.locator(f'p.referral[data-referral="{referral_id}"] .referral-status')
    reload_until_text(page, status, texts.completed)
    desk.close()


def test_a_decline_with_a_reason_goes_on_to_the_next_agency(inbox_stack: InboxStack, browser: Browser) -> None:
    """The agency declines from its referral page, choosing why; referral re-routes the request to the next
    eligible agency (the other UBS serving health), and the desk's case page follows the request there."""
    stack = inbox_stack
    case_id, referral_id = register_visit(stack)

    agency = browser.new_context(locale="pt-BR")
    page = agency.new_page()
    page.goto(f"{stack.referral}/inbox/referrals/{referral_id}")
    sign_in(page, TEXTS["pt_BR"], AGENCY.username, AGENCY.password)
    expect(page).to_have_url(f"{stack.referral}/inbox/referrals/{referral_id}")
    form = page.get_by_role("form", name="Recusar o encaminhamento")
    form.get_by_label("Motivo").select_option(label="Sem capacidade para atender agora")
    form.get_by_role("button", name="Recusar", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Encaminhamento recusado: a demanda segue para outra instituição.")
    expect(page.locator("#referral-status")).to_have_attribute("data-status", "declined")
    expect(page.get_by_text("Sem capacidade para atender agora").first).to_be_visible()  # the history says why
    agency.close()

    def next_referral() -> dict[str, Any] | None:
        found = httpx.get(f"{stack.referral}/api/referrals", params={"case_id": case_id},
                          headers=stack.tokens.staff).json()["referrals"]
        return next((r for r in found if r["referral_id"] != referral_id), None)

    moved: dict[str, Any] = wait_for(next_referral, what="the request re-routed to the next agency")
    assert (moved["agency_id"], moved["status"]) == ("ubs-vila-industrial", "pending"), moved
    declined = httpx.get(f"{stack.referral}/api/referrals/{referral_id}", headers=stack.tokens.staff).json()
    assert (declined["status"], declined["decline_reason"]) == ("declined", "no_capacity"), declined

    desk = browser.new_context(locale="pt-BR")
    page = desk.new_page()
    page.goto(f"{stack.intake}/cases/{case_id}")
    sign_in(page, TEXTS["pt_BR"], STAFF.username, STAFF.password)
    now_at = page.locator(f'p.referral[data-referral="{moved["referral_id"]}"]')
    reload_until_text(page, now_at.locator(".referral-status"), "Aguardando a instituição")
    expect(now_at).to_contain_text("ubs-vila-industrial")
    desk.close()
