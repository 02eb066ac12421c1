"""Intake's composition root: builds the runtime, the store and the HTTP routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from migradesk_intake.handlers import (
    IntakeStore,
    handle_duplicate_check,
    handle_erase_person,
    handle_get_case,
    handle_log_activity,
    handle_open_case,
)
from migradesk_intake.schemas import ActivityIn, CaseOut, DuplicateCheckIn, OpenCaseIn
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime

STATIC = Path(__file__).parent / "static"
DeskStaff = Annotated[Principal, Depends(requires(Role.STAFF, Role.ADMIN))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.post("/cases", status_code=201, response_model=CaseOut)
    async def open_case(payload: OpenCaseIn, request: Request, caller: DeskStaff) -> CaseOut:
        state = request.app.state
        return await handle_open_case(payload, store=state.store, municipality=state.settings.municipality,
                                      actor=caller.actor)

    @router.post("/persons/duplicate-candidates")
    async def duplicate_candidates(payload: DuplicateCheckIn, request: Request,
                                   caller: DeskStaff) -> dict[str, Any]:
        found = await handle_duplicate_check(payload, store=request.app.state.store, actor=caller.actor)
        return {"candidates": [c.model_dump(mode="json") for c in found]}

    @router.delete("/persons/{person_id}")
    async def erase_person(person_id: str, request: Request, caller: DeskStaff) -> dict[str, Any]:
        """LGPD erasure request of a data subject: personal data removed everywhere, counts kept."""
        state = request.app.state
        return await handle_erase_person(person_id, store=state.store, actor=caller.actor)

    @router.post("/activities", status_code=201)
    async def log_activity(payload: ActivityIn, request: Request, caller: DeskStaff) -> dict[str, Any]:
        """Trainings of public servants, participation and cultural events, information materials."""
        state = request.app.state
        return await handle_log_activity(payload, store=state.store, municipality=state.settings.municipality,
                                         actor=caller.actor)

    @router.get("/categories")
    async def categories() -> dict[str, Any]:
        return {"categories": [{"code": c.code, "area": c.area.value if c.area else None, "label_pt": c.label_pt}
                               for c in CATEGORIES.values()]}

    @router.get("/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, request: Request, caller: DeskStaff) -> CaseOut:
        return await handle_get_case(case_id, store=request.app.state.store, actor=caller.actor)

    return router


def create_app(settings: IntakeSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.create(settings, outbox_collections=["cases", "activities"])
        # Every write with events tells the relay, so they go out at once.
        store = IntakeStore(rt.db, on_write=rt.written)
        await store.ensure_indexes()
        async with rt.serving(app, store):
            yield

    app: FastAPI

    async def readiness() -> dict[str, bool]:
        # The desk keeps working while Kafka is down (the outbox holds the events), so only the store counts.
        return {"store": (await app.state.runtime.readiness())["store"]}

    app = service_app(title="MigraDesk intake", settings=settings, lifespan=lifespan,
                      router=build_router(), readiness=readiness)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    return app
