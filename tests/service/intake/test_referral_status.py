"""Intake's read model of referral's events, over the in-memory repository and the real store: a batch is
recorded, a redelivery is harmless and an older event never overwrites a newer status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.service import IntakeService
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralCreated,
    ReferralNeedsManualRouting,
    ReferralOverdue,
    ReferralScheduled,
)
from migradesk_shared.contracts.vocabulary import ReferralStatus

# Whole milliseconds: the store keeps no finer time.
T0 = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)
FACETS = PersonFacets(age_band="30-39", sex="female", nationality="VEN", language="es",
                      migratory_status="solicitante_refugio")


def created(referral_id: str, case_id: str, request_id: str, minutes: int = 0) -> ReferralCreated:
    return ReferralCreated(referral_id=referral_id, case_id=case_id, request_id=request_id, category="sus_card",
                           service_area="health", agency_id="ubs-1", municipality="Town", facets=FACETS,
                           producer="referral", occurred_at=T0 + timedelta(minutes=minutes))


def life(referral_id: str, case_id: str, minutes: int) -> dict[str, Any]:
    return {"referral_id": referral_id, "case_id": case_id, "service_area": "health", "agency_id": "ubs-1",
            "municipality": "Town", "referral_created_at": T0, "producer": "referral",
            "occurred_at": T0 + timedelta(minutes=minutes)}


def statuses(found: list[Any]) -> dict[str, tuple[str | None, str | None, ReferralStatus, datetime]]:
    return {v.referral_id: (v.request_id, v.agency_id, v.status, v.status_at) for v in found}


async def test_a_batch_is_recorded_as_each_referrals_status(service: IntakeService) -> None:
    batch: list[Event] = [
        created("ref-1", "case-1", "req-1"), ReferralAccepted(**life("ref-1", "case-1", 5)),
        ReferralNeedsManualRouting(referral_id="ref-2", case_id="case-1", request_id="req-2", category="cadunico",
                                   service_area="social_assistance", reason="no agency", municipality="Town",
                                   producer="referral", occurred_at=T0),
        created("ref-3", "case-2", "req-3"),
    ]
    assert await service.record_referral_events(batch) == 3
    assert statuses(await service.referral_statuses("case-1")) == {
        "ref-1": ("req-1", "ubs-1", ReferralStatus.ACCEPTED, T0 + timedelta(minutes=5)),
        "ref-2": ("req-2", None, ReferralStatus.NEEDS_MANUAL_ROUTING, T0)}
    assert [v.referral_id for v in await service.referral_statuses("case-2")] == ["ref-3"]
    assert await service.referral_statuses("no-such-case") == []


async def test_a_redelivered_batch_changes_nothing(service: IntakeService, repository: IntakeRepository) -> None:
    batch: list[Event] = [created("ref-1", "case-1", "req-1"), ReferralAccepted(**life("ref-1", "case-1", 5))]
    assert await service.record_referral_events(batch) == 1
    before = await repository.referral_statuses_by_id(["ref-1"])
    assert await service.record_referral_events(batch) == 0
    assert await service.record_referral_events(batch[1:]) == 0
    assert await repository.referral_statuses_by_id(["ref-1"]) == before


async def test_an_older_event_never_overwrites_a_newer_status(service: IntakeService) -> None:
    scheduled = ReferralScheduled(**life("ref-1", "case-1", 10), scheduled_for=T0 + timedelta(days=2))
    assert await service.record_referral_events([scheduled]) == 1
    # Older events arriving later: only the request they name is learnt.
    assert await service.record_referral_events([ReferralAccepted(**life("ref-1", "case-1", 5))]) == 0
    assert await service.record_referral_events([created("ref-1", "case-1", "req-1")]) == 1
    assert statuses(await service.referral_statuses("case-1")) == {
        "ref-1": ("req-1", "ubs-1", ReferralStatus.SCHEDULED, T0 + timedelta(minutes=10))}
    # An overdue flag is no status of its own: the status stays, flagged, and a redelivery changes nothing.
    overdue = ReferralOverdue(**life("ref-1", "case-1", 60), deadline=T0 + timedelta(minutes=30))
    assert await service.record_referral_events([overdue]) == 1
    assert await service.record_referral_events([overdue]) == 0
    [flagged] = await service.referral_statuses("case-1")
    assert (flagged.status, flagged.status_at, flagged.overdue) == (
        ReferralStatus.SCHEDULED, T0 + timedelta(minutes=10), True)
