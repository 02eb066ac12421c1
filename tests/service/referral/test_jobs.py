"""The periodic jobs: re-routing declined referrals, escalating unanswered ones, recounting agencies' loads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migradesk_referral.adapters import mappers
from migradesk_referral.domain.record import escalated
from migradesk_referral.domain.referral import IllegalTransition
from migradesk_referral.service import ReferralService, RouteRequest
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import Repository, agency, drift, open_referrals, routed, step

SOCIAL, PROTECTION = ServiceArea.SOCIAL_ASSISTANCE, ServiceArea.PROTECTION


async def test_declines_walk_the_eligible_agencies_then_need_manual_routing(
        service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, SOCIAL, "cadunico")
    seen = []
    for _ in range(2):
        referral = await repository.get(rid)
        assert referral is not None and referral.agency_id is not None
        seen.append(referral.agency_id)
        await service.act(step(rid, Action.DECLINE, by=agency(referral.agency_id), reason="no_capacity"))
        assert await service.reroute_declined() == 1
        assert await service.reroute_declined() == 0  # once
        declined = await repository.get(rid)
        assert declined is not None and declined.rerouted_to is not None and not declined.reroute_pending
        next_one = await repository.get(declined.rerouted_to)
        assert next_one is not None
        assert (next_one.attempt, next_one.declined_by) == (declined.attempt + 1, (*declined.declined_by, seen[-1]))
        assert (await repository.stored_events(next_one.referral_id))[0].payload["causation_id"] == rid
        rid = next_one.referral_id
    assert len(set(seen)) == 2  # the two CRAS
    last = await repository.get(rid)
    assert last is not None and last.status.value == "needs_manual_routing"
    assert "every active agency serving social_assistance has declined" in last.routing_reason
    with pytest.raises(IllegalTransition, match="route it manually first"):
        await service.act(step(rid, Action.ACCEPT))
    assert len(await repository.for_case(last.case_id)) == 3


async def test_rerouting_after_a_crash_between_its_two_writes_repeats_nothing(
        service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, SOCIAL, "cadunico")
    await service.act(step(rid, Action.DECLINE, reason="out_of_territory"))
    [declined] = await repository.awaiting_reroute(10)
    # The next attempt was stored, but the process died before marking the declined one.
    first_try = await service.route(RouteRequest(declined.request, causation_id=rid, attempt=2,
                                                 declined_by=(declined.agency_id or "",)))
    assert first_try is not None
    assert await service.reroute_declined() == 1
    declined_now = await repository.get(rid)
    assert declined_now is not None and declined_now.rerouted_to == first_try
    assert len(await repository.for_case(declined.case_id)) == 2


async def test_an_unanswered_protection_referral_is_escalated_once_after_a_day(
        service: ReferralService, repository: Repository, relayed: list[tuple[str, Any]]) -> None:
    rid = await routed(service, PROTECTION, "gender_violence")
    now = datetime.now(UTC)
    relayed.clear()
    assert await service.flag_overdue(now + timedelta(hours=23)) == 0
    assert await service.flag_overdue(now + timedelta(hours=25)) == 1
    assert await service.flag_overdue(now + timedelta(hours=26)) == 0  # once, not every check
    referral = await repository.get(rid)
    assert referral is not None and referral.overdue and referral.escalated_to == "coordinator"
    assert referral.version == 1  # an escalation is no step of the agency's: their version stays valid
    event = (await repository.stored_events(rid))[-1]
    assert (event.event_type, event.payload["escalated_to"], event.payload["actor_role"]) == (
        "ReferralOverdue", "coordinator", "system")
    assert datetime.fromisoformat(event.payload["deadline"]) == referral.response_due_at
    assert relayed == [("referrals", rid)]


async def test_an_accepted_referral_is_never_overdue(service: ReferralService) -> None:
    rid = await routed(service, PROTECTION, "trafficking")
    await service.act(step(rid, Action.ACCEPT, expected_version=1))
    assert await service.flag_overdue(datetime.now(UTC) + timedelta(days=3)) == 0


async def test_an_escalation_read_before_a_step_is_not_stored(service: ReferralService,
                                                              repository: Repository) -> None:
    rid = await routed(service, PROTECTION, "trafficking")
    later = datetime.now(UTC) + timedelta(days=2)
    [read] = await repository.unanswered_past_deadline(later, 10)
    await service.act(step(rid, Action.ACCEPT))  # meanwhile, in another process
    found = escalated(read, later)
    assert found is not None
    escalation, deadline = found
    assert not await repository.mark_overdue(escalation, mappers.overdue_events(escalation, deadline, later))
    stored = await repository.get(rid)
    assert stored is not None and not stored.overdue
    assert "ReferralOverdue" not in [e.event_type for e in await repository.stored_events(rid)]


async def test_drifted_load_counters_are_recounted(service: ReferralService, repository: Repository) -> None:
    await routed(service, ServiceArea.EDUCATION, "school_enrollment")
    assert await service.reconcile_load() == 0
    await drift(repository, "semed-matriculas", 7)
    await drift(repository, "sine-dourados", -1)
    assert await service.reconcile_load() == 2
    assert await open_referrals(repository, "semed-matriculas") == 1
    assert await open_referrals(repository, "sine-dourados") == 0
    assert await service.reconcile_load() == 0


async def test_a_first_referral_carries_when_its_request_was_logged_and_a_reroute_does_not(
        service: ReferralService, repository: Repository) -> None:
    """Dimension 1 times the request at the desk to its first referral: the ReferralCreated of the first attempt
    carries the RequestLogged's time (kept with the referral, so a referral read back keeps it too)."""
    from tests.service.referral.helpers import logged

    event = logged(SOCIAL, "cadunico")
    # Whole milliseconds: what the store keeps of a time.
    event = event.model_copy(update={"occurred_at": datetime(2026, 11, 16, 9, 30, 15, 123000, tzinfo=UTC)})
    rid = await service.route_logged_request(event)
    assert rid is not None
    first = await repository.get(rid)
    assert first is not None and first.request.logged_at == event.occurred_at
    created = (await repository.stored_events(rid))[0]
    assert created.event_type == "ReferralCreated"
    assert datetime.fromisoformat(created.payload["request_logged_at"]) == event.occurred_at
    assert first.agency_id is not None
    await service.act(step(rid, Action.DECLINE, by=agency(first.agency_id), reason="no_capacity"))
    assert await service.reroute_declined() == 1
    declined = await repository.get(rid)
    assert declined is not None and declined.rerouted_to is not None
    rerouted = (await repository.stored_events(declined.rerouted_to))[0]
    assert rerouted.event_type == "ReferralCreated" and rerouted.payload.get("request_logged_at") is None
