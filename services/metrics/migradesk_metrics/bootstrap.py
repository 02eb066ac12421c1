"""Metrics' composition root: runtime, rollup repository, consumers and the summary API, each overridable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.http import build_router
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime


def create_app(settings: MetricsSettings | None = None, runtime: Runtime | None = None,
               repository: RollupRepository | None = None) -> FastAPI:
    """The metrics service. Defaults: a Runtime built from `settings` (metrics stores no events, so no relay)
    and the Mongo repository on its database."""
    settings = settings or MetricsSettings()
    tz = ZoneInfo(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.create(settings)
        rollups = repository or MongoRollupRepository(rt.db)
        await rollups.ensure_indexes()
        consumers.subscribe(rt, rollups, tz)
        async with rt.serving(app, rollups):
            yield

    return service_app(title="MigraDesk metrics", settings=settings, lifespan=lifespan, router=build_router())
