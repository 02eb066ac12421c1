"""Intake's one composition root: runtime, repository, use cases and the FastAPI app, each overridable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from migradesk_intake.adapters.repository import OUTBOX_COLLECTIONS, IntakeRepository, MongoIntakeRepository
from migradesk_intake.entrypoints.http import build_router
from migradesk_intake.entrypoints.pages import build_pages, desk_pages
from migradesk_intake.service import IntakeService
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime
from migradesk_shared.web.templates import Pages


def create_app(settings: IntakeSettings | None = None, runtime: Runtime | None = None,
               repository: IntakeRepository | None = None, pages: Pages | None = None) -> FastAPI:
    """The intake service. Defaults: a runtime from the settings and the repository on its store, the desk's
    pages with their catalogs. Given only a repository (e.g. the in-memory one), the app runs without any
    runtime: no store, broker or relay."""
    settings = settings or IntakeSettings()
    # Loaded here, not at the first request: a missing compiled catalog stops the service at start-up.
    pages = pages or desk_pages()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is None and repository is not None:
            app.state.runtime, app.state.store = None, repository
            app.state.service = IntakeService(repository, municipality=settings.municipality)
            yield
            return
        rt = runtime or Runtime.create(settings, outbox_collections=OUTBOX_COLLECTIONS)
        # The repository tells the relay of every write with events, so they go out at once.
        repo = repository or MongoIntakeRepository(rt.db, on_write=rt.written)
        await repo.ensure_indexes()
        app.state.service = IntakeService(repo, municipality=settings.municipality)
        async with rt.serving(app, repo):
            yield

    app: FastAPI

    async def readiness() -> dict[str, bool]:
        # The desk keeps working while Kafka is down (the outbox holds the events), so only the store counts.
        runtime_now: Runtime | None = app.state.runtime
        return {"store": True if runtime_now is None else (await runtime_now.readiness())["store"]}

    app = service_app(title="MigraDesk intake", settings=settings, lifespan=lifespan,
                      router=build_router(), readiness=readiness)
    app.include_router(build_pages(pages))
    return app
