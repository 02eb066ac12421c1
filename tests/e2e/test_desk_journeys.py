"""A desk's day in a real browser (Debian's Chromium driven by Playwright) against the running services, in each
language staff work in: sign in (a wrong password first), register a person with two requests and a CPF, find
them again by a misspelt name, add a note and a follow-up, watch the health referral turn from pending to
accepted when the agency acts, close the case, meet a stale edit of the person's data (409) and save again, sign
out and find the pages closed.

The person's name is a canary unique to the run: after each journey, no log line and no exported span of the
stack holds it (nor their phones, CPF, note or follow-up). The stack is this module's own: it has the demo
accounts to sign in with, and its services export their spans to the console, so their log files hold the
spans too.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from babel.dates import format_date
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from infra.demo import DEMO_ACCOUNTS_ENV
from infra.local.services import ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_intake.demo import DEMO_ACCOUNTS
from migradesk_intake.domain.documents import cpf_check_digits
from tests.e2e.test_privacy_canary import SERVER_SPAN_MARKER, canaries_in, scan_files
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STAFF = next(a for a in DEMO_ACCOUNTS if a.username == "ana")
# How long a page may take to show what the pipeline did (an event through Kafka to referral and back).
PIPELINE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Texts:
    """What a person reads on the pages in one language (written out here, not read from the catalogs, so a
    catalog that lost a translation fails the test)."""

    tag: str  # the html lang attribute
    browser_locale: str  # the browser's language, sent as Accept-Language
    babel_locale: str  # the locale the pages format dates in
    # sign-in and the header
    username: str
    password: str
    sign_in: str
    wrong_credentials: str
    signed_in_as: str
    sign_out: str
    # the desk's navigation
    worklist: str
    desk_nav: str  # the name of the desk's navigation
    register_a_visit: str
    # the desk
    full_name: str
    nationality: str
    language: str
    request: str  # a request row, "{n}" its number
    category: str
    add_request: str
    add_document: str
    document: str  # a document row, "{n}" its number
    document_type: str
    number: str
    phone: str
    basis_consent: str
    share_yes: str
    register: str
    registered: str
    open_the_case: str
    # the worklist's search
    search_label: str
    search: str
    people_found: str
    # the case page
    case_open: str
    case_closed: str
    new_note: str
    add_the_note: str
    note_added: str
    what_must_be_done: str
    due_on: str
    plan_the_follow_up: str
    follow_up_planned: str
    due_on_day: str  # "{day}" the due date, medium format
    timeline_note: str
    timeline_follow_up: str
    timeline_closed: str
    referral_pending: str
    referral_accepted: str
    outcome: str
    outcome_partly_served: str
    close_the_case: str
    case_closed_notice: str
    edit_person: str
    # the person's page
    save_person: str
    person_saved: str
    stale_person: str  # "{changes}" the fields changed
    recorded_now: str  # "{value}" the value recorded now


TEXTS = {
    "pt_BR": Texts(
        tag="pt-BR", browser_locale="pt-BR", babel_locale="pt_BR",
        username="Nome de usuário", password="Senha", sign_in="Entrar",
        wrong_credentials="Nome de usuário ou senha incorretos.",
        signed_in_as="Conectado como ana (Equipe de atendimento)", sign_out="Sair",
        worklist="Lista de trabalho", desk_nav="Núcleo", register_a_visit="Registrar atendimento",
        full_name="Nome completo", nationality="Nacionalidade", language="Idioma preferido", request="Demanda {n}",
        category="Categoria", add_request="Adicionar demanda", add_document="Adicionar documento",
        document="Documento {n}", document_type="Tipo", number="Número", phone="Telefone",
        basis_consent="Consentimento da pessoa (LGPD art. 7º I; art. 11 I para dados sensíveis)",
        share_yes="Sim, compartilhar", register="Registrar", registered="Atendimento registrado:",
        open_the_case="Ver o atendimento",
        search_label="Nome, número de documento ou telefone", search="Buscar", people_found="Pessoas encontradas",
        case_open="Atendimento aberto", case_closed="Atendimento encerrado", new_note="Nova observação",
        add_the_note="Adicionar a observação", note_added="Observação adicionada.",
        what_must_be_done="O que precisa ser feito", due_on="Prazo", plan_the_follow_up="Planejar o acompanhamento",
        follow_up_planned="Acompanhamento planejado.", due_on_day="Prazo: {day}",
        timeline_note="Observação adicionada", timeline_follow_up="Acompanhamento planejado",
        timeline_closed="Atendimento encerrado",
        referral_pending="Aguardando a instituição", referral_accepted="Aceito pela instituição", outcome="Resultado",
        outcome_partly_served="Atendido em parte: algumas demandas foram atendidas",
        close_the_case="Encerrar o atendimento", case_closed_notice="Atendimento encerrado.",
        edit_person="Corrigir os dados ou o consentimento da pessoa",
        save_person="Salvar os dados da pessoa", person_saved="Os dados da pessoa foram salvos.",
        stale_person=("Alguém alterou os dados desta pessoa enquanto você os editava. Veja o que mudou: {changes}. "
                      "Nada do que você fez foi salvo: o que você preencheu continua abaixo, ao lado dos dados como "
                      "estão agora; confira e salve novamente."),
        recorded_now="Consta agora: {value}"),
    "es": Texts(
        tag="es", browser_locale="es-VE", babel_locale="es",
        username="Nombre de usuario", password="Contraseña", sign_in="Iniciar sesión",
        wrong_credentials="Nombre de usuario o contraseña incorrectos.",
        signed_in_as="Sesión iniciada como ana (Equipo de atención)", sign_out="Cerrar sesión",
        worklist="Lista de trabajo", desk_nav="Centro", register_a_visit="Registrar atención",
        full_name="Nombre completo", nationality="Nacionalidad", language="Idioma preferido", request="Solicitud {n}",
        category="Categoría", add_request="Añadir una solicitud", add_document="Añadir un documento",
        document="Documento {n}", document_type="Tipo", number="Número", phone="Teléfono",
        basis_consent="Consentimiento de la persona (LGPD art. 7 I; art. 11 I para datos sensibles)",
        share_yes="Sí, compartir", register="Registrar", registered="Atención registrada:",
        open_the_case="Ver el caso",
        search_label="Nombre, número de documento o teléfono", search="Buscar", people_found="Personas encontradas",
        case_open="Caso abierto", case_closed="Caso cerrado", new_note="Nueva observación",
        add_the_note="Añadir la observación", note_added="Observación añadida.",
        what_must_be_done="Qué se debe hacer", due_on="Fecha límite", plan_the_follow_up="Programar el seguimiento",
        follow_up_planned="Seguimiento programado.", due_on_day="Fecha límite: {day}",
        timeline_note="Observación añadida", timeline_follow_up="Seguimiento programado",
        timeline_closed="Caso cerrado",
        referral_pending="En espera de la institución", referral_accepted="Aceptada por la institución",
        outcome="Resultado", outcome_partly_served="Atendido en parte: algunas solicitudes fueron atendidas",
        close_the_case="Cerrar el caso", case_closed_notice="Caso cerrado.",
        edit_person="Corregir los datos o el consentimiento de la persona",
        save_person="Guardar los datos de la persona", person_saved="Los datos de la persona se guardaron.",
        stale_person=("Alguien modificó los datos de esta persona mientras usted los editaba. Esto es lo que cambió: "
                      "{changes}. No se guardó nada de lo que usted hizo: lo que ingresó se conserva abajo, junto a "
                      "los datos tal como están ahora; revíselo y vuelva a guardar."),
        recorded_now="Consta ahora: {value}"),
    # English is the catalogs' own text: the pages read like this in every language until translated.
    "en": Texts(
        tag="en", browser_locale="en", babel_locale="en",
        username="Username", password="Password", sign_in="Sign in", wrong_credentials="Wrong username or password.",
        signed_in_as="Signed in as ana (Desk staff)", sign_out="Sign out",
        worklist="Worklist", desk_nav="Desk", register_a_visit="Register a visit",
        full_name="Full name", nationality="Nationality", language="Preferred language", request="Request {n}",
        category="Category", add_request="Add a request", add_document="Add a document", document="Document {n}",
        document_type="Type", number="Number", phone="Phone",
        basis_consent="Consent of the person (LGPD art. 7 I; art. 11 I for sensitive data)", share_yes="Yes, share",
        register="Register", registered="Visit registered:", open_the_case="Open the case",
        search_label="Name, document number or phone", search="Search", people_found="People found",
        case_open="Open case", case_closed="Closed case", new_note="New note", add_the_note="Add the note",
        note_added="Note added.", what_must_be_done="What must be done", due_on="Due on",
        plan_the_follow_up="Plan the follow-up", follow_up_planned="Follow-up planned.", due_on_day="Due on {day}",
        timeline_note="Note added", timeline_follow_up="Follow-up planned", timeline_closed="Case closed",
        referral_pending="Waiting for the agency", referral_accepted="Accepted by the agency", outcome="Outcome",
        outcome_partly_served="Partly served: some requests were met", close_the_case="Close the case",
        case_closed_notice="Case closed.", edit_person="Correct the person's data or consent",
        save_person="Save the person's data", person_saved="The person's data was saved.",
        stale_person=("Someone changed this person's data while you were editing it. Here is what changed: "
                      "{changes}. Nothing of yours was saved: your entries are kept below, next to the data as it "
                      "is now; check them and save again."),
        recorded_now="Recorded now: {value}"),
}
# The languages the journeys run in (English, the catalogs' own text, is there to debug a journey with).
LOCALES = ["pt_BR", "es"]


# --- the stack, the browser, the canary --------------------------------------------------------------------


@dataclass(frozen=True)
class JourneyStack:
    services: dict[str, ServiceProcess]
    tokens: Tokens

    @property
    def intake(self) -> str:
        return self.services["intake"].url

    @property
    def referral(self) -> str:
        return self.services["referral"].url


@pytest.fixture(scope="module")
def journey_stack(infra: Infra) -> Iterator[JourneyStack]:
    """The three services with the demo accounts and agencies, exporting their spans into their log files."""
    secret = secrets.token_urlsafe(32)
    extra_env = {
        "REFERRAL_SEED_DEMO_AGENCIES": "true",
        **DEMO_ACCOUNTS_ENV,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # each batch of spans in the file within 200 ms
        "PYTHONUNBUFFERED": "1",  # each log line in the file as soon as it is written
    }
    with running_services(infra, new_namespace("journey"), secret, extra_env=extra_env) as services:
        yield JourneyStack(services, Tokens(secret))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run should have installed it")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


def _letters(seed: str) -> str:
    """Hex digits as letters (0→a … f→p): a name token no dictionary, other test or demo record contains."""
    return "".join(chr(ord("a") + int(c, 16)) for c in seed)


@dataclass(frozen=True)
class Canary:
    """The person of one journey: a recognisable name with a token unique to the run, and unique contacts."""

    token: str
    subscriber: str  # the mobile number's nine digits after the area code, as registered
    new_subscriber: str  # ... and as someone else corrects it meanwhile
    cpf: str  # 11 digits, valid check digits

    @classmethod
    def new(cls) -> Canary:
        digits = str(uuid.uuid4().int)
        nine = "1" + digits[16:24]  # a first digit of 1: never nine equal digits
        return cls(token=_letters(uuid.uuid4().hex[:8]).capitalize(), subscriber="9" + digits[:8],
                   new_subscriber="9" + digits[8:16], cpf=nine + cpf_check_digits(nine))

    @property
    def full_name(self) -> str:
        return f"Canário Zéfiro {self.token}"

    @property
    def misspelt(self) -> str:
        """As a desk types it from hearing it: no accent, an s for the z."""
        return f"Canario Sefiro {self.token}"

    @property
    def corrected_name(self) -> str:
        return f"Canário Zéfiro {self.token} Souza"

    @property
    def phone_as_typed(self) -> str:
        return f"(67) {self.subscriber[:5]}-{self.subscriber[5:]}"

    @property
    def cpf_as_typed(self) -> str:
        return f"{self.cpf[:3]}.{self.cpf[3:6]}.{self.cpf[6:9]}-{self.cpf[9:]}"

    @property
    def note(self) -> str:
        return f"{self.token} trouxe o comprovante de residência"

    @property
    def follow_up(self) -> str:
        return f"Ligar para {self.token} sobre a consulta"

    def strings(self) -> dict[str, str]:
        """Every form in which the person's data could leak, by what it is."""
        found = {"full name": self.full_name, "misspelt name": self.misspelt, "corrected name": self.corrected_name,
                 "name token": self.token, "CPF digits": self.cpf, "CPF as typed": self.cpf_as_typed,
                 "note": self.note, "follow-up": self.follow_up}
        for what, subscriber in (("phone", self.subscriber), ("new phone", self.new_subscriber)):
            found |= {f"{what} E.164": f"+5567{subscriber}", f"{what} national": f"67{subscriber}",
                      f"{what} subscriber": subscriber}
        found["phone as typed"] = self.phone_as_typed
        return found


