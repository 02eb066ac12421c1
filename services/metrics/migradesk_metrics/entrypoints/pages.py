"""The coordinators' dashboard, rendered on the server in the language of the request: the ten MigraCidades
dimensions of a month (compared with another), one page per dimension with its indicators, their trend and their
breakdowns as SVG charts beside tables of the same numbers, and the files: a dimension's tables as CSV or XLSX,
and the month's evidence report as PDF. Aggregates only, small cells suppressed as the evidence endpoint does.

People sign in on intake's page (the `accounts_url` setting): the session cookie intake sets is checked here
alone, with the deployment's secret (migradesk_shared.web.session). Coordinators and administrators only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from migradesk_metrics import service
from migradesk_metrics.adapters.charts import chart_of
from migradesk_metrics.adapters.exports import dimension_csv, dimension_xlsx, evidence_pdf
from migradesk_metrics.adapters.labels import DIMENSION_LABELS, INDICATOR_LABELS, Names
from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.domain.dashboard import (
    Dashboard,
    DimensionView,
    is_year,
    month_before,
    months_up_to,
    period_before,
)
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.auth import Role
from migradesk_shared.web.session import PageUser, page_user, session_language
from migradesk_shared.web.templates import Pages

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
LOCALE_DIR = PACKAGE / "locale"

DASHBOARD_PATH = "/dashboard"
NO_COMPARISON = "none"
# How far back the month pickers reach when the data does not go further.
PICKER_MONTHS = 24

CoordinatorUser = Annotated[PageUser, Depends(page_user(Role.COORDINATOR, Role.ADMIN))]
# A month, or a whole year (its figures from its months', see domain/dashboard.py).
Month = Annotated[str | None, Query(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$", description="YYYY-MM, or YYYY")]
Compared = Annotated[str | None, Query(pattern=rf"^(\d{{4}}(-(0[1-9]|1[0-2]))?|{NO_COMPARISON})$",
                                       description=f"YYYY-MM, YYYY, or {NO_COMPARISON}")]
DimensionNumber = Annotated[int, PathParam(ge=1, le=len(DIMENSION_LABELS))]


def dashboard_pages() -> Pages:
    return Pages(templates=TEMPLATES, locale_dir=LOCALE_DIR, account_language=session_language)


def _settings(request: Request) -> MetricsSettings:
    return cast(MetricsSettings, request.app.state.settings)


def _repository(request: Request) -> RollupRepository:
    return cast(RollupRepository, request.app.state.store)


def this_month(settings: MetricsSettings) -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m")


class Chosen:
    """The period shown (a month or a year) and the one compared with: by default the latest month with data
    (else this month), compared with the month before it; a year is compared with the year before."""

    def __init__(self, board: Dashboard, now: str, period: str | None, compare: str | None) -> None:
        with_data = board.months_with_data
        self.period = period or (with_data[-1] if with_data else now)
        self.compare = (None if compare == NO_COMPARISON else compare or period_before(self.period))
        # The months around what is shown: a year reaches the picker as its December.
        as_months = [p if not is_year(p) else f"{p}-12"
                     for p in [self.period, *([self.compare] if self.compare else [])]]
        newest = max([now, *as_months, *with_data[-1:]])
        oldest = min([month_before(newest, PICKER_MONTHS - 1), *as_months, *with_data[:1]])
        span = (int(newest[:4]) - int(oldest[:4])) * 12 + int(newest[5:]) - int(oldest[5:]) + 1
        self.months = list(reversed(months_up_to(newest, span)))  # newest first
        self.years = sorted({now[:4], *board.years_with_data, *(p[:4] for p in as_months)}, reverse=True)
        self.options = [*self.years, *self.months]

    @property
    def is_year(self) -> bool:
        return is_year(self.period)

    @property
    def year(self) -> str:
        return self.period[:4]

    def query(self, **extra: str) -> str:
        return urlencode({"period": self.period, "compare": self.compare or NO_COMPARISON, **extra})


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "municipality"


def build_dashboard_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def board_of(request: Request) -> Dashboard:
        settings = _settings(request)
        return await service.dashboard(_repository(request), municipality=settings.municipality,
                                       threshold=settings.suppression_threshold)

    async def names_of(request: Request) -> Names:
        locale = (await pages.locale_of(request)).locale
        return Names(locale, pages.gettext(locale))

    def common(request: Request, chosen: Chosen) -> dict[str, Any]:
        settings = _settings(request)
        return {"chosen": chosen, "municipality": settings.municipality,
                "threshold": settings.suppression_threshold, "dimension_labels": DIMENSION_LABELS,
                "no_comparison": NO_COMPARISON}

    @router.get(DASHBOARD_PATH, response_class=HTMLResponse)
    async def overview(request: Request, user: CoordinatorUser, period: Month = None,
                       compare: Compared = None) -> Response:
        board = await board_of(request)
        chosen = Chosen(board, this_month(_settings(request)), period, compare)
        names = await names_of(request)
        views = board.headlines(chosen.period, chosen.compare)
        headlines = []
        for view in views:
            indicators = view.table("indicators")
            headlines.append({"view": view, "indicator": INDICATOR_LABELS[indicators.rows[0]] if indicators else None,
                              "figures": indicators.cells[0] if indicators else ()})
        by_area = board.requests_by_area(chosen.period)
        return await pages.render(request, "dashboard.html", {
            **common(request, chosen), "names": names, "headlines": headlines,
            "by_area": by_area, "by_area_chart": chart_of(by_area, names) if by_area else None,
        })

    @router.get(DASHBOARD_PATH + "/dimensions/{dimension}", response_class=HTMLResponse)
    async def dimension_page(request: Request, user: CoordinatorUser, dimension: DimensionNumber,
                             period: Month = None, compare: Compared = None) -> Response:
        board = await board_of(request)
        chosen = Chosen(board, this_month(_settings(request)), period, compare)
        names = await names_of(request)
        view = board.dimension(dimension, chosen.period, chosen.compare)
        return await pages.render(request, "dimension.html", {
            **common(request, chosen), "names": names, "view": view,
            "tables": [(table, chart_of(table, names)) for table in view.tables],
        })

    async def dimension_view(request: Request, dimension: int, period: str | None, compare: str | None
                             ) -> tuple[DimensionView, Names]:
        board = await board_of(request)
        chosen = Chosen(board, this_month(_settings(request)), period, compare)
        return board.dimension(dimension, chosen.period, chosen.compare), await names_of(request)

    def attachment(content: bytes, media_type: str, filename: str) -> Response:
        return Response(content, media_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Figures change as events are counted, and they are the municipality's: no shared cache keeps them.
            "Cache-Control": "private, no-store"})

    @router.get(DASHBOARD_PATH + "/dimensions/{dimension}/tables.csv")
    async def dimension_csv_file(request: Request, user: CoordinatorUser, dimension: DimensionNumber,
                                 period: Month = None, compare: Compared = None) -> Response:
        view, names = await dimension_view(request, dimension, period, compare)
        return attachment(dimension_csv(view, names, _settings(request).municipality), "text/csv; charset=utf-8",
                          f"migracidades-{dimension}-{view.period}.csv")

    @router.get(DASHBOARD_PATH + "/dimensions/{dimension}/tables.xlsx")
    async def dimension_xlsx_file(request: Request, user: CoordinatorUser, dimension: DimensionNumber,
                                  period: Month = None, compare: Compared = None) -> Response:
        view, names = await dimension_view(request, dimension, period, compare)
        return attachment(dimension_xlsx(view, names, _settings(request).municipality),
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          f"migracidades-{dimension}-{view.period}.xlsx")

    @router.get(DASHBOARD_PATH + "/report.pdf")
    async def report_file(request: Request, user: CoordinatorUser, period: Month = None,
                          compare: Compared = None) -> Response:
        settings = _settings(request)
        board = await board_of(request)
        chosen = Chosen(board, this_month(settings), period, compare)
        names = await names_of(request)
        today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
        content = evidence_pdf(board.overview(chosen.period, chosen.compare), names,
                               municipality=settings.municipality, period=chosen.period, compare=chosen.compare,
                               threshold=settings.suppression_threshold, today=today)
        return attachment(content, "application/pdf",
                          f"migracidades-{_slug(settings.municipality)}-{chosen.period}.pdf")

    return router
