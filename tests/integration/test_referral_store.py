"""Referral rules that need the store: SLA escalation and re-routing, on the real MongoDB-compatible store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from infra.launcher import Infra
from migradesk_referral.domain.referral import Command, IllegalTransition
from migradesk_referral.handlers import (
    ReferralStore,
    RoutingInput,
    flag_overdue,
    handle_referral_action,
    reroute_declined,
    route_request,
)
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.topics import ServiceArea

pytestmark = [pytest.mark.infra]


@pytest.fixture
async def store(infra: Infra, namespace: str) -> AsyncIterator[ReferralStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    referral_store = ReferralStore(client[f"{namespace}_referral"])
    await referral_store.ensure_indexes()
    await referral_store.seed_demo_agencies()
    yield referral_store
    await client.drop_database(f"{namespace}_referral")
    await client.close()


def request(area: ServiceArea, category: str, request_id: str = "req-1") -> RoutingInput:
    return RoutingInput(case_id="case-1", request_id=request_id, category=category, area=area,
                        municipality="Dourados-MS", facets=PersonFacets(language="es"), correlation_id="case-1",
                        causation_id="evt-1")


async def test_an_unanswered_protection_referral_is_escalated_once_after_a_day(store: ReferralStore) -> None:
    rid = await route_request(request(ServiceArea.PROTECTION, "gender_violence"), store=store)
    assert rid is not None
    assert await route_request(request(ServiceArea.PROTECTION, "gender_violence"), store=store) is None  # replay
    now = datetime.now(UTC)
    assert await flag_overdue(store, now + timedelta(hours=23)) == 0
    assert await flag_overdue(store, now + timedelta(hours=25)) == 1
    assert await flag_overdue(store, now + timedelta(hours=26)) == 0  # once, not every check
    doc = await store.referrals.find_one({"_id": rid})
    assert doc is not None and doc["overdue"] is True and doc["escalated_to"] == "coordinator"
    assert [e["event_type"] for e in doc["outbox"]][-1] == "ReferralOverdue"
    assert doc["outbox_pending"] is True


async def test_an_accepted_referral_is_never_overdue(store: ReferralStore) -> None:
    rid = await route_request(request(ServiceArea.PROTECTION, "trafficking", "req-2"), store=store)
    assert rid is not None
    await handle_referral_action(rid, Command(Action.ACCEPT, "creas", datetime.now(UTC)), store=store,
                                 expected_version=1)
    assert await flag_overdue(store, datetime.now(UTC) + timedelta(days=3)) == 0


async def test_declines_walk_the_eligible_agencies_then_need_manual_routing(store: ReferralStore) -> None:
    # Two CRAS serve social assistance in the demo directory.
    rid = await route_request(request(ServiceArea.SOCIAL_ASSISTANCE, "cadunico", "req-3"), store=store)
    seen = []
    for _ in range(2):
        assert rid is not None
        doc = await store.referrals.find_one({"_id": rid})
        assert doc is not None
        seen.append(doc["agency_id"])
        await handle_referral_action(rid, Command(Action.DECLINE, "cras", datetime.now(UTC), reason="no_capacity"),
                                     store=store, expected_version=None)
        assert await reroute_declined(store) == 1
        assert await reroute_declined(store) == 0
        rid = (await store.referrals.find_one({"_id": rid}))["rerouted_to"]  # type: ignore[index]
    assert len(set(seen)) == 2
    last = await store.referrals.find_one({"_id": rid})
    assert last is not None and last["status"] == "needs_manual_routing"
    assert "every active agency serving social_assistance has declined" in last["routing_reason"]
    with pytest.raises(IllegalTransition, match="route it manually first"):
        await handle_referral_action(rid, Command(Action.ACCEPT, "x", datetime.now(UTC)), store=store,
                                     expected_version=None)