# --- helpers -----------------------------------------------------------------------------------------------


def wait_for(probe: Callable[[], Any], *, what: str, timeout: float = PIPELINE_TIMEOUT, interval: float = 0.25
             ) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


def reload_until_text(page: Page, locator: Locator, text: str, *, timeout: float = PIPELINE_TIMEOUT) -> None:
    """Reload the page until `locator` reads `text` (what staff do while an agency acts elsewhere)."""
    deadline = time.monotonic() + timeout
    while locator.count() != 1 or locator.inner_text().strip() != text:
        if time.monotonic() > deadline:
            expect(locator).to_have_text(text, timeout=1)  # fails, saying what the page shows instead
        page.wait_for_timeout(500)
        page.reload()


def sign_in_path(path: str) -> str:
    return f"/sign-in?next={quote(path, safe='')}"


def request_row(page: Page, texts: Texts, n: int) -> Locator:
    return page.get_by_role("group", name=texts.request.format(n=n), exact=True)


# --- the journeys, one function each -----------------------------------------------------------------------


def journey_sign_in(browser: Browser, url: str, texts: Texts) -> Page:
    """1. The worklist, anonymous, is the sign-in page; a wrong password is refused, the right one opens it."""
    page = browser.new_page(locale=texts.browser_locale)
    page.goto(f"{url}/cases")
    expect(page).to_have_url(f"{url}{sign_in_path('/cases')}")
    expect(page.locator("html")).to_have_attribute("lang", texts.tag)
    page.get_by_label(texts.username).fill(STAFF.username)
    page.get_by_label(texts.password).fill(STAFF.password + "x")
    page.get_by_role("button", name=texts.sign_in, exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(texts.wrong_credentials)
    expect(page.get_by_label(texts.password)).to_have_value("")
    page.get_by_label(texts.password).fill(STAFF.password)
    page.get_by_role("button", name=texts.sign_in, exact=True).click()
    expect(page).to_have_url(f"{url}/cases")
    expect(page.get_by_text(texts.signed_in_as)).to_be_visible()
    expect(page.get_by_role("heading", name=texts.worklist, level=1)).to_be_visible()
    return page


def journey_register(page: Page, stack: JourneyStack, texts: Texts, canary: Canary) -> tuple[str, str]:
    """2. A visit with two requests (health, social assistance), a CPF, consent and sharing: (case, person)."""
    url = stack.intake
    page.get_by_role("link", name=texts.register_a_visit, exact=True).click()
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("#case-form input:checked")).to_have_count(0)  # nothing ticked in advance
    page.get_by_label(texts.full_name).fill(canary.full_name)
    page.get_by_label(texts.nationality).select_option("VEN")
    page.get_by_label(texts.language, exact=True).select_option("es")
    page.get_by_label(texts.phone).fill(canary.phone_as_typed)
    request_row(page, texts, 1).get_by_label(texts.category).select_option("primary_care")
    page.get_by_role("button", name=texts.add_request, exact=True).click()
    request_row(page, texts, 2).get_by_label(texts.category).select_option("housing")
    page.get_by_role("button", name=texts.add_document, exact=True).click()
    document = page.get_by_role("group", name=texts.document.format(n=1), exact=True)
    document.get_by_label(texts.document_type).select_option("cpf")
    document.get_by_label(texts.number).fill(canary.cpf_as_typed)
    page.get_by_role("radio", name=texts.basis_consent, exact=True).check()
    page.get_by_role("radio", name=texts.share_yes, exact=True).check()
    page.get_by_role("button", name=texts.register, exact=True).click()
    status = page.locator("#result")
    expect(status).to_contain_text(texts.registered)
    link = status.get_by_role("link", name=texts.open_the_case, exact=True)
    href = link.get_attribute("href")
    assert href is not None and href.startswith("/cases/"), href
    case_id = href.removeprefix("/cases/")
    case = httpx.get(f"{url}/api/cases/{case_id}", headers=stack.tokens.staff).json()
    person = case["person"]
    assert person["full_name"] == canary.full_name and person["phone"] == f"+5567{canary.subscriber}"
    assert person["documents"] == [{"type": "cpf", "number": canary.cpf}]
    assert (person["consent"]["legal_basis"], person["consent"]["share_with_partners"]) == ("consent", True)
    assert [(r["category"], r["service_area"]) for r in case["requests"]] == [
        ("primary_care", "health"), ("housing", "social_assistance")]
    return case_id, case["person_id"]


