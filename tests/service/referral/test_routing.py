"""Routing a logged request: the referral and its events stored together, once, at the right agency."""

from __future__ import annotations

from typing import Any

from migradesk_referral.adapters.views import referral_view
from migradesk_referral.service import ReferralService
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import (
    REFERRAL_TOPIC,
    Repository,
    dispatch_topic,
    logged,
    open_referrals,
    routed,
    to_route,
)

HEALTH, SOCIAL = ServiceArea.HEALTH, ServiceArea.SOCIAL_ASSISTANCE


async def test_a_logged_request_becomes_a_pending_referral_with_its_events(
        service: ReferralService, repository: Repository, relayed: list[tuple[str, Any]]) -> None:
    event = logged(HEALTH, "sus_card", language="es")
    rid = await service.route_logged_request(event)
    assert rid is not None
    referral = await repository.get(rid)
    assert referral is not None
    # Of the two UBS, the one speaking the person's language.
    assert (referral.status.value, referral.agency_id, referral.version) == ("pending", "ubs-jardim-climax", 1)
    assert (referral.case_id, referral.request.request_id, referral.attempt) == (event.case_id, event.request_id, 1)
    assert referral.response_due_at > referral.created_at
    created, dispatched = await repository.stored_events(rid)
    assert (created.topic, created.event_type) == (REFERRAL_TOPIC, "ReferralCreated")
    assert (dispatched.topic, dispatched.event_type) == (dispatch_topic(HEALTH), "ReferralDispatched")
    assert created.payload["causation_id"] == event.event_id
    assert created.payload["correlation_id"] == event.case_id
    assert created.payload["agency_id"] == "ubs-jardim-climax"
    assert created.payload["facets"]["language"] == "es"
    assert dispatched.payload["preferred_language"] == "es"
    assert "full_name" not in created.payload  # de-identified
    assert ("referrals", rid) in relayed  # the relay publishes them at once
    assert await open_referrals(repository, "ubs-jardim-climax") == 1


async def test_a_redelivered_request_changes_nothing(service: ReferralService, repository: Repository) -> None:
    event = logged(ServiceArea.EDUCATION, "school_enrollment")
    rid = await service.route_logged_request(event)
    assert rid is not None
    assert await service.route_logged_request(event) is None
    assert [r.referral_id for r in await repository.for_case(event.case_id)] == [rid]
    assert len(await repository.stored_events(rid)) == 2
    assert await open_referrals(repository, "semed-matriculas") == 1  # counted once


async def test_a_request_resolved_at_the_desk_is_not_referred(service: ReferralService,
                                                              repository: Repository) -> None:
    event = logged(None, "documentation")
    assert await service.route_logged_request(event) is None
    assert await repository.for_case(event.case_id) == []


async def test_routing_balances_load_between_agencies_speaking_the_language(
        service: ReferralService, repository: Repository) -> None:
    first = await repository.get(await routed(service, SOCIAL, "cadunico", language="pt"))
    second = await repository.get(await routed(service, SOCIAL, "cadunico", language="pt"))
    assert first is not None and second is not None
    # Both speak Portuguese: the first goes to the first by id, the second to the one with fewer open referrals.
    assert (first.agency_id, second.agency_id) == ("cras-canaa", "cras-jardim-carisma")
    assert second.routing_reason.endswith("0 open referrals")


async def test_an_agency_taking_only_some_categories_gets_only_those(service: ReferralService,
                                                                    repository: Repository) -> None:
    # The CAPS takes mental health; it is first by id among the Spanish-speaking ones.
    caps = await repository.get(await routed(service, HEALTH, "mental_health"))
    ubs = await repository.get(await routed(service, HEALTH, "sus_card", language="pt"))
    assert caps is not None and caps.agency_id == "caps-ii-dourados"
    assert ubs is not None and ubs.agency_id != "caps-ii-dourados"


async def test_without_an_eligible_agency_the_referral_waits_for_manual_routing(
        service: ReferralService, repository: Repository, relayed: list[tuple[str, Any]]) -> None:
    before = {a.agency_id: a.open_referrals for a in await repository.directory()}
    command = to_route(ServiceArea.WORK, "job_search", declined_by=("sine-dourados", "sala-empreendedor"))
    rid = await service.route(command)
    assert rid is not None
    referral = await repository.get(rid)
    assert referral is not None
    assert (referral.status.value, referral.agency_id) == ("needs_manual_routing", None)
    assert "every active agency serving work has declined" in referral.routing_reason
    [event] = await repository.stored_events(rid)
    assert (event.topic, event.event_type) == (REFERRAL_TOPIC, "ReferralNeedsManualRouting")
    assert event.payload["reason"] == referral.routing_reason
    assert ("referrals", rid) in relayed
    assert referral_view(referral)["allowed_actions"] == []
    assert {a.agency_id: a.open_referrals for a in await repository.directory()} == before


async def test_a_batch_of_logged_requests_is_routed_as_one_by_one_and_once(
        service: ReferralService, repository: Repository, relayed: list[tuple[str, Any]]) -> None:
    """The consumer routes a whole batch in one store command: the same referrals, load balanced within the
    batch, and a redelivered batch (or a request already routed on its own) stores nothing twice."""
    alone = logged(ServiceArea.EDUCATION, "school_enrolment")
    first_alone = await service.route_logged_request(alone)
    batch = [logged(SOCIAL, "cadunico", language="pt"), logged(SOCIAL, "cadunico", language="pt"),
             logged(None, "documentation"), alone, logged(HEALTH, "sus_card")]
    stored = await service.route_logged_requests(batch)
    assert len(stored) == 3  # not the desk's own request, not the one routed before
    social = [await repository.for_case(e.case_id) for e in batch[:2]]
    assert sorted(r.agency_id for [r] in social) == ["cras-canaa", "cras-jardim-carisma"]  # balanced in the batch
    assert await repository.for_case(batch[2].case_id) == []
    assert [r.referral_id for r in await repository.for_case(alone.case_id)] == [first_alone]
    for referral_id in stored:
        assert [e.event_type for e in await repository.stored_events(referral_id)] == \
            ["ReferralCreated", "ReferralDispatched"]
        assert ("referrals", referral_id) in relayed
    assert await open_referrals(repository, "cras-canaa") == 1
    assert await service.route_logged_requests(batch) == []  # redelivered: nothing new
    assert await open_referrals(repository, "cras-canaa") == 1
