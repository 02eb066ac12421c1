"""The coordinators' dashboard over the in-memory repository: the overview of the ten dimensions and a dimension's
page (indicators, trend, breakdowns, SVG charts beside tables of the same numbers) with small cells suppressed as
the evidence endpoint suppresses them; the "no data" state; the month pickers; the CSV, XLSX and PDF files holding
the page's numbers; who may see them (coordinators and administrators; not the desk staff nor an agency; an
anonymous browser goes to intake's sign-in); and the language of pages and files."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from migradesk_metrics.adapters.memory import InMemoryRollupRepository
from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.domain.reports import by_period, evidence_tables, shared_totals
from migradesk_metrics.service import count_events
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
)
from migradesk_shared.contracts.vocabulary import DeclineReason, Outcome, ServiceArea
from migradesk_shared.web.session import SESSION_COOKIE, PageUser, session_tokens
from tests.service.metrics.helpers import NOV, TOWN, TZ, VEN, at, logged, opened

SETTINGS = MetricsSettings(api_token_secret=secrets.token_urlsafe(32), municipality=TOWN,
                           accounts_url="http://desk.example:8001", timezone="America/Sao_Paulo")
ENGLISH = {"Accept-Language": "en"}
HTI = PersonFacets(nationality="HTI", sex="male", age_band="18-29", migratory_status="acolhida_humanitaria",
                   language="ht")
OCT = NOV - timedelta(days=31)
UBS = "ubs-jardim-climax"


SINE = "sine-dourados"


def referral(i: int, facets: PersonFacets, area: ServiceArea = ServiceArea.HEALTH, agency: str = UBS,
             when: datetime = NOV) -> ReferralCreated:
    return ReferralCreated(producer="test", occurred_at=when, referral_id=f"ref{i}", case_id=f"c{i}",
                           request_id=f"r{i}", category="primary_care", service_area=area, agency_id=agency,
                           municipality=TOWN, facets=facets)


def lifecycle(kind: type, i: int, hours: float, agency: str = UBS, **extra: object) -> object:
    return kind(producer="test", occurred_at=NOV + timedelta(hours=hours), referral_id=f"ref{i}", case_id=f"c{i}",
                service_area=ServiceArea.HEALTH, agency_id=agency, municipality=TOWN, referral_created_at=NOV,
                **extra)


def health_month() -> list[object]:
    """November: 12 Venezuelan and 3 Haitian health requests, each referred to the UBS; 8 accepted, 6 completed
    (5 with the help needed), 2 declined. 7 Venezuelan and 6 Haitian work requests, referred to the SINE, and 6
    requests resolved at the desk, so the Haitians' small health cell can be protected inside the tables (its
    row and column keep their totals). 5 cases opened. October: 6 health requests, no referral."""
    events: list[object] = [opened(f"c{i}") for i in range(5)]
    for i in range(12):
        events += [logged(ServiceArea.HEALTH, f"v{i}", case_id=f"c{i}"), referral(i, VEN)]
    for i in range(12, 15):
        events += [logged(ServiceArea.HEALTH, f"h{i}", case_id=f"c{i}", facets=HTI), referral(i, HTI)]
    for i in range(20, 27):
        events += [logged(ServiceArea.WORK, f"v{i}", case_id=f"c{i}"), referral(i, VEN, ServiceArea.WORK, SINE)]
    for i in range(30, 36):
        events += [logged(ServiceArea.WORK, f"h{i}", case_id=f"c{i}", facets=HTI),
                   referral(i, HTI, ServiceArea.WORK, SINE)]
    events += [lifecycle(ReferralAccepted, i, 3) for i in range(8)]
    events += [lifecycle(ReferralCompleted, i, 30, outcome=Outcome.GOT_HELP) for i in range(5)]
    events += [lifecycle(ReferralCompleted, 5, 50, outcome=Outcome.COULD_NOT_HELP,
                         could_not_help_reason="no_vacancy")]
    events += [lifecycle(ReferralDeclined, i, 2, reason=DeclineReason.NO_CAPACITY) for i in (13, 14)]
    events += [logged(None, f"d{i}") for i in range(6)]
    events += [logged(ServiceArea.HEALTH, f"o{i}", when=OCT) for i in range(6)]
    return events


def session_cookie(role: Role, *, agency_id: str | None = None, language: str | None = None) -> str:
    now = datetime.now(UTC)
    user = PageUser(subject="marta", role=role, session_id=secrets.token_urlsafe(16),
                    expires_at=now + timedelta(minutes=15), agency_id=agency_id, language=language)
    return session_tokens(SETTINGS.api_token_secret).issue(user, now=now)


@dataclass
class Board:
    client: TestClient
    repository: InMemoryRollupRepository

    def count(self, events: list[object]) -> None:
        messages = [(event, at(offset)) for offset, event in enumerate(events)]
        self.client.portal.call(lambda: count_events(messages, repository=self.repository, tz=TZ))  # type: ignore[union-attr, arg-type]

    def sign_in(self, role: Role = Role.COORDINATOR, **kwargs: str | None) -> None:
        self.client.cookies.set(SESSION_COOKIE, session_cookie(role, **kwargs))


@pytest.fixture
def board() -> Iterator[Board]:
    repository = InMemoryRollupRepository()
    with TestClient(create_app(SETTINGS, repository=repository), headers=ENGLISH) as client:
        yield Board(client, repository)


def table_of(page: str, key: str) -> dict[str, list[str]]:
    """{row code: [the cells' text]} of a table on the page, the totals under "total"."""
    found = re.search(rf'<table id="table-{key}".*?</table>', page, re.S)
    assert found is not None, f"no table {key}"
    rows = re.findall(r'<tr data-row="([^"]+)">(.*?)</tr>', found.group(0), re.S)
    return {code: [unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
            for code, cells in rows}


def row_labels(page: str, key: str) -> list[str]:
    found = re.search(rf'<table id="table-{key}".*?</table>', page, re.S)
    assert found is not None
    return [unescape(label).strip() for label in re.findall(r'<th scope="row">(.*?)</th>', found.group(0), re.S)]


# --- the pages ------------------------------------------------------------------------------------------------


def test_the_health_page_shows_the_indicators_suppressed_as_the_evidence_endpoint_does(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    page = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11", "compare": "2026-10"})
    assert page.status_code == 200
    assert "Dimension 6: Health" in page.text and "November 2026" in page.text

    indicators = table_of(page.text, "indicators")
    assert indicators["requests"] == ["15", "6"]  # November, October
    assert indicators["referrals"] == ["15", "0"]
    assert indicators["accepted"] == ["8", "0"]
    assert indicators["accepted_pct"] == ["53.3%", "no data"]  # October had no referral: no share, not 0 %
    assert indicators["completed"] == ["6", "0"]
    assert indicators["completed_with_help_pct"][0] == "83.3%"
    assert indicators["declined"][0] == "<5"  # 2 declines: a small cell
    assert indicators["overdue"][0] == "0" and indicators["overdue_pct"][0] == "0%"
    assert indicators["time_to_acceptance_median"][0] == "3.01"  # every acceptance took 3 h: within 2.5%
    assert indicators["time_to_completion_median"][0] == "29.8"  # five of six took 30 h

    # The breakdown by nationality is the health column of the evidence table, suppressed as the endpoint does.
    nationality = table_of(page.text, "by_nationality")
    november = by_period(board.client.portal.call(board.repository.buckets, TOWN, "2026-11"))["2026-11"]  # type: ignore[union-attr]
    evidence = evidence_tables(november, SETTINGS.suppression_threshold)["requests_by_nationality"]
    health = evidence.col_labels.index("health")
    published = {label: str(row[health]) for label, row in zip(evidence.row_labels, evidence.cells, strict=True)}
    assert {code: cells[0] for code, cells in nationality.items() if code != "total"} == published
    assert nationality["HTI"][0] == "<5" and nationality["VEN"][0] in {"12", "x"}
    assert row_labels(page.text, "by_nationality")[:2] == ["Haiti", "Venezuela"]  # countries by name

    # Partners and declines; the SVG chart beside its table, with the table's figures.
    assert table_of(page.text, "partners")[UBS][:2] == ["15", "8"]
    assert table_of(page.text, "decline_reasons")["no_capacity"] == ["<5"]
    chart = re.search(r'<svg class="chart" id="chart-trend".*?</svg>', page.text, re.S)
    assert chart is not None and 'role="img" aria-labelledby="chart-trend-title"' in chart.group(0)
    assert chart.group(0).count("<rect") == 2 and ">15</text>" in chart.group(0) and ">6</text>" in chart.group(0)
    assert 'id="chart-by_nationality"' not in page.text  # every cell of it hidden: nothing to draw, the table says so
    # Aggregates only: no case, request or referral id is on the page.
    assert not re.search(r"\b(ref|v)\d+\b", page.text)


def test_the_trend_and_the_month_pickers(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    page = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11"}).text
    trend = table_of(page, "trend")
    assert list(trend)[-2:] == ["2026-10", "2026-11"] and len(trend) == 12
    assert trend["2026-11"][:2] == ["15", "15"] and trend["2026-10"][0] == "6"
    assert trend["2026-09"] == ["no data"] * 4
    # The comparison defaults to the month before; the pickers offer the months, the chosen ones selected.
    assert re.search(r'<option value="2026-11" selected>November 2026</option>', page)
    assert re.search(r'<option value="2026-10" selected>October 2026</option>', page)
    assert "No comparison" in page
    without = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11", "compare": "none"}).text
    assert table_of(without, "indicators")["requests"] == ["15"]
    # The latest month with data is the default.
    assert table_of(board.client.get("/dashboard/dimensions/6").text, "indicators")["requests"][0] == "15"
    assert board.client.get("/dashboard/dimensions/6", params={"period": "2026-13"}).status_code == 422
    assert board.client.get("/dashboard/dimensions/11").status_code == 422


def test_a_dimension_without_data_says_so_instead_of_showing_zeros(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    page = board.client.get("/dashboard/dimensions/2", params={"period": "2026-11"}).text
    assert 'id="no-data"' in page and "No data for this dimension in November 2026." in page
    assert 'id="table-indicators"' not in page
    overview = board.client.get("/dashboard", params={"period": "2026-11"}).text
    training = re.search(r'<tr data-dimension="2">.*?</tr>', overview, re.S)
    assert training is not None and "No data for this period" in training.group(0)
    health = re.search(r'<tr data-dimension="6">.*?</tr>', overview, re.S)
    assert health is not None and ">15<" in health.group(0) and ">6<" in health.group(0)
    # An empty store: every dimension says so.
    board.repository.documents.clear()
    empty = board.client.get("/dashboard").text
    assert empty.count("No data for this period") == 10


def test_the_overview_lists_the_ten_dimensions_with_the_requests_per_area(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    page = board.client.get("/dashboard", params={"period": "2026-11"}).text
    assert re.findall(r'<tr data-dimension="(\d+)">', page) == [str(d) for d in range(1, 11)]
    areas = table_of(page, "areas")
    assert areas["health"] == ["15"] and areas["work"] == ["13"] and areas["desk"] == ["6"]
    assert areas["education"] == ["0"]
    assert 'id="chart-areas"' in page
    assert 'href="/dashboard/report.pdf?period=2026-11&amp;compare=2026-10"' in page
    assert 'href="/dashboard/dimensions/6?period=2026-11&amp;compare=2026-10"' in page


# --- who may see it -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
def test_coordinators_and_administrators_see_the_dashboard(board: Board, role: Role) -> None:
    board.sign_in(role)
    for path in ("/dashboard", "/dashboard/dimensions/6", "/dashboard/dimensions/6/tables.csv",
                 "/dashboard/dimensions/6/tables.xlsx", "/dashboard/report.pdf"):
        assert board.client.get(path).status_code == 200, path


@pytest.mark.parametrize(("role", "agency"), [(Role.STAFF, None), (Role.AGENCY, UBS)])
def test_the_desk_and_the_agencies_are_refused(board: Board, role: Role, agency: str | None) -> None:
    board.sign_in(role, agency_id=agency)
    for path in ("/dashboard", "/dashboard/dimensions/6", "/dashboard/dimensions/6/tables.csv",
                 "/dashboard/dimensions/6/tables.xlsx", "/dashboard/report.pdf"):
        refused = board.client.get(path)
        assert refused.status_code == 403, path
        assert "Your role does not give access to this page." in refused.text


def test_an_anonymous_browser_is_sent_to_sign_in_and_back(board: Board) -> None:
    sent = board.client.get("/dashboard/dimensions/6?period=2026-11", follow_redirects=False)
    assert sent.status_code == 303
    location = urlsplit(sent.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "desk.example:8001", "/sign-in")
    assert parse_qs(location.query)["next"] == ["http://testserver/dashboard/dimensions/6?period=2026-11"]
    assert board.client.get("/dashboard/report.pdf", follow_redirects=False).status_code == 303


# --- languages ------------------------------------------------------------------------------------------------


def test_the_pages_and_files_follow_the_language_chosen(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    portuguese = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11"},
                                  headers={"Accept-Language": "pt-BR"})
    assert '<html lang="pt-BR">' in portuguese.text
    assert "Dimensão 6: Saúde" in portuguese.text and "novembro de 2026" in portuguese.text
    assert table_of(portuguese.text, "indicators")["accepted_pct"][0] == "53,3%"
    assert "Venezuela" in row_labels(portuguese.text, "by_nationality")

    switched = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11", "lang": "ht"})
    assert '<html lang="ht">' in switched.text and "Dimansyon 6: Sante" in switched.text
    assert "Kreyòl ayisyen" in switched.text
    # The choice is kept (cookie): the files come in Creole too.
    rows = list(csv.reader(io.StringIO(board.client.get(
        "/dashboard/dimensions/6/tables.csv", params={"period": "2026-11"}).content.decode("utf-8-sig"))))
    assert ["Minisipalite", TOWN] in rows and ["Endikatè yo"] in rows
    french = board.client.get("/dashboard", params={"lang": "fr"}).text
    assert "Les dix dimensions de gouvernance" in french
    # The account's own language comes before the cookie.
    board.client.cookies.clear()
    board.sign_in(language="es")
    assert "Dimensión 6: Salud" in board.client.get("/dashboard/dimensions/6").text


# --- the files ------------------------------------------------------------------------------------------------


def page_tables(page: str) -> dict[str, dict[str, list[str]]]:
    return {key: table_of(page, key) for key in re.findall(r'<table id="table-([a-z_]+)"', page)}


def test_the_csv_and_the_xlsx_hold_the_pages_numbers(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    params = {"period": "2026-11", "compare": "2026-10"}
    page = board.client.get("/dashboard/dimensions/6", params=params).text
    shown = page_tables(page)

    response = board.client.get("/dashboard/dimensions/6/tables.csv", params=params)
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="migracidades-6-2026-11.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Municipality", TOWN] and rows[1] == ["Period", "November 2026", "2026-11"]
    indicators = rows[rows.index(["Indicators"]) + 1:]
    assert indicators[0] == ["Indicator", "November 2026", "October 2026"]
    assert indicators[1] == ["Requests", "15", "6"]
    assert ["Accepted (share of referrals)", "0.5333", ""] in indicators
    assert ["Declined", "<5", "0"] in indicators
    nationality = rows[rows.index(["Requests and referrals by nationality"]) + 2:][:3]
    assert [r[0] for r in nationality] == ["Haiti", "Venezuela", "Total"]
    assert [r[1:] for r in nationality] == [shown["by_nationality"][code] for code in ("HTI", "VEN", "total")]

    workbook = load_workbook(io.BytesIO(board.client.get("/dashboard/dimensions/6/tables.xlsx",
                                                         params=params).content))
    titles = workbook.sheetnames
    assert titles[:3] == ["Indicators", "Month by month", "Partner agencies"]
    assert len(titles) == len(shown)
    sheet = workbook["Indicators"]
    values = {row[0]: row[1:] for row in sheet.iter_rows(min_row=6, values_only=True)}
    assert values["Requests"] == (15, 6)
    assert values["Accepted (share of referrals)"][0] == pytest.approx(0.5333)
    assert values["Declined"][0] == "<5"
    assert sheet.cell(row=9, column=2).number_format == "0.0%"
    [nationality_sheet] = [name for name in titles if name.startswith("Requests and referrals by nat")]
    assert len(nationality_sheet) <= 31  # a sheet name's limit
    by_nationality = {row[0]: row[1:] for row in workbook[nationality_sheet].iter_rows(min_row=6, values_only=True)}
    assert [str(v) for v in by_nationality["Haiti"]] == shown["by_nationality"]["HTI"]


def test_the_evidence_report_is_organised_by_the_ten_dimensions(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    response = board.client.get("/dashboard/report.pdf", params={"period": "2026-11", "lang": "fr"})
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="migracidades-dourados-ms-2026-11.pdf"' in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Rapport de preuves MigraCidades" in text and TOWN in text and "novembre 2026" in text
    headings = re.findall(r"Dimension (\d+) : ", text)
    assert headings == [str(d) for d in range(1, 11)]
    assert "Aucune donnée pour cette dimension en novembre 2026." in text  # dimension 2 at least
    assert "Notes de méthode" in text and "Délai d'acceptation, médiane (heures)" in text
    assert "<5" in text and "x" in text  # the marks, and the rule explaining them
    assert "« <5 »" in text
    # The fonts are embedded (the accents print wherever the file is opened).
    fonts = {str(font.get("/BaseFont")) for page in reader.pages
             for font in page["/Resources"]["/Font"].values()}  # type: ignore[index, union-attr]
    assert any("DejaVuSans" in font for font in fonts)


# --- the API --------------------------------------------------------------------------------------------------


def api_headers(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS.api_token_secret, subject='someone', role=role)}"}


@pytest.mark.parametrize(("role", "allowed"), [(Role.COORDINATOR, True), (Role.ADMIN, True), (Role.STAFF, False)])
def test_the_raw_indicators_are_for_coordinators_and_administrators_only(board: Board, role: Role,
                                                                          allowed: bool) -> None:
    board.count(health_month())
    response = board.client.get("/api/metrics/indicators", headers=api_headers(role))
    assert response.status_code == (200 if allowed else 403)


def test_the_summary_publishes_the_requests_as_the_evidence_tables_do(board: Board) -> None:
    events = [logged(ServiceArea.HEALTH, f"v{i}") for i in range(6)]
    events += [logged(ServiceArea.WORK, f"h{i}", facets=HTI) for i in range(2)]
    board.count(events)
    response = board.client.get("/api/metrics/summary", headers=api_headers(Role.STAFF))
    assert response.status_code == 200
    areas = response.json()["periods"]["2026-11"]["areas"]
    buckets = board.client.portal.call(board.repository.buckets, TOWN, None)  # type: ignore[union-attr]
    shared = shared_totals(evidence_tables(by_period(buckets)["2026-11"], SETTINGS.suppression_threshold))
    assert areas["work"]["requests_logged"] == shared["work"] == "<5"  # two Haitian requests: not published
    assert areas["health"]["requests_logged"] == shared["health"]
    assert areas["_all"]["requests_logged"] == shared["_all"] != 8  # 8 - 6 would give the work requests away


def test_a_year_is_shown_from_its_months_and_its_annual_report_prints(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    year = board.client.get("/dashboard/dimensions/6", params={"period": "2026"})
    assert year.status_code == 200
    indicators = table_of(year.text, "indicators")
    # October's 6 and November's 15 requests, both shown exactly each month: the year shows 21; compared with
    # 2025 by default, which has no data.
    assert indicators["requests"] == ["21", "no data"]
    trend = table_of(year.text, "trend")
    assert list(trend) == [f"2026-{m:02d}" for m in range(1, 13)]
    assert trend["2026-11"][0] == "15" and trend["2026-10"][0] == "6"
    assert re.search(r'<option value="2026" selected>2026</option>', year.text)
    assert re.search(r'<option value="2025" selected>2025</option>', year.text)
    # November shows the Haitians' small health cell as "<5" and hides the Venezuelans' with it ("x"): the year
    # shows the interval the months allow for the first, and hides the second too, not its exact sum.
    nationality = table_of(year.text, "by_nationality")
    assert nationality["HTI"][0] == "1–4" and nationality["VEN"][0] == "x"
    overview = board.client.get("/dashboard", params={"period": "2026"}).text
    assert 'data-dimension="6"' in overview and "download-annual-pdf" not in overview
    month = board.client.get("/dashboard", params={"period": "2026-11"}).text
    assert 'href="/dashboard/report.pdf?period=2026&amp;compare=2025"' in month
    # The register behind dimensions 1 to 5 is intake's, where the coordinator signed in.
    assert f'href="{SETTINGS.accounts_url}/governance?year=2026"' in month
    report = board.client.get("/dashboard/report.pdf", params={"period": "2026"})
    assert report.status_code == 200
    assert 'filename="migracidades-dourados-ms-2026.pdf"' in report.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(report.content)).pages)
    assert "2026" in text and "Dimension 6" in text
    rows = list(csv.reader(io.StringIO(board.client.get(
        "/dashboard/dimensions/6/tables.csv", params={"period": "2026"}).content.decode("utf-8-sig"))))
    assert any(row[:2] == ["Requests", "21"] or row[1:3] == ["requests", "21"] for row in rows), rows[:20]
    assert board.client.get("/dashboard/dimensions/6", params={"period": "20266"}).status_code == 422


def test_the_annual_report_prints_the_years_figures_and_its_twelve_months(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    report = board.client.get("/dashboard/report.pdf", params={"period": "2026"})
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(report.content)).pages)
    assert text.startswith("MigraCidades annual report 2026")
    assert "Period: 2026, compared with 2025" in text
    health = text[text.index("Dimension 6: Health"):text.index("Dimension 7: Education")]
    # October's 6 requests and November's 15, 15 referrals, 8 accepted, 6 completed: all shown each month, so
    # the year adds them up; November's 2 declines show "<5", so the year shows the range they allow.
    for line in ("Requests 21 no data", "Referrals 15 no data", "Accepted 8 no data", "Completed 6 no data",
                 "Declined 1–4 no data", "Accepted (share of referrals) x no data"):
        assert line in health, line
    # The twelve months, as each month's page publishes them.
    assert "January 2026 no data no data no data no data" in health
    assert "October 2026 6 0 0 0" in health and "November 2026 15 15 8 6" in health
    assert health.index("January 2026") < health.index("November 2026") < health.index("December 2026")
    assert "A year's figures" in text and 'shows "<5", the\nyear shows the range' in text
    assert "Small cells" in text
    portuguese = board.client.get("/dashboard/report.pdf", params={"period": "2026"},
                                  headers={"Accept-Language": "pt-BR"})
    assert PdfReader(io.BytesIO(portuguese.content)).pages[0].extract_text().startswith(
        "Relatório anual MigraCidades 2026")
    # The month's report stays the month's: no trend, no yearly note.
    month = board.client.get("/dashboard/report.pdf", params={"period": "2026-11"})
    month_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(month.content)).pages)
    assert month_text.startswith("MigraCidades evidence report")
    assert "Month by month" not in month_text and "A year's figures" not in month_text


def test_the_pages_link_to_the_annual_report(board: Board) -> None:
    board.count(health_month())
    board.sign_in()
    annual = 'href="/dashboard/report.pdf?period=2026&amp;compare=2025"'
    month_page = board.client.get("/dashboard/dimensions/6", params={"period": "2026-11"}).text
    assert f'<a id="download-annual-pdf" {annual}>Annual report of 2026 (PDF)</a>' in month_page
    year_page = board.client.get("/dashboard/dimensions/6", params={"period": "2026"}).text
    assert "download-annual-pdf" not in year_page
    assert re.search(r'<a id="download-pdf" href="/dashboard/report.pdf\?period=2026&amp;compare=2025">'
                     r"Annual report of 2026 \(PDF\)</a>", year_page)
    overview = board.client.get("/dashboard", params={"period": "2026"}).text
    assert "Annual report of 2026 (PDF)" in overview
    sheet = load_workbook(io.BytesIO(board.client.get("/dashboard/dimensions/6/tables.xlsx",
                                                      params={"period": "2026"}).content))
    assert any(row[:2] == ("Requests", 21) for ws in sheet.worksheets for row in ws.iter_rows(values_only=True))
