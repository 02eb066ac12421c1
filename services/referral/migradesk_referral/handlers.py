"""Referral's service layer: route a logged request to an agency and store the referral with its events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_shared.contracts.case_events import CaseOpened, RequestLogged
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.referral_events import (
    ReferralCreated,
    ReferralDispatched,
    ReferralNeedsManualRouting,
)
from migradesk_shared.domain.referral import OPEN_STATUSES, ReferralStatus
from migradesk_shared.domain.routing import AgencyCandidate, choose_agency
from migradesk_shared.outbox import new_document_outbox
from migradesk_shared.topics import DISPATCH, REFERRAL_EVENTS, ServiceArea, TopicSpec

log = structlog.get_logger("migradesk.referral")

class ReferralStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.agencies = db["agencies"]
        self.referrals = db["referrals"]

    async def ensure_indexes(self) -> None:
        # One first-routing referral per request: a redelivered RequestLogged cannot create a twin.
        await self.referrals.create_index([("request_id", 1), ("routing_attempt", 1)], unique=True)
        await self.referrals.create_index([("agency_id", 1), ("status", 1)])

    async def seed_demo_agencies(self) -> int:
        data = json.loads(resources.files("migradesk_referral").joinpath("demo_agencies.json").read_text("utf-8"))
        for agency in data:
            await self.agencies.find_one_and_update(
                {"_id": agency["agency_id"]},
                {"$setOnInsert": {k: v for k, v in agency.items() if k != "agency_id"}},
                upsert=True, return_document=ReturnDocument.AFTER)
        return len(data)

    async def candidates(self, area: ServiceArea) -> list[AgencyCandidate]:
        result = []
        async for agency in self.agencies.find({"areas": area.value, "active": True}):
            open_count = await self.referrals.count_documents(
                {"agency_id": agency["_id"], "status": {"$in": sorted(s.value for s in OPEN_STATUSES)}})
            result.append(AgencyCandidate(agency_id=agency["_id"], areas=frozenset(ServiceArea(a) for a in
                                                                                   agency["areas"]),
                                          languages=frozenset(agency.get("languages", [])),
                                          active=agency.get("active", True), open_referrals=open_count,
                                          categories=frozenset(agency["categories"]) if agency.get("categories")
                                          else None))
        return result


def _referral_id(request_id: str, attempt: int) -> str:
    # Deterministic, so a replayed event maps onto the same referral.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"migradesk:referral:{request_id}:{attempt}"))


async def handle_request_logged(event: RequestLogged, *, store: ReferralStore, producer: str = "referral") -> None:
    if event.service_area is None:
        return  # resolved at the desk itself; nothing to refer
    area = event.service_area
    decision = choose_agency(area, event.facets.language, await store.candidates(area), category=event.category)
    referral_id = _referral_id(event.request_id, 1)
    now = datetime.now(UTC)
    common: dict[str, Any] = {"producer": producer, "correlation_id": event.correlation_id or event.case_id,
                              "causation_id": event.event_id, "occurred_at": now}
    events: list[tuple[TopicSpec, Event]]
    if decision.agency_id is None:
        status = ReferralStatus.NEEDS_MANUAL_ROUTING
        events = [(REFERRAL_EVENTS, ReferralNeedsManualRouting(
            **common, referral_id=referral_id, case_id=event.case_id, request_id=event.request_id,
            category=event.category, service_area=area, reason=decision.reason, municipality=event.municipality))]
    else:
        status = ReferralStatus.PENDING
        events = [
            (REFERRAL_EVENTS, ReferralCreated(
                **common, referral_id=referral_id, case_id=event.case_id, request_id=event.request_id,
                category=event.category, service_area=area, agency_id=decision.agency_id,
                municipality=event.municipality, facets=event.facets)),
            (DISPATCH[area], ReferralDispatched(
                **common, referral_id=referral_id, case_id=event.case_id, request_id=event.request_id,
                category=event.category, service_area=area, agency_id=decision.agency_id,
                preferred_language=event.facets.language)),
        ]
    doc = {
        "_id": referral_id, "request_id": event.request_id, "routing_attempt": 1, "case_id": event.case_id,
        "category": event.category, "service_area": area.value, "agency_id": decision.agency_id,
        "status": status.value, "routing_reason": decision.reason, "language": event.facets.language,
        "created_at": now, "updated_at": now, "version": 1,
        "history": [{"status": status.value, "at": now, "by": "routing", "comment": decision.reason}],
        **new_document_outbox(events),
    }
    try:
        await store.referrals.insert_one(doc)
    except DuplicateKeyError:
        log.info("referral already exists for request", request_id=event.request_id, referral_id=referral_id)
        return
    log.info("referral created", referral_id=referral_id, case_id=event.case_id, agency_id=decision.agency_id,
             status=status)


async def handle_case_event(event: CaseOpened | RequestLogged, *, store: ReferralStore) -> None:
    if isinstance(event, RequestLogged):
        await handle_request_logged(event, store=store)


def referral_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("outbox") and k != "_id"} | {"referral_id": doc["_id"]}
