"""What only the real store can prove about referral's repository: the documents other processes (and the API)
read keep their shape, and its conditional writes hold between processes. The use cases themselves are tested
in tests/service/referral, on the in-memory repository and on this store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from infra.local.stack import Infra
from migradesk_referral.adapters.mappers import demo_directory
from migradesk_referral.adapters.repository import MongoReferralRepository
from migradesk_referral.adapters.views import agency_view, referral_view
from migradesk_referral.domain.referral import IllegalTransition
from migradesk_referral.service import ActOnReferral, ReferralService
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.errors import Conflict
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import logged, profile, to_route, unique

pytestmark = [pytest.mark.infra]

REFERRAL_FIELDS = {"_id", "request_id", "routing_attempt", "case_id", "category", "service_area", "agency_id",
                   "declined_by", "status", "routing_reason", "language", "municipality", "facets", "correlation_id",
                   "created_at", "updated_at", "version", "response_due_at", "overdue", "reroute_pending", "history",
                   "response_due_hour", "outbox", "outbox_total", "outbox_sent", "outbox_pending", "outbox_at",
                   "request_logged_at"}
LIFECYCLE_FIELDS = {"outcome", "decline_reason", "scheduled_for"}


@pytest.fixture
async def clients(infra: Infra, namespace: str) -> AsyncIterator[list[AsyncMongoClient[dict[str, Any]]]]:
    """Two clients, as two processes of the service have."""
    opened: list[AsyncMongoClient[dict[str, Any]]] = [AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
                                                      for _ in range(2)]
    yield opened
    await opened[0].drop_database(f"{namespace}_referral")
    for client in opened:
        await client.close()


@pytest.fixture
async def stores(clients: list[AsyncMongoClient[dict[str, Any]]], namespace: str) -> list[MongoReferralRepository]:
    repositories = [MongoReferralRepository(client[f"{namespace}_referral"]) for client in clients]
    await repositories[0].prepare()
    await repositories[0].add_agencies(demo_directory())
    return repositories


def view_of_document(doc: dict[str, Any]) -> dict[str, Any]:
    """What the API showed before the service had a domain record: the document minus outbox and facets."""
    # response_due_hour is the escalation job's look-up key, request_logged_at what the first referral's event
    # tells metrics (dimension 1's time to referral): not something the API shows.
    view = {k: v for k, v in doc.items()
            if not k.startswith("outbox") and k not in {"_id", "facets", "response_due_hour", "request_logged_at"}}
    return {**view, "referral_id": doc["_id"]}


async def assert_view_is_the_document(store: MongoReferralRepository, referral_id: str) -> dict[str, Any]:
    doc = await store.referrals.find_one({"_id": referral_id})
    record = await store.get(referral_id)
    assert doc is not None and record is not None
    view = referral_view(record)
    assert view.pop("allowed_actions") is not None
    assert view == view_of_document(doc)
    return doc


async def test_referral_documents_keep_their_shape_and_the_api_shows_them(
        stores: list[MongoReferralRepository]) -> None:
    store = stores[0]
    service = ReferralService(store)
    rid = await service.route_logged_request(logged(ServiceArea.SOCIAL_ASSISTANCE, "cadunico"))
    assert rid is not None
    doc = await assert_view_is_the_document(store, rid)
    assert set(doc) == REFERRAL_FIELDS and doc["outbox_pending"] is True and doc["outbox_total"] == 2
    assert [e["event_type"] for e in doc["outbox"]] == ["ReferralCreated", "ReferralDispatched"]
    assert doc["history"] == [{"status": "pending", "action": None, "actor": "routing", "at": doc["created_at"],
                               "reason": None, "comment": doc["routing_reason"]}]

    await service.act(ActOnReferral(rid, Action.DECLINE, actor="cras", reason="no_capacity", comment="lotado"))
    doc = await assert_view_is_the_document(store, rid)
    assert set(doc) == REFERRAL_FIELDS | LIFECYCLE_FIELDS and doc["reroute_pending"] is True
    assert doc["history"][-1]["comment"] == "lotado" and doc["outbox_total"] == 3
    assert await service.reroute_declined() == 1
    doc = await assert_view_is_the_document(store, rid)
    assert set(doc) == REFERRAL_FIELDS | LIFECYCLE_FIELDS | {"rerouted_to"}

    protection = await service.route_logged_request(logged(ServiceArea.PROTECTION, "trafficking"))
    assert protection is not None
    assert await service.flag_overdue(datetime.now(UTC) + timedelta(days=2)) == 1
    doc = await assert_view_is_the_document(store, protection)
    assert set(doc) == REFERRAL_FIELDS | {"escalated_to", "notices"}

    everyone = tuple(a.agency_id for a in await store.directory())
    unroutable = await service.route(to_route(ServiceArea.WORK, "job_search", declined_by=everyone))
    assert unroutable is not None
    doc = await assert_view_is_the_document(store, unroutable)
    assert doc["agency_id"] is None and doc["status"] == "needs_manual_routing"


async def test_the_directory_and_the_shared_profiles_keep_their_shape(stores: list[MongoReferralRepository]) -> None:
    store = stores[0]
    packaged = json.loads(resources.files("migradesk_referral").joinpath("demo_agencies.json").read_text("utf-8"))
    docs = await store.agencies.find({}).sort("_id", 1).to_list()
    assert [{"agency_id": d.pop("_id"), **d} for d in docs] == sorted(
        ({**a, "open_referrals": 0} for a in packaged), key=lambda a: a["agency_id"])
    assert [agency_view(a) for a in await store.directory()] == [{"agency_id": d["_id"], **{
        k: v for k, v in d.items() if k != "_id"}} for d in await store.agencies.find({}).sort("_id", 1).to_list()]

    service = ReferralService(store)
    person_id, case_id = unique("person"), unique("case")
    event = profile(person_id, case_id)
    await service.keep_person_profile(event)
    assert await store.persons.find_one({"_id": person_id}) == {"_id": person_id, "profile": {
        "full_name": "María Gómez", "phone": "+5567999990000", "languages": ["es", "pt"],
        "birth_date": "1990-05-17", "updated_at": event.occurred_at.replace(
            microsecond=event.occurred_at.microsecond // 1000 * 1000)}}
    assert await store.case_persons.find_one({"_id": case_id}) == {"_id": case_id, "person_id": person_id}


async def test_two_processes_routing_one_request_store_one_referral(stores: list[MongoReferralRepository]) -> None:
    event = logged(ServiceArea.EDUCATION, "school_enrollment")
    results = await asyncio.gather(*(ReferralService(s).route_logged_request(event) for s in stores for _ in (1, 2)))
    assert len([r for r in results if r is not None]) == 1
    assert await stores[0].referrals.count_documents({"request_id": event.request_id}) == 1
    assert await stores[1].recount_open_referrals() == 0  # the counter was raised once


async def test_of_two_processes_stepping_at_once_exactly_one_applies(stores: list[MongoReferralRepository]) -> None:
    rid = await ReferralService(stores[0]).route_logged_request(logged(ServiceArea.WORK, "job_search"))
    assert rid is not None
    steps = [ActOnReferral(rid, Action.ACCEPT, actor="sine"),
             ActOnReferral(rid, Action.DECLINE, actor="sine", reason="no_capacity")]
    results = await asyncio.gather(*(ReferralService(s).act(c) for s, c in zip(stores, steps, strict=True)),
                                   return_exceptions=True)
    applied = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(applied) == 1 and len(refused) == 1
    assert isinstance(refused[0], Conflict | IllegalTransition)  # lost the write, or read the winner's state
    doc = await stores[0].referrals.find_one({"_id": rid})
    assert doc is not None and doc["version"] == 2 and len(doc["history"]) == 2 and doc["outbox_total"] == 3
