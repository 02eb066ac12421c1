"""The desk page in a real browser (Debian's Chromium driven by Playwright) against the running services, in
Portuguese (the default) and in the other languages of the desk."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from infra.local.services import ServiceProcess
from tests.e2e.conftest import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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
    request: str
    staff: str
    register: str
    registered: str
    birth_date_in_future: str
    check_fields: str
    sign_in_field: str
    unauthorized: str


TEXTS = {
    "pt_BR": Texts(
        tag="pt-BR", browser_locale="pt-BR", heading="Registrar atendimento", full_name="Nome completo",
        birth_date="Data de nascimento", nationality="Nacionalidade (ISO, 3 letras)", language="Idioma",
        in_language="Atendimento no idioma da pessoa", migratory_status="Situação migratória", request="Demanda",
        staff="Atendente", register="Registrar", registered="Atendimento registrado:",
        birth_date_in_future="A data de nascimento não pode estar no futuro.",
        check_fields="Verifique os campos indicados com erro.", sign_in_field="Token de acesso",
        unauthorized="Acesso não autorizado"),
    "es": Texts(
        tag="es", browser_locale="es-VE", heading="Registrar atención", full_name="Nombre completo",
        birth_date="Fecha de nacimiento", nationality="Nacionalidad (ISO, 3 letras)", language="Idioma",
        in_language="Atención en el idioma de la persona", migratory_status="Situación migratoria",
        request="Solicitud", staff="Persona que atiende", register="Registrar", registered="Atención registrada:",
        birth_date_in_future="La fecha de nacimiento no puede estar en el futuro.",
        check_fields="Revise los campos señalados con error.", sign_in_field="Token de acceso",
        unauthorized="Acceso no autorizado"),
    "ht": Texts(
        tag="ht", browser_locale="ht-HT", heading="Anrejistre yon vizit", full_name="Non konplè",
        birth_date="Dat nesans", nationality="Nasyonalite (ISO, 3 lèt)", language="Lang",
        in_language="Sèvis nan lang moun nan", migratory_status="Sitiyasyon imigrasyon", request="Demann",
        staff="Anplwaye ki resevwa moun nan", register="Anrejistre", registered="Vizit la anrejistre:",
        birth_date_in_future="Dat nesans lan pa ka nan lavni.",
        check_fields="Verifye chan ki make ak yon erè yo.", sign_in_field="Jeton aksè",
        unauthorized="Aksè pa otorize"),
}


def bearer(tokens: Tokens) -> str:
    return tokens.staff["Authorization"].removeprefix("Bearer ")


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


def open_desk(browser: Browser, url: str, texts: Texts, token: str | None = None) -> Page:
    """The desk in the browser's language (Accept-Language): no explicit choice, no cookie."""
    page = browser.new_page(locale=texts.browser_locale)
    page.goto(f"{url}/" + (f"#token={token}" if token else ""))
    expect(page.locator("html")).to_have_attribute("lang", texts.tag)
    return page


@pytest.mark.parametrize("locale", ["pt_BR", "es", "ht"])
def test_staff_register_a_case_on_the_desk_page(
        services: dict[str, ServiceProcess], browser: Browser, tokens: Tokens, locale: str) -> None:
    texts = TEXTS[locale]
    page = open_desk(browser, services["intake"].url, texts, bearer(tokens))
    assert "token" not in page.url  # the token leaves the address bar once kept
    expect(page.get_by_role("heading", name=texts.heading)).to_be_visible()
    page.get_by_label(texts.full_name).fill("Wislande Jean-Baptiste")
    page.get_by_label(texts.birth_date).fill("1994-02-17")
    page.get_by_label(texts.nationality).fill("HTI")
    page.get_by_label(texts.language, exact=True).select_option("ht")
    page.get_by_label(texts.in_language).check()
    page.get_by_label(texts.migratory_status).select_option("acolhida_humanitaria")
    page.get_by_label(texts.request).select_option("portuguese_course")
    page.get_by_label(texts.staff).fill("ana")
    page.get_by_role("button", name=texts.register, exact=True).click()
    status = page.get_by_role("status")
    expect(status).to_contain_text(texts.registered)
    case_id = status.inner_text().rsplit(":", 1)[1].strip()
    case = httpx.get(f"{services['intake'].url}/api/cases/{case_id}", headers=tokens.staff).json()
    assert case["person"]["full_name"] == "Wislande Jean-Baptiste"
    assert case["person"]["preferred_language"] == "ht"
    assert case["requests"][0]["service_area"] == "education"
    page.close()


@pytest.mark.parametrize("locale", ["pt_BR", "es", "ht"])
def test_bad_input_shows_the_error_next_to_its_field_in_the_page_language(
        services: dict[str, ServiceProcess], browser: Browser, tokens: Tokens, locale: str) -> None:
    texts = TEXTS[locale]
    page = open_desk(browser, services["intake"].url, texts, bearer(tokens))
    page.get_by_label(texts.full_name).fill("Pessoa Teste")
    page.get_by_label(texts.nationality).fill("VEN")
    page.get_by_label(texts.birth_date).fill("2999-01-01")
    page.get_by_label(texts.request).select_option("sus_card")
    page.get_by_label(texts.staff).fill("ana")
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


def test_without_a_token_the_page_asks_for_one(services: dict[str, ServiceProcess], browser: Browser) -> None:
    texts = TEXTS["pt_BR"]
    page = open_desk(browser, services["intake"].url, texts)
    expect(page.get_by_label(texts.sign_in_field)).to_be_visible()
    page.get_by_label(texts.full_name).fill("Pessoa Teste")
    page.get_by_label(texts.nationality).fill("VEN")
    page.get_by_label(texts.request).select_option("sus_card")
    page.get_by_label(texts.staff).fill("ana")
    page.get_by_role("button", name=texts.register, exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(texts.unauthorized)
    page.close()


def test_the_language_switcher_changes_the_page_and_is_remembered(
        services: dict[str, ServiceProcess], browser: Browser) -> None:
    page = open_desk(browser, services["intake"].url, TEXTS["pt_BR"])
    switcher = page.get_by_role("navigation", name="Idioma da página")
    for name in ["Português", "Español", "Français", "Kreyòl ayisyen", "English"]:
        expect(switcher.get_by_role("link", name=name, exact=True)).to_be_visible()
    switcher.get_by_role("link", name="Español", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name=TEXTS["es"].heading)).to_be_visible()
    expect(page.get_by_label(TEXTS["es"].full_name)).to_be_visible()
    # Remembered in the cookie: the plain address now answers in Spanish despite the browser's Portuguese.
    page.goto(f"{services['intake'].url}/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("navigation", name="Idioma de la página").get_by_role("link", name="Español")
           ).to_have_attribute("aria-current", "true")
    page.close()
