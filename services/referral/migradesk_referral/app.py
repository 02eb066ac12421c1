"""Referral's composition root: consumers of case events, the outbox relay and the inbox API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from migradesk_referral.domain.referral import Command
from migradesk_referral.handlers import (
    OPEN_STATUS_VALUES,
    ReferralStore,
    flag_overdue,
    handle_case_event,
    handle_person_erased,
    handle_person_profile,
    handle_referral_action,
    person_for,
    referral_view,
    reroute_declined,
    visible_to,
)
from migradesk_referral.schemas import ReferralActionIn
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.errors import Forbidden, NotFound
from migradesk_shared.http import service_app
from migradesk_shared.kafka import Delivery
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import CASE_EVENTS, PERSON_PROFILES

# Who may work on referrals: the agency they are addressed to, and the desk.
Inbox = Annotated[Principal, Depends(requires(Role.AGENCY, Role.STAFF, Role.ADMIN))]
AnyRole = Annotated[Principal, Depends(requires(*Role))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/referrals")
    async def list_referrals(request: Request, caller: Inbox,
                             agency_id: Annotated[str | None, Query(max_length=100)] = None,
                             case_id: Annotated[str | None, Query(max_length=64)] = None,
                             status: Annotated[str | None, Query(max_length=40)] = None,
                             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        store: ReferralStore = request.app.state.store
        if caller.role is Role.AGENCY:
            # An agency sees only the referrals addressed to it.
            if agency_id and agency_id != caller.agency_id:
                raise Forbidden("an agency sees only its own referrals", field="agency_id")
            agency_id = caller.agency_id
        scope: dict[str, Any] = {"agency_id": agency_id} if agency_id else {}
        if case_id:
            # Equality on the case_id index: a case has a handful of referrals.
            docs = await store.referrals.find({**scope, "case_id": case_id, **({"status": status} if status else {})},
                                              {"outbox": 0}).to_list()
        else:
            # One equality query per status on the (agency_id, status) index, so listing an inbox reads its open
            # referrals, never the agency's whole history (closed ones are asked for by status).
            docs = []
            for wanted in [status] if status else OPEN_STATUS_VALUES:
                docs += await store.referrals.find({**scope, "status": wanted}, {"outbox": 0}) \
                    .sort("created_at", -1).limit(limit).to_list()
        docs = sorted(docs, key=lambda d: d["created_at"], reverse=True)[:limit]
        return {"referrals": [referral_view(d) for d in docs]}

    @router.get("/referrals/{referral_id}")
    async def get_referral(referral_id: str, request: Request, caller: Inbox) -> dict[str, Any]:
        """One referral, with the person's contact when they consented to sharing it with the network."""
        store: ReferralStore = request.app.state.store
        doc = await store.referrals.find_one({"_id": referral_id}, {"outbox": 0})
        if doc is None or not visible_to(caller, doc):
            raise NotFound(f"referral {referral_id} does not exist", field="referral_id")
        return {**referral_view(doc), "person": await person_for(store, doc["case_id"])}

    @router.post("/referrals/{referral_id}/actions")
    async def act_on_referral(referral_id: str, payload: ReferralActionIn, request: Request,
                              caller: Inbox) -> dict[str, Any]:
        state = request.app.state
        command = Command(action=payload.action, actor=caller.actor, at=datetime.now(UTC), reason=payload.reason,
                          outcome=payload.outcome, comment=payload.comment, scheduled_for=payload.scheduled_for)
        view = await handle_referral_action(referral_id, command, store=state.store,
                                            expected_version=payload.expected_version, caller=caller)
        if view["status"] == "declined":
            state.reroute_wake.set()
        return view

    @router.get("/agencies")
    async def list_agencies(request: Request, caller: AnyRole) -> dict[str, Any]:
        docs = await request.app.state.store.agencies.find({}).sort("_id", 1).to_list()
        return {"agencies": [{"agency_id": d.pop("_id"), **d} for d in docs]}

    return router


async def _every(seconds: float, job: Callable[[], Awaitable[None]], logger: Any,
                 wake: asyncio.Event | None = None) -> None:
    """Run a background job periodically (or when woken); a failing round is logged and retried."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("background job failed, will retry", job=getattr(job, "__name__", "job"), error=repr(exc))
        if wake is None:
            await asyncio.sleep(seconds)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds)
        wake.clear()


def create_app(settings: ReferralSettings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or ReferralSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.create(settings, outbox_collections=["referrals"])
        # Every write with events tells the relay, so they go out at once.
        store = ReferralStore(rt.db, on_write=rt.written)
        await store.ensure_indexes()
        if settings.seed_demo_agencies:
            await store.seed_demo_agencies()

        async def on_case_event(event: Any, delivery: Delivery) -> None:
            await handle_case_event(event, store=store)

        async def on_profile(event: Any, delivery: Delivery) -> None:
            await handle_person_profile(event, store=store)

        async def on_erasure(person_id: str, delivery: Delivery) -> None:
            await handle_person_erased(person_id, store=store)

        rt.subscribe(CASE_EVENTS, on_case_event)
        rt.subscribe(PERSON_PROFILES, on_profile, tombstone_handler=on_erasure)
        app.state.reroute_wake = asyncio.Event()

        async def reroute() -> None:
            await reroute_declined(store)

        async def check_sla() -> None:
            await flag_overdue(store, datetime.now(UTC))

        async def reconcile_load() -> None:
            await store.reconcile_load()

        async with rt.serving(app, store):
            loops = [asyncio.create_task(_every(settings.reroute_poll_seconds, reroute, rt.logger,
                                                app.state.reroute_wake)),
                     asyncio.create_task(_every(settings.sla_check_seconds, check_sla, rt.logger)),
                     asyncio.create_task(_every(settings.load_reconcile_seconds, reconcile_load, rt.logger))]
            try:
                yield
            finally:
                for task in loops:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    return service_app(title="MigraDesk referral", settings=settings, lifespan=lifespan,
                       router=build_router())
