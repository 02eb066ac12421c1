"""Metrics' composition root: consumers of case and referral events, and the summary API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from migradesk_metrics.channels import SUBSCRIBES
from migradesk_metrics.handlers import (
    MetricsStore,
    evidence,
    handle_rollup_batch,
    handle_rollup_event,
    indicators,
    summary,
)
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.http import service_app
from migradesk_shared.kafka import Delivery
from migradesk_shared.runtime import Runtime

# Aggregates only: no metrics endpoint ever returns a person or a case.
Aggregates = Annotated[Principal, Depends(requires(Role.COORDINATOR, Role.STAFF, Role.ADMIN))]
Period = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; all periods if omitted")]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/metrics")

    @router.get("/summary")
    async def get_summary(request: Request, caller: Aggregates,
                          period: Period = None) -> dict[str, Any]:
        return await summary(request.app.state.store, municipality=request.app.state.settings.municipality,
                             period=period)

    @router.get("/indicators")
    async def get_indicators(request: Request, caller: Aggregates,
                             period: Period = None) -> dict[str, Any]:
        """Raw indicators for the ten MigraCidades dimensions (coordinators only; exports suppress small cells)."""
        return await indicators(request.app.state.store, municipality=request.app.state.settings.municipality,
                                period=period)

    @router.get("/evidence")
    async def get_evidence(request: Request, caller: Aggregates, period: Period = None) -> dict[str, Any]:
        """Tables fit for publication in the MigraCidades evidence report: small cells suppressed."""
        settings = request.app.state.settings
        return await evidence(request.app.state.store, municipality=settings.municipality, period=period,
                              threshold=settings.suppression_threshold)

    return router


def create_app(settings: MetricsSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    tz = ZoneInfo(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.create(settings)
        store = MetricsStore(rt.db)
        await store.ensure_indexes()

        async def on_event(event: Any, delivery: Delivery) -> None:
            await handle_rollup_event(event, delivery, store=store, tz=tz)

        async def on_batch(items: list[tuple[Any, Delivery]]) -> None:
            await handle_rollup_batch(items, store=store, tz=tz)

        for spec in SUBSCRIBES:
            rt.subscribe(spec, on_event, batch_handler=on_batch)
        async with rt.serving(app, store):
            yield

    return service_app(title="MigraDesk metrics", settings=settings, lifespan=lifespan,
                       router=build_router())
