"""A coordinator's evidence in a real browser (Debian's Chromium driven by Playwright) against the running services:
the desk registers visits through intake's API and an agency accepts referrals through referral's, so the figures
travel the whole pipeline (Kafka, metrics' consumers, the rollups); the coordinator signs in at intake, lands on
metrics' dashboard, picks the month, opens dimension 6 (health), switches the page to Spanish and downloads the
page's tables as CSV and XLSX and the month's evidence report as PDF. Each file, opened with its own library
(csv, openpyxl, pypdf), holds the numbers the page shows, small cells suppressed alike.

The stack is this module's own: intake knows where the dashboard is (INTAKE_COORDINATOR_HOME_URL) and metrics
where people sign in (METRICS_ACCOUNTS_URL), as `make run` has them on the fixed ports.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_skeleton
from openpyxl import load_workbook
from playwright.sync_api import Browser, Download, Page, expect
from pypdf import PdfReader

from infra.demo import DEMO_ACCOUNTS_ENV
from infra.local.cli import dashboard_env
from infra.local.process import free_port
from infra.local.services import SERVICE_PORTS, ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_intake.demo import DEMO_ACCOUNTS
from migradesk_shared.auth import Role
from tests.e2e.test_desk_journeys import browser, wait_for
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.browser, pytest.mark.slow]

__all__ = ["browser"]  # the module's Chromium, as the desk journeys launch it

COORDINATOR = next(a for a in DEMO_ACCOUNTS if a.username == "coordenacao")
UBS = "ubs-jardim-climax"  # health, in Portuguese and Spanish: the Venezuelans' primary care goes there
TIMEZONE = "America/Sao_Paulo"  # the services' default municipality clock
# The visits: (nationality, language, sex, request categories, how many). Venezuelans and Haitians ask for primary
# care (health) and a job (work); two Haitians' health requests make a small cell, which the other cells of its row
# and column protect, so the totals stay published.
VISITS: tuple[tuple[str, str, str, tuple[str, ...], int], ...] = (
    ("VEN", "es", "female", ("primary_care", "job_placement"), 7),
    ("HTI", "ht", "male", ("primary_care", "job_placement"), 2),
    ("HTI", "ht", "male", ("job_placement",), 3),
)
ACCEPTED = 4  # of the Venezuelans' health referrals, by the UBS


@dataclass(frozen=True)
class DashboardStack:
    services: dict[str, ServiceProcess]
    tokens: Tokens

    def url(self, service: str) -> str:
        return self.services[service].url


@pytest.fixture(scope="module")
def dashboard_stack(infra: Infra) -> Iterator[DashboardStack]:
    secret = secrets.token_urlsafe(32)
    ports = {name: free_port() for name in SERVICE_PORTS}
    extra_env = {"REFERRAL_SEED_DEMO_AGENCIES": "true", **DEMO_ACCOUNTS_ENV, **dashboard_env(ports)}
    with running_services(infra, new_namespace("dash"), secret, ports=ports, extra_env=extra_env) as services:
        yield DashboardStack(services, Tokens(secret))


def register_visits(stack: DashboardStack) -> list[str]:
    """The desk registers the visits (shared with the network); the ids of their cases."""
    cases = []
    for nationality, language, sex, categories, times in VISITS:
        for _ in range(times):
            person = {"full_name": f"Pessoa Painel {uuid.uuid4().hex[:6]}", "birth_date": "1990-05-17", "sex": sex,
                      "nationality": nationality, "preferred_language": language, "migratory_status": "other",
                      "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}}
            response = httpx.post(f"{stack.url('intake')}/api/cases", headers=stack.tokens.staff,
                                  json={"person": person, "requests": [{"category": c} for c in categories]})
            assert response.status_code == 201, response.text
            cases.append(response.json()["case_id"])
    return cases


def accept_health_referrals(stack: DashboardStack, cases: list[str]) -> None:
    """The UBS accepts the first Venezuelans' health referrals, through referral's API."""
    def routed(case_id: str) -> dict[str, Any] | None:
        found = httpx.get(f"{stack.url('referral')}/api/referrals", params={"case_id": case_id},
                          headers=stack.tokens.staff)
        health = [r for r in found.json()["referrals"] if r["service_area"] == "health"] \
            if found.status_code == 200 else []
        return health[0] if health else None

    for case_id in cases[:ACCEPTED]:
        referral = wait_for(partial(routed, case_id), what=f"the health referral of {case_id}")
        assert referral["agency_id"] == UBS, referral
        accepted = httpx.post(f"{stack.url('referral')}/api/referrals/{referral['referral_id']}/actions",
                              headers=stack.tokens.agency(UBS), json={"action": "accept", "expected_version": 1})
        assert accepted.status_code == 200, accepted.text


def counted(stack: DashboardStack, period: str) -> bool:
    """Metrics counted every request, referral and acceptance of the month."""
    coordinator = stack.tokens.headers(Role.COORDINATOR, subject="coordenacao")
    response = httpx.get(f"{stack.url('metrics')}/api/metrics/summary", params={"period": period},
                         headers=coordinator)
    areas = response.json()["periods"].get(period, {}).get("areas", {}) if response.status_code == 200 else {}
    # Exact request counts are the raw indicators' (the summary publishes them as the evidence tables do).
    raw = httpx.get(f"{stack.url('metrics')}/api/metrics/indicators", params={"period": period},
                    headers=coordinator)
    figures = raw.json()["periods"].get(period, {}) if raw.status_code == 200 else {}
    health, work = areas.get("health", {}), areas.get("work", {})
    return (figures.get("6", {}).get("requests") == 9 and health.get("referrals_created") == 9
            and health.get("referrals_accepted") == ACCEPTED and figures.get("9", {}).get("requests") == 12
            and work.get("referrals_created") == 12)


def shown_table(page: Page, key: str) -> dict[str, list[str]]:
    """{row code: the cells' text} of a table of the page; the totals under "total"."""
    rows = page.locator(f"#table-{key} tr[data-row]")
    return {rows.nth(i).get_attribute("data-row") or "":
            [text.strip() for text in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())}


def shown_labels(page: Page, key: str) -> dict[str, str]:
    rows = page.locator(f"#table-{key} tr[data-row]")
    return {rows.nth(i).get_attribute("data-row") or "": rows.nth(i).locator("th").inner_text().strip()
            for i in range(rows.count())}


def same(on_page: str, in_file: object) -> bool:
    """A file's figure is the page's: counts and marks ("<5", "x") alike, a share as the fraction the page shows
    as a percentage (Spanish: "44,4 %"), no data as an empty cell."""
    if in_file in ("", None):
        return on_page == "sin datos"
    if on_page.endswith("%"):
        return abs(float(on_page.rstrip("% \u00a0").replace(",", ".")) / 100 - float(str(in_file))) < 0.0006
    return on_page == str(in_file)


def saved(download: Download, folder: Path) -> Path:
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def test_a_coordinator_downloads_the_health_evidence_of_a_month(
        dashboard_stack: DashboardStack, browser: Browser, tmp_path: Path) -> None:
    stack = dashboard_stack
    period = datetime.now(ZoneInfo(TIMEZONE)).strftime("%Y-%m")
    accept_health_referrals(stack, register_visits(stack))
    wait_for(lambda: counted(stack, period), what="metrics counting the visits, referrals and acceptances")
    month_pt = format_skeleton("yMMMM", datetime.strptime(period, "%Y-%m"), locale="pt_BR")

    # 1. Intake's sign-in; a coordinator lands on metrics' dashboard (the ten dimensions), in Portuguese.
    context = browser.new_context(locale="pt-BR", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{stack.url('intake')}/sign-in")
    page.get_by_label("Nome de usuário").fill(COORDINATOR.username)
    page.get_by_label("Senha").fill(COORDINATOR.password)
    page.get_by_role("button", name="Entrar", exact=True).click()
    expect(page).to_have_url(f"{stack.url('metrics')}/dashboard")
    expect(page.get_by_role("heading", name="Painel MigraCidades", level=1)).to_be_visible()
    expect(page.locator("#dimensions tbody tr")).to_have_count(10)

    # 2. The month, picked; then dimension 6.
    page.get_by_label("Mês ou ano", exact=True).select_option(period)
    page.get_by_label("Comparar com").select_option(label="Sem comparação")
    page.get_by_role("button", name="Mostrar", exact=True).click()
    expect(page.locator("#scope")).to_contain_text(month_pt)
    page.get_by_role("link", name="6. Saúde", exact=True).click()
    expect(page.get_by_role("heading", name="Dimensão 6: Saúde", level=1)).to_be_visible()
    indicators = shown_table(page, "indicators")
    assert indicators["requests"] == ["9"] and indicators["referrals"] == ["9"]
    assert indicators["accepted"] == ["<5"] and indicators["accepted_pct"] == ["x"]  # 4 accepted: a small cell
    nationality = shown_table(page, "by_nationality")
    assert nationality["HTI"] == ["<5", "<5"] and nationality["total"] == ["9", "9"]
    expect(page.locator("#chart-trend")).to_be_visible()  # the chart beside its table

    # 3. The page in Spanish: the switcher keeps the month.
    page.get_by_role("link", name="Español", exact=True).click()
    expect(page.get_by_role("heading", name="Dimensión 6: Salud", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    tables = {key: shown_table(page, key) for key in
              [t.removeprefix("table-") for t in page.locator("table[data-table]").evaluate_all(
                  "tables => tables.map(t => t.id)")]}
    labels = {key: shown_labels(page, key) for key in tables}
    assert {key: tables["indicators"][key] for key in ("requests", "referrals", "accepted", "accepted_pct")} == {
        key: indicators[key] for key in ("requests", "referrals", "accepted", "accepted_pct")}
    assert tables["indicators"]["completed_with_help_pct"] == ["sin datos"]  # nothing completed: no share
    assert labels["by_nationality"]["HTI"] == "Haití"

    # 4. The CSV: every table of the page, the same figures.
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Tablas de esta página (CSV)").click()
    rows = list(csv.reader(io.StringIO(saved(csv_download.value, tmp_path).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Municipio", "Dourados-MS"]
    for key, table in tables.items():
        title = page.locator(f"#title-{key}").inner_text().strip()
        start = rows.index([title]) + 2  # the title, the header, then the rows
        in_file = rows[start:start + len(table)]
        assert [r[0] for r in in_file] == [labels[key][code] if code != "total" else "Total" for code in table]
        for (code, cells), row in zip(table.items(), in_file, strict=True):
            assert all(same(a, b) for a, b in zip(cells, row[1:], strict=True)), (key, code, cells, row)

    # 5. The XLSX: a sheet per table, numbers as numbers.
    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Tablas de esta página (XLSX)").click()
    workbook = load_workbook(saved(xlsx_download.value, tmp_path))
    assert len(workbook.sheetnames) == len(tables)
    for sheet, (key, table) in zip(workbook.worksheets, tables.items(), strict=True):
        assert sheet["A1"].value == page.locator(f"#title-{key}").inner_text().strip()
        width = 1 + len(next(iter(table.values())))  # the label, then the table's columns
        in_file = list(sheet.iter_rows(min_row=6, max_col=width, values_only=True))
        for (code, cells), row in zip(table.items(), in_file, strict=True):
            assert all(same(a, b) for a, b in zip(cells, row[1:], strict=True)), (key, code, cells, row)
    assert workbook["Indicadores"]["B6"].value == 9  # an int, not text

    # 6. The PDF: the ten dimensions; dimension 6's tables as the page shows them (the trend stays on screen).
    expect(page.get_by_role("link", name=f"Informe anual de {period[:4]} (PDF)")).to_be_visible()
    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Informe de evidencias del período (PDF)").click()
    reader = PdfReader(saved(pdf_download.value, tmp_path))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "Informe de evidencias MigraCidades" in text and "Dourados-MS" in text
    assert re.findall(r"Dimensión (\d+): ", text) == [str(d) for d in range(1, 11)]
    health = text[text.index("Dimensión 6: Salud"):text.index("Dimensión 7: ")]
    for key, table in tables.items():
        if key == "trend":
            continue
        for code, cells in table.items():
            label = labels[key][code] if code != "total" else "Total"
            assert f"{label} {' '.join(cells)}" in health, (key, code, cells)
    assert "<5" in health and "Notas metodológicas" in text
    context.close()
