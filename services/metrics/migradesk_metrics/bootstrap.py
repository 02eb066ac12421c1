"""Metrics' composition root: runtime, rollup repository, consumers, the summary API and the coordinators'
dashboard pages, each overridable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.http import build_router
from migradesk_metrics.entrypoints.pages import build_dashboard_pages, dashboard_pages
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime
from migradesk_shared.web.templates import Pages


def create_app(settings: MetricsSettings | None = None, runtime: Runtime | None = None,
               repository: RollupRepository | None = None, pages: Pages | None = None) -> FastAPI:
    """The metrics service. Defaults: a Runtime built from `settings` (metrics stores no events, so no relay)
    and the Mongo repository on its database. Given only a repository (e.g. the in-memory one), the app runs
    without any runtime: no store, no broker, no consumers (the pages' and the API's tests)."""
    settings = settings or MetricsSettings()
    tz = ZoneInfo(settings.timezone)
    # Loaded here, not at the first request: a missing compiled catalog stops the service at start-up.
    pages = pages or dashboard_pages()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is None and repository is not None:
            await repository.ensure_indexes()
            app.state.runtime, app.state.store = None, repository
            yield
            return
        rt = runtime or Runtime.create(settings)
        rollups = repository or MongoRollupRepository(rt.db)
        await rollups.ensure_indexes()
        consumers.subscribe(rt, rollups, tz)
        async with rt.serving(app, rollups):
            yield

    app: FastAPI

    async def readiness() -> dict[str, bool]:
        runtime_now: Runtime | None = getattr(app.state, "runtime", None)
        return {"store": True} if runtime_now is None else await runtime_now.readiness()

    app = service_app(title="MigraDesk metrics", settings=settings, lifespan=lifespan, router=build_router(),
                      readiness=readiness)
    # The pages: anonymous browsers go to intake's sign-in page (`accounts_url`), refusals are translated pages.
    pages.install_error_pages(app)
    app.include_router(build_dashboard_pages(pages))
    return app
