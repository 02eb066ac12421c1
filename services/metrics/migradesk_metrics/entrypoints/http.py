"""Metrics' HTTP routes: aggregates only, no metrics endpoint ever returns a person or a case."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request

from migradesk_metrics import service
from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.adapters.views import evidence_view, indicators_view, summary_view
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.http import API_ERROR_RESPONSES


def _repository(request: Request) -> RollupRepository:
    return cast(RollupRepository, request.app.state.store)


def _settings(request: Request) -> MetricsSettings:
    return cast(MetricsSettings, request.app.state.settings)


Aggregates = Annotated[Principal, Depends(requires(Role.COORDINATOR, Role.STAFF, Role.ADMIN))]
# Raw figures keep their small cells: only those who answer for the programme read them.
RawFigures = Annotated[Principal, Depends(requires(Role.COORDINATOR, Role.ADMIN))]
Rollups = Annotated[RollupRepository, Depends(_repository)]
Settings = Annotated[MetricsSettings, Depends(_settings)]
Period = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; all periods if omitted")]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/metrics", responses=API_ERROR_RESPONSES)

    @router.get("/summary")
    async def get_summary(caller: Aggregates, rollups: Rollups, settings: Settings,
                          period: Period = None) -> dict[str, Any]:
        """Plain counters per area; the requests as the evidence tables publish them (small cells suppressed)."""
        return summary_view(settings.municipality,
                            await service.summary(rollups, municipality=settings.municipality, period=period,
                                                  threshold=settings.suppression_threshold))

    @router.get("/indicators")
    async def get_indicators(caller: RawFigures, rollups: Rollups, settings: Settings,
                             period: Period = None) -> dict[str, Any]:
        """Raw indicators for the ten MigraCidades dimensions, small cells included: for coordinators and
        admins, not for publication (publish the evidence tables, which suppress small cells)."""
        return indicators_view(settings.municipality,
                               await service.indicators(rollups, municipality=settings.municipality, period=period))

    @router.get("/evidence")
    async def get_evidence(caller: Aggregates, rollups: Rollups, settings: Settings,
                           period: Period = None) -> dict[str, Any]:
        """Tables fit for publication in the MigraCidades evidence report: small cells suppressed."""
        threshold = settings.suppression_threshold
        return evidence_view(settings.municipality, threshold,
                             await service.evidence(rollups, municipality=settings.municipality, period=period,
                                                    threshold=threshold))

    return router