def journey_find_by_a_misspelt_name(page: Page, url: str, texts: Texts, canary: Canary, case_id: str,
                                    person_id: str) -> None:
    """3. The worklist's search finds the person by their name as a desk misspells it; their case opens."""
    page.get_by_role("navigation", name=texts.desk_nav).get_by_role("link", name=texts.worklist,
                                                                     exact=True).click()
    expect(page).to_have_url(f"{url}/cases")
    page.get_by_label(texts.search_label).fill(canary.misspelt)
    page.get_by_role("button", name=texts.search, exact=True).click()
    found = page.get_by_role("region", name=texts.people_found)
    expect(found).to_be_visible()
    person = found.locator(f'li[data-person="{person_id}"]')
    expect(person).to_have_count(1)
    link = person.get_by_role("link", name=canary.full_name, exact=True)
    expect(link).to_have_attribute("href", f"/cases/{case_id}")
    link.click()
    expect(page).to_have_url(f"{url}/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(canary.full_name)
    expect(page.locator("#case-status")).to_have_text(texts.case_open)


def journey_note_and_follow_up(page: Page, texts: Texts, canary: Canary) -> None:
    """4. A note and a follow-up due in a week: both listed, and both in the timeline."""
    page.get_by_label(texts.new_note).fill(canary.note)
    page.get_by_role("button", name=texts.add_the_note, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.note_added)
    expect(page.locator("#notes li .note-text")).to_have_text([canary.note])

    due = date.today() + timedelta(days=7)
    page.get_by_label(texts.what_must_be_done).fill(canary.follow_up)
    page.get_by_label(texts.due_on, exact=True).fill(due.isoformat())
    page.get_by_role("button", name=texts.plan_the_follow_up, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.follow_up_planned)
    follow_up = page.locator("#follow-ups li[data-follow-up]")
    expect(follow_up).to_have_count(1)
    expect(follow_up.locator(".note-text")).to_have_text(canary.follow_up)
    expect(follow_up).to_contain_text(texts.due_on_day.format(day=format_date(due, "medium",
                                                                              locale=texts.babel_locale)))
    timeline = page.locator("#timeline li strong")
    expect(timeline.filter(has_text=re.compile(f"^{re.escape(texts.timeline_note)}$"))).to_have_count(1)
    expect(timeline.filter(has_text=re.compile(f"^{re.escape(texts.timeline_follow_up)}$"))).to_have_count(1)
    # Newest first: the follow-up, then the note.
    labels = [text.strip() for text in timeline.all_inner_texts()]
    assert labels.index(texts.timeline_follow_up) < labels.index(texts.timeline_note), labels


def journey_referral_accepted(page: Page, stack: JourneyStack, texts: Texts, case_id: str) -> None:
    """5. The health request's referral reads pending; the agency accepts it; the page reads accepted."""
    def health_referral() -> dict[str, Any] | None:
        response = httpx.get(f"{stack.referral}/api/referrals", params={"case_id": case_id},
                             headers=stack.tokens.staff)
        return next((r for r in response.json()["referrals"] if r["service_area"] == "health"), None) \
            if response.status_code == 200 else None

    referral = wait_for(health_referral, what="the health referral in referral")
    status = page.locator(f'p.referral[data-referral="{referral["referral_id"]}"] .referral-status')
    reload_until_text(page, status, texts.referral_pending)
    accepted = httpx.post(f"{stack.referral}/api/referrals/{referral['referral_id']}/actions",
                          headers=stack.tokens.agency(referral["agency_id"]),
                          json={"action": "accept", "expected_version": 1})
    assert accepted.status_code == 200, accepted.text
    reload_until_text(page, status, texts.referral_accepted)


def journey_close(page: Page, texts: Texts) -> None:
    """6. Closing with an outcome: the badge says closed, the timeline says how."""
    page.get_by_label(texts.outcome, exact=True).select_option(label=texts.outcome_partly_served)
    page.get_by_role("button", name=texts.close_the_case, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.case_closed_notice)
    expect(page.locator("#case-status")).to_have_text(texts.case_closed)
    closed = page.locator("#timeline li").filter(
        has=page.locator("strong", has_text=re.compile(f"^{re.escape(texts.timeline_closed)}$")))
    expect(closed).to_have_count(1)
    expect(closed).to_contain_text(f"{texts.timeline_closed}: {texts.outcome_partly_served}")


def journey_stale_edit(page: Page, stack: JourneyStack, texts: Texts, canary: Canary, person_id: str) -> None:
    """7. Someone changes the phone while the page is open; the page's name change is refused with what changed
    (409), nothing of it saved; the phone staff did not touch takes the colleague's, and saving again succeeds."""
    url, staff = stack.intake, stack.tokens.staff
    page.get_by_role("link", name=texts.edit_person, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(f"{url}/persons/{person_id}")))
    expect(page.get_by_label(texts.full_name, exact=True)).to_have_value(canary.full_name)

    read = httpx.get(f"{url}/api/persons/{person_id}", headers=staff)
    assert read.status_code == 200, read.text
    version, recorded = read.json()["version"], read.json()["person"]
    person = {k: v for k, v in recorded.items() if k not in {"consent", "consent_history"}}
    changed = httpx.patch(f"{url}/api/persons/{person_id}", headers=staff, json={
        "version": version, "person": {**person, "phone": f"+5567{canary.new_subscriber}"}})
    assert changed.status_code == 200, changed.text

    page.get_by_label(texts.full_name, exact=True).fill(canary.corrected_name)
    with page.expect_response(lambda r: r.request.method == "POST" and f"/persons/{person_id}" in r.url) as posted:
        page.get_by_role("button", name=texts.save_person, exact=True).click()
    assert posted.value.status == 409
    expect(page.locator("#stale")).to_have_text(texts.stale_person.format(changes=texts.phone))
    expect(page.get_by_role("alert")).to_be_visible()
    now = page.locator('p.now[data-now="phone"]')
    expect(now).to_have_text(texts.recorded_now.format(value=f"+5567{canary.new_subscriber}"))
    expect(page.locator("p.now")).to_have_count(1)  # only the phone changed
    expect(page.get_by_label(texts.full_name, exact=True)).to_have_value(canary.corrected_name)  # kept
    after = httpx.get(f"{url}/api/persons/{person_id}", headers=staff).json()
    assert after["person"]["full_name"] == canary.full_name  # nothing of the page's saved
    assert after["person"]["phone"] == f"+5567{canary.new_subscriber}"

    # The phone staff did not touch now shows the colleague's, so saving again does not undo it.
    expect(page.get_by_label(texts.phone, exact=True)).to_have_value(f"+5567{canary.new_subscriber}")
    page.get_by_role("button", name=texts.save_person, exact=True).click()
    expect(page.get_by_role("status")).to_have_text(texts.person_saved)
    expect(page.locator("#stale")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(canary.corrected_name)
    saved = httpx.get(f"{url}/api/persons/{person_id}", headers=staff).json()
    assert saved["version"] == version + 2
    assert saved["person"]["full_name"] == canary.corrected_name
    assert saved["person"]["phone"] == f"+5567{canary.new_subscriber}"


def journey_sign_out(page: Page, url: str, texts: Texts, case_id: str) -> None:
    """8. Signed out, the worklist and the case page send the browser to sign in."""
    page.get_by_role("button", name=texts.sign_out, exact=True).click()
    expect(page).to_have_url(f"{url}/sign-in")
    for path in ("/cases", f"/cases/{case_id}"):
        page.goto(f"{url}{path}")
        expect(page).to_have_url(f"{url}{sign_in_path(path)}")
        expect(page.get_by_label(texts.password)).to_be_visible()


def no_canary_in_logs_or_spans(stack: JourneyStack, canary: Canary, person_id: str) -> None:
    """Once the stack's spans up to now are in the files (a marker request to each service, its span seen),
    no log line nor span holds any of the person's data."""
    # The scan works: the person's data is in what the desk reads back.
    read_back = httpx.get(f"{stack.intake}/api/persons/{person_id}", headers=stack.tokens.staff).text
    assert {"corrected name", "new phone E.164", "CPF digits"} <= set(canaries_in(read_back, canary.strings()))

    def exported(service: ServiceProcess, marker: str) -> bool:
        return f'"name": "GET {marker}"' in service.log_path.read_text(encoding="utf-8", errors="replace")

    for name, service in stack.services.items():
        marker = f"/journey-marker-{uuid.uuid4().hex}"
        httpx.get(f"{service.url}{marker}")
        wait_for(partial(exported, service, marker), what=f"{name}'s span of the marker request", timeout=10)
    time.sleep(1)  # consumers may still be ending spans: five export intervals
    logs = [service.log_path for service in stack.services.values()]
    intake_log = stack.services["intake"].log_path.read_text(encoding="utf-8", errors="replace")
    assert SERVER_SPAN_MARKER in intake_log, "intake exported no request span"
    assert scan_files(logs, canary.strings()) == {}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_desk_day_from_sign_in_to_sign_out(journey_stack: JourneyStack, browser: Browser, locale: str) -> None:
    texts, url, canary = TEXTS[locale], journey_stack.intake, Canary.new()
    page = journey_sign_in(browser, url, texts)
    case_id, person_id = journey_register(page, journey_stack, texts, canary)
    journey_find_by_a_misspelt_name(page, url, texts, canary, case_id, person_id)
    journey_note_and_follow_up(page, texts, canary)
    journey_referral_accepted(page, journey_stack, texts, case_id)
    journey_close(page, texts)
    journey_stale_edit(page, journey_stack, texts, canary, person_id)
    journey_sign_out(page, url, texts, case_id)
    page.close()
    no_canary_in_logs_or_spans(journey_stack, canary, person_id)
