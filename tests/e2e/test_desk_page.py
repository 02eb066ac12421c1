"""The desk page in a real browser (Debian's Chromium driven by Playwright) against the running services, in
Portuguese (the default) and in the other languages of the desk: a staff member signs in, registers a visit with
two requests and a document (nothing ticked in advance, the legal basis read out in the person's language),
signs out, and the pages are closed; and, in English, a person who returns is found while staff type and the
visit is registered for them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from infra.local.services import ServiceProcess
from migradesk_intake.demo import DEMO_ACCOUNTS
from migradesk_shared.web.session import SESSION_COOKIE
from tests.e2e.conftest import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STAFF = next(a for a in DEMO_ACCOUNTS if a.username == "ana")


@dataclass(frozen=True)
class Texts:
    """What a person reads on the desk page in one language (written out here, not read from the catalogs, so
    a catalog that lost a translation fails the test)."""

    tag: str  # the html lang attribute
    browser_locale: str  # the browser's language, sent as Accept-Language
    heading: str
    full_name: str
    birth_date: str
    nationality: str
    language: str
    in_language: str
    migratory_status: str
    request: str  # a request row, "{n}" its number
    category: str
    add_request: str
    document: str  # a document row, "{n}" its number
    document_type: str
    number: str
    add_document: str
    phone: str
    basis_consent: str  # the legal basis "consent", as staff choose it
    share_yes: str
    staff: str
    register: str
    registered: str
    birth_date_in_future: str
    check_fields: str
    basis_missing: str
    cpf_invalid: str
    username: str
    password: str
    sign_in: str
    sign_out: str
    signed_in_as: str
    wrong_credentials: str


TEXTS = {
    "pt_BR": Texts(
        tag="pt-BR", browser_locale="pt-BR", heading="Registrar atendimento", full_name="Nome completo",
        birth_date="Data de nascimento", nationality="Nacionalidade", language="Idioma preferido",
        in_language="Atendimento no idioma da pessoa", migratory_status="Situação migratória",
        request="Demanda {n}", category="Categoria", add_request="Adicionar demanda", document="Documento {n}",
        document_type="Tipo", number="Número", add_document="Adicionar documento", phone="Telefone",
        basis_consent="Consentimento da pessoa (LGPD art. 7º I; art. 11 I para dados sensíveis)",
        share_yes="Sim, compartilhar",
        staff="Atendente", register="Registrar", registered="Atendimento registrado:",
        birth_date_in_future="A data de nascimento não pode estar no futuro.",
        check_fields="Verifique os campos indicados com erro.",
        basis_missing="Escolha a base legal com que o núcleo guarda os dados da pessoa.",
        cpf_invalid="Este CPF não é válido: os dígitos verificadores não conferem. Confira o número.",
        username="Nome de usuário", password="Senha",
        sign_in="Entrar", sign_out="Sair", signed_in_as="Conectado como ana (Equipe de atendimento)",
        wrong_credentials="Nome de usuário ou senha incorretos."),
    "es": Texts(
        tag="es", browser_locale="es-VE", heading="Registrar atención", full_name="Nombre completo",
        birth_date="Fecha de nacimiento", nationality="Nacionalidad", language="Idioma preferido",
        in_language="Atención en el idioma de la persona", migratory_status="Situación migratoria",
        request="Solicitud {n}", category="Categoría", add_request="Añadir una solicitud", document="Documento {n}",
        document_type="Tipo", number="Número", add_document="Añadir un documento", phone="Teléfono",
        basis_consent="Consentimiento de la persona (LGPD art. 7 I; art. 11 I para datos sensibles)",
        share_yes="Sí, compartir",
        staff="Persona que atiende", register="Registrar", registered="Atención registrada:",
        birth_date_in_future="La fecha de nacimiento no puede estar en el futuro.",
        check_fields="Revise los campos señalados con error.",
        basis_missing="Elija la base legal con la que el centro guarda los datos de la persona.",
        cpf_invalid="Este CPF no es válido: sus dígitos verificadores no coinciden. Revise el número.",
        username="Nombre de usuario", password="Contraseña",
        sign_in="Iniciar sesión", sign_out="Cerrar sesión",
        signed_in_as="Sesión iniciada como ana (Equipo de atención)",
        wrong_credentials="Nombre de usuario o contraseña incorrectos."),
    "ht": Texts(
        tag="ht", browser_locale="ht-HT", heading="Anrejistre yon vizit", full_name="Non konplè",
        birth_date="Dat nesans", nationality="Nasyonalite", language="Lang li prefere",
        in_language="Sèvis nan lang moun nan", migratory_status="Sitiyasyon imigrasyon",
        request="Demann {n}", category="Kategori", add_request="Ajoute yon demann", document="Dokiman {n}",
        document_type="Kalite", number="Nimewo", add_document="Ajoute yon dokiman", phone="Telefòn",
        basis_consent="Konsantman moun nan (LGPD atik 7 I; atik 11 I pou done sansib)", share_yes="Wi, pataje",
        staff="Anplwaye ki resevwa moun nan", register="Anrejistre", registered="Vizit la anrejistre:",
        birth_date_in_future="Dat nesans lan pa ka nan lavni.",
        check_fields="Verifye chan ki make ak yon erè yo.",
        basis_missing="Chwazi baz legal biwo a sèvi pou kenbe done moun nan.",
        cpf_invalid="CPF sa a pa valab: chif verifikasyon li yo pa koresponn. Verifye nimewo a.",
        username="Non itilizatè", password="Modpas",
        sign_in="Konekte", sign_out="Dekonekte", signed_in_as="Konekte kòm ana (Ekip resepsyon)",
        wrong_credentials="Non itilizatè oswa modpas la pa bon."),
    # English is the catalogs' own text: new messages read like this in every language until translated.
    "en": Texts(
        tag="en", browser_locale="en", heading="Register a visit", full_name="Full name",
        birth_date="Date of birth", nationality="Nationality", language="Preferred language",
        in_language="Attended in the person's language", migratory_status="Migratory status",
        request="Request {n}", category="Category", add_request="Add a request", document="Document {n}",
        document_type="Type", number="Number", add_document="Add a document", phone="Phone",
        basis_consent="Consent of the person (LGPD art. 7 I; art. 11 I for sensitive data)", share_yes="Yes, share",
        staff="Staff member", register="Register", registered="Visit registered:",
        birth_date_in_future="The date of birth cannot be in the future.",
        check_fields="Check the fields marked with an error.",
        basis_missing="Choose the legal basis on which the desk holds the person's data.",
        cpf_invalid="This CPF is not valid: its check digits do not match. Check the number.",
        username="Username", password="Password",
        sign_in="Sign in", sign_out="Sign out", signed_in_as="Signed in as ana (Desk staff)",
        wrong_credentials="Wrong username or password."),
}


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


def open_desk(browser: Browser, url: str, texts: Texts) -> Page:
    """The desk in the browser's language (Accept-Language): no explicit choice, no cookie. Anonymous, it is the
    sign-in page (the desk's address stays the one to come back to)."""
    page = browser.new_page(locale=texts.browser_locale)
    page.goto(f"{url}/")
    expect(page.locator("html")).to_have_attribute("lang", texts.tag)
    return page


def sign_in(browser: Browser, url: str, texts: Texts) -> Page:
    page = open_desk(browser, url, texts)
    expect(page).to_have_url(f"{url}/sign-in?next=%2F")
    page.get_by_label(texts.username).fill(STAFF.username)
    page.get_by_label(texts.password).fill(STAFF.password)
    page.get_by_role("button", name=texts.sign_in, exact=True).click()
    expect(page).to_have_url(f"{url}/")
    expect(page.get_by_text(texts.signed_in_as)).to_be_visible()
    return page


# What staff read to the person who prefers another language than the page's (the start of the explanation of
# the legal basis "consent" in the catalog of the person's language).
READ_ALOUD = {"pt_BR": ("es", "Usted decide."), "es": ("ht", "Se ou ki deside."), "ht": ("pt", "Quem decide é você.")}


def request_row(page: Page, texts: Texts, n: int) -> Locator:
    return page.get_by_role("group", name=texts.request.format(n=n), exact=True)


def registered_case_id(status: Locator) -> str:
    """The case the result links to: "Visit registered: <case id>" and a link to the case's page."""
    href = status.get_by_role("link").get_attribute("href")
    assert href is not None and href.startswith("/cases/"), href
    return href.removeprefix("/cases/")


def fill_the_essentials(page: Page, texts: Texts, *, name: str, nationality: str, language: str,
                        category: str) -> None:
    """What every registration needs, chosen as staff do: nothing of it is filled in by the page."""
    page.get_by_label(texts.full_name).fill(name)
    page.get_by_label(texts.nationality).select_option(nationality)
    page.get_by_label(texts.language, exact=True).select_option(language)
    request_row(page, texts, 1).get_by_label(texts.category).select_option(category)


@pytest.mark.parametrize("locale", ["pt_BR", "es", "ht"])
def test_staff_sign_in_register_a_visit_with_two_requests_and_a_document_and_sign_out(
        services: dict[str, ServiceProcess], browser: Browser, tokens: Tokens, locale: str) -> None:
    texts, url = TEXTS[locale], services["intake"].url
    page = sign_in(browser, url, texts)
    expect(page.get_by_role("heading", name=texts.heading, level=1)).to_be_visible()
    # Nothing is ticked or chosen in advance: no legal basis, no sharing, no language flag.
    form = page.locator("#case-form")
    expect(form.locator("input:checked")).to_have_count(0)
    expect(form.get_by_role("radio")).to_have_count(6)  # four legal bases, share yes / no
    person_language, read_aloud = READ_ALOUD[locale]
    fill_the_essentials(page, texts, name="Wislande Jean-Baptiste", nationality="HTI", language=person_language,
                        category="portuguese_course")
    page.get_by_label(texts.birth_date).fill("1994-02-17")
    page.get_by_label(texts.in_language).check()
    page.get_by_label(texts.migratory_status).select_option("acolhida_humanitaria")
    page.get_by_label(texts.phone).fill("(67) 99999-0000")
    # A second request, by keyboard: the button adds a row and moves the focus into it.
    page.get_by_role("button", name=texts.add_request, exact=True).press("Enter")
    second = request_row(page, texts, 2)
    expect(second.get_by_label(texts.category)).to_be_focused()
    second.get_by_label(texts.category).select_option("housing")
    page.get_by_role("button", name=texts.add_document, exact=True).click()
    document = page.get_by_role("group", name=texts.document.format(n=1), exact=True)
    document.get_by_label(texts.document_type).select_option("cpf")
    document.get_by_label(texts.number).fill("529.982.247-25")
    # Choosing the legal basis shows what to read to the person, in the person's language.
    page.get_by_role("radio", name=texts.basis_consent, exact=True).check()
    explained = page.locator("#legal_basis-explained .read-aloud__text")
    expect(explained).to_contain_text(read_aloud)
    expect(explained).to_have_attribute("lang", {"pt": "pt-BR"}.get(person_language, person_language))
    page.get_by_role("radio", name=texts.share_yes, exact=True).check()
    expect(page.get_by_label(texts.staff)).to_have_value("ana")  # whoever signed in
    page.get_by_role("button", name=texts.register, exact=True).click()
    status = page.get_by_role("status")
    expect(status).to_contain_text(texts.registered)
    case_id = registered_case_id(status)
    assert case_id in status.inner_text()
    case = httpx.get(f"{url}/api/cases/{case_id}", headers=tokens.staff).json()
    person = case["person"]
    assert person["full_name"] == "Wislande Jean-Baptiste" and person["nationality"] == "HTI"
    assert person["preferred_language"] == person_language and person["phone"] == "+5567999990000"
    assert person["documents"] == [{"type": "cpf", "number": "52998224725"}]
    assert (person["consent"]["legal_basis"], person["consent"]["share_with_partners"]) == ("consent", True)
    assert person["sensitive"] == {}
    assert [(r["category"], r["service_area"]) for r in case["requests"]] == [
        ("portuguese_course", "education"), ("housing", "social_assistance")]

    [cookie] = [c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    page.get_by_role("button", name=texts.sign_out, exact=True).click()
    expect(page).to_have_url(f"{url}/sign-in")
    # Signed out, the pages are closed: the desk sends the browser to sign in again...
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/sign-in?next=%2F")
    expect(page.get_by_label(texts.password)).to_be_visible()
    # ...and the old cookie, wherever a copy of it went, opens neither the pages nor the API.
    copied = {SESSION_COOKIE: cookie}
    assert httpx.get(f"{url}/", cookies=copied).status_code == 303
    assert httpx.get(f"{url}/api/cases/{case_id}", cookies=copied).status_code == 401
    page.close()


@pytest.mark.parametrize("locale", ["pt_BR", "es", "ht"])
def test_bad_input_shows_the_error_next_to_its_field_in_the_page_language(
        services: dict[str, ServiceProcess], browser: Browser, locale: str) -> None:
    texts = TEXTS[locale]
    page = sign_in(browser, services["intake"].url, texts)
    fill_the_essentials(page, texts, name="Pessoa Teste", nationality="VEN", language="es", category="sus_card")
    page.get_by_label(texts.birth_date).fill("2999-01-01")
    page.get_by_role("radio", name=texts.basis_consent, exact=True).check()
    page.get_by_role("radio", name=texts.share_yes, exact=True).check()
    page.get_by_role("button", name=texts.register, exact=True).click()

    birth_date = page.get_by_label(texts.birth_date)
    expect(birth_date).to_have_attribute("aria-invalid", "true")
    expect(birth_date).to_have_accessible_description(texts.birth_date_in_future)
    expect(birth_date).to_be_focused()
    # Beside its field: in the same field block, right under the input.
    beside = page.locator(".field", has=birth_date).locator(".field-error")
    expect(beside).to_have_text(texts.birth_date_in_future)
    expect(page.get_by_role("status")).to_have_text(texts.check_fields)
    # Only the field in error is marked.
    expect(page.locator('[aria-invalid="true"]')).to_have_count(1)
    page.close()


@pytest.mark.parametrize("locale", ["pt_BR", "es"])
def test_a_missing_legal_basis_and_a_wrong_cpf_are_told_next_to_their_fields(
        services: dict[str, ServiceProcess], browser: Browser, locale: str) -> None:
    texts = TEXTS[locale]
    page = sign_in(browser, services["intake"].url, texts)
    fill_the_essentials(page, texts, name="Pessoa Teste", nationality="PRY", language="gn", category="cadunico")
    page.get_by_role("button", name=texts.add_document, exact=True).click()
    page.get_by_role("button", name=texts.add_document, exact=True).click()
    second = page.get_by_role("group", name=texts.document.format(n=2), exact=True)
    second.get_by_label(texts.document_type).select_option("cpf")
    second.get_by_label(texts.number).fill("529.982.247-24")
    first = page.get_by_role("group", name=texts.document.format(n=1), exact=True)
    first.get_by_label(texts.document_type).select_option("passport")
    first.get_by_label(texts.number).fill("PY123456")
    page.get_by_role("button", name=texts.register, exact=True).click()

    expect(page.get_by_role("status")).to_have_text(texts.check_fields)
    legal_basis = page.locator("#legal_basis")
    expect(legal_basis).to_have_attribute("aria-invalid", "true")
    expect(legal_basis.locator(".field-error")).to_have_text(texts.basis_missing)
    number = second.get_by_label(texts.number)
    expect(number).to_be_focused()  # the first field in error, from the top of the page
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(number).to_have_accessible_description(texts.cpf_invalid)
    expect(first.get_by_label(texts.number)).not_to_have_attribute("aria-invalid", "true")
    # The sharing choice is missing too; nothing else is wrong.
    expect(page.locator('[aria-invalid="true"]')).to_have_count(3)
    page.close()


@pytest.mark.parametrize("locale", ["pt_BR", "es"])
def test_a_wrong_password_is_told_without_saying_which_part_was_wrong(
        services: dict[str, ServiceProcess], browser: Browser, locale: str) -> None:
    texts = TEXTS[locale]
    page = open_desk(browser, services["intake"].url, texts)
    page.get_by_label(texts.username).fill(STAFF.username)
    page.get_by_label(texts.password).fill("not the password")
    # By keyboard: Enter in the password field sends the form.
    page.get_by_label(texts.password).press("Enter")
    expect(page.get_by_role("alert")).to_have_text(texts.wrong_credentials)
    expect(page.get_by_label(texts.username)).to_have_value(STAFF.username)
    expect(page.get_by_label(texts.password)).to_have_value("")
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    page.close()


def test_the_language_switcher_changes_the_page_and_is_remembered(
        services: dict[str, ServiceProcess], browser: Browser) -> None:
    page = open_desk(browser, services["intake"].url, TEXTS["pt_BR"])
    switcher = page.get_by_role("navigation", name="Idioma da página")
    for name in ["Português", "Español", "Français", "Kreyòl ayisyen", "English"]:
        expect(switcher.get_by_role("link", name=name, exact=True)).to_be_visible()
    switcher.get_by_role("link", name="Español", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name=TEXTS["es"].sign_in)).to_be_visible()
    expect(page.get_by_label(TEXTS["es"].username)).to_be_visible()
    # Remembered in the cookie: the plain address now answers in Spanish despite the browser's Portuguese.
    page.goto(f"{services['intake'].url}/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("navigation", name="Idioma de la página").get_by_role("link", name="Español")
           ).to_have_attribute("aria-current", "true")
    page.close()


def test_a_returning_person_is_found_while_staff_type_and_the_visit_is_registered_for_them(
        services: dict[str, ServiceProcess], browser: Browser, tokens: Tokens) -> None:
    texts, url = TEXTS["en"], services["intake"].url
    page = sign_in(browser, url, texts)
    # The first visit: a new person, with a passport.
    fill_the_essentials(page, texts, name="Jean-Baptiste Pierre", nationality="HTI", language="ht",
                        category="sus_card")
    page.get_by_label(texts.birth_date).fill("1985-02-03")
    page.get_by_role("button", name=texts.add_document, exact=True).click()
    document = page.get_by_role("group", name=texts.document.format(n=1), exact=True)
    document.get_by_label(texts.document_type).select_option("passport")
    document.get_by_label(texts.number).fill("HT8502031")
    page.get_by_role("radio", name=texts.basis_consent, exact=True).check()
    page.get_by_role("radio", name=texts.share_yes, exact=True).check()
    page.get_by_role("button", name=texts.register, exact=True).click()
    status = page.get_by_role("status")
    expect(status).to_contain_text(texts.registered)
    first_case_id = registered_case_id(status)
    first = httpx.get(f"{url}/api/cases/{first_case_id}", headers=tokens.staff).json()

    # The next visit, on a fresh form: the name typed another way, the same date of birth.
    page.goto(f"{url}/")
    page.get_by_label(texts.full_name).press_sequentially("jean baptiste  PIERRE")
    page.get_by_label(texts.birth_date).fill("1985-02-03")
    candidate = page.locator("#duplicates .candidate", has=page.get_by_text("Jean-Baptiste Pierre", exact=True))
    expect(candidate).to_have_count(1)
    expect(candidate).to_contain_text("Probably the same person")
    expect(candidate.locator(".candidate__reasons li")).to_have_text([
        "The same name (ignoring accents, capitals and spacing)", "The same date of birth"])
    expect(candidate).to_contain_text("Born on February 3, 1985")
    expect(candidate).to_contain_text("Earlier visits: 1")
    last_case = candidate.get_by_role("link", name="Open their last case (opens a new tab)", exact=True)
    expect(last_case).to_have_attribute("href", f"/cases/{first_case_id}")
    expect(last_case).to_have_attribute("target", "_blank")
    same = candidate.get_by_role("button", name="Same person: register this visit for them", exact=True)
    expect(same).to_have_accessible_description("Jean-Baptiste Pierre")
    same.press("Enter")  # by keyboard

    # Linked: the person's fields are put away, and the page says for whom the visit is.
    linked = page.locator("#linked-text")
    expect(linked).to_have_text("This visit will be registered for Jean-Baptiste Pierre, already registered.")
    expect(linked).to_be_focused()
    for label in (texts.full_name, texts.birth_date, texts.nationality, texts.phone, texts.staff):
        expect(page.get_by_label(label, exact=True)).to_be_hidden()
    expect(page.get_by_role("radio")).to_have_count(0)  # no legal basis nor sharing to choose
    expect(page.get_by_role("button", name=texts.add_document, exact=True)).to_be_hidden()
    # Not the same person after all: the fields come back as typed; then it is, after all.
    page.get_by_role("button", name="Not the same person", exact=True).click()
    expect(page.get_by_label(texts.full_name, exact=True)).to_have_value("jean baptiste  PIERRE")
    expect(same).to_be_focused()
    same.click()
    expect(page.get_by_label(texts.full_name, exact=True)).to_be_hidden()

    request_row(page, texts, 1).get_by_label(texts.category).select_option("documentation")
    page.get_by_role("button", name=texts.register, exact=True).click()
    expect(status).to_contain_text(texts.registered)
    open_case = status.get_by_role("link", name="Open the case", exact=True)
    case_id = registered_case_id(status)
    assert case_id != first_case_id
    case = httpx.get(f"{url}/api/cases/{case_id}", headers=tokens.staff).json()
    assert case["person_id"] == first["person_id"]
    assert [r["category"] for r in case["requests"]] == ["documentation"]
    assert case["person"]["full_name"] == "Jean-Baptiste Pierre"  # the record as it was
    # The result's link opens the new case's page.
    open_case.click()
    expect(page).to_have_url(f"{url}/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jean-Baptiste Pierre")
    page.close()
