"""Metrics' composition root: runtime, rollup repository, consumers, the summary API and the coordinators'
dashboard pages, each overridable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from migradesk_metrics.adapters.generations import Generation, GenerationFollower
from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.http import build_router
from migradesk_metrics.entrypoints.pages import build_dashboard_pages, dashboard_pages
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.http import service_app
from migradesk_shared.mongo import connect
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
        if runtime is not None:
            rollups = repository or MongoRollupRepository(runtime.db)
            await rollups.ensure_indexes()
            consumers.subscribe(runtime, rollups, tz)
            async with runtime.serving(app, rollups):
                yield
            return
        # The database and consumer group come from the active generation, which a rebuild switches.
        home_client = connect(settings.mongodb_uri, app_name="migradesk-metrics-generations")

        async def serve_generation(generation: Generation) -> Callable[[], Awaitable[None]]:
            rt = Runtime.create(generation.applied_to(settings))
            rollups = MongoRollupRepository(rt.db)
            await rollups.ensure_indexes()
            consumers.subscribe(rt, rollups, tz)
            await rt.start()
            app.state.runtime, app.state.store = rt, rollups
            return rt.stop

        follower = GenerationFollower(home_client[settings.mongodb_database], settings, serve_generation,
                                      settings.generation_check_seconds)
        app.state.generations = follower
        try:
            await follower.start()
            yield
        finally:
            await follower.stop()
            await home_client.close()

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
