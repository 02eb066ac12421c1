"""The desk page in a real browser (Debian's Chromium driven by Playwright) against the running services."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from infra.local.services import ServiceProcess
from tests.e2e.conftest import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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


def test_staff_register_a_case_on_the_desk_page(
        services: dict[str, ServiceProcess], browser: Browser, tokens: Tokens) -> None:
    page = browser.new_page(locale="pt-BR")
    page.goto(f"{services['intake'].url}/#token={bearer(tokens)}")
    assert "token" not in page.url  # the token leaves the address bar once kept
    expect(page.get_by_role("heading", name="Registrar atendimento")).to_be_visible()
    page.get_by_label("Nome completo").fill("Wislande Jean-Baptiste")
    page.get_by_label("Data de nascimento").fill("1994-02-17")
    page.get_by_label("Nacionalidade (ISO, 3 letras)").fill("HTI")
    page.get_by_label("Idioma", exact=True).select_option("ht")
    page.get_by_label("Atendimento no idioma da pessoa").check()
    page.get_by_label("Situação migratória").select_option("acolhida_humanitaria")
    page.get_by_label("Demanda").select_option("portuguese_course")
    page.get_by_label("Atendente").fill("ana")
    page.get_by_role("button", name="Registrar").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Atendimento registrado:")
    case_id = status.inner_text().rsplit(":", 1)[1].strip()
    case = httpx.get(f"{services['intake'].url}/api/cases/{case_id}", headers=tokens.staff).json()
    assert case["person"]["full_name"] == "Wislande Jean-Baptiste"
    assert case["requests"][0]["service_area"] == "education"


def test_bad_input_on_the_page_shows_which_field_is_wrong(services: dict[str, ServiceProcess],
                                                          browser: Browser, tokens: Tokens) -> None:
    page = browser.new_page()
    page.goto(f"{services['intake'].url}/#token={bearer(tokens)}")
    page.get_by_label("Nome completo").fill("Pessoa Teste")
    page.get_by_label("Nacionalidade (ISO, 3 letras)").fill("VEN")
    page.get_by_label("Data de nascimento").fill("2999-01-01")
    page.get_by_label("Demanda").select_option("sus_card")
    page.get_by_label("Atendente").fill("ana")
    page.get_by_role("button", name="Registrar").click()
    expect(page.get_by_role("status")).to_contain_text("person.birth_date")


def test_without_a_token_the_page_asks_for_one(services: dict[str, ServiceProcess], browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{services['intake'].url}/")
    expect(page.get_by_label("Token de acesso")).to_be_visible()
    page.get_by_label("Nome completo").fill("Pessoa Teste")
    page.get_by_label("Nacionalidade (ISO, 3 letras)").fill("VEN")
    page.get_by_label("Demanda").select_option("sus_card")
    page.get_by_label("Atendente").fill("ana")
    page.get_by_role("button", name="Registrar").click()
    expect(page.get_by_role("status")).to_contain_text("Acesso não autorizado")
