"""Intake's read model of referral's events: which status each event reports, and folding them in any order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migradesk_intake.domain.referral_status import (
    ReferralStatusView,
    apply_change,
    fold_changes,
    status_change,
)
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralAttended,
    ReferralCancelled,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
    ReferralNeedsManualRouting,
    ReferralNoShow,
    ReferralOverdue,
    ReferralReopened,
    ReferralScheduled,
    ReferralUnableToContact,
)
from migradesk_shared.contracts.vocabulary import DeclineReason, Outcome, ReferralStatus

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROUTED: dict[str, Any] = {"referral_id": "ref-1", "case_id": "case-1", "request_id": "req-1", "category": "sus_card",
                          "service_area": "health", "municipality": "Town", "producer": "referral"}
LIFE: dict[str, Any] = {"referral_id": "ref-1", "case_id": "case-1", "service_area": "health",
                        "agency_id": "ubs-1", "municipality": "Town", "referral_created_at": T0,
                        "producer": "referral"}


def facets() -> PersonFacets:
    return PersonFacets(age_band="30-39", sex="female", nationality="VEN", language="es",
                        migratory_status="solicitante_refugio")


def created(minutes: int = 0) -> ReferralCreated:
    return ReferralCreated(**ROUTED, agency_id="ubs-1", facets=facets(), occurred_at=T0 + timedelta(minutes=minutes))


def at(minutes: int) -> dict[str, Any]:
    return {**LIFE, "occurred_at": T0 + timedelta(minutes=minutes)}


@pytest.mark.parametrize(("event", "status"), [
    (ReferralAccepted(**at(1)), ReferralStatus.ACCEPTED),
    (ReferralDeclined(**at(1), reason=DeclineReason.NO_CAPACITY), ReferralStatus.DECLINED),
    (ReferralScheduled(**at(1), scheduled_for=T0 + timedelta(days=3)), ReferralStatus.SCHEDULED),
    (ReferralAttended(**at(1)), ReferralStatus.ATTENDED),
    (ReferralNoShow(**at(1)), ReferralStatus.NO_SHOW),
    (ReferralCompleted(**at(1), outcome=Outcome.GOT_HELP), ReferralStatus.COMPLETED),
    (ReferralCancelled(**at(1)), ReferralStatus.CANCELLED),
    (ReferralUnableToContact(**at(1)), ReferralStatus.UNABLE_TO_CONTACT),
    (ReferralReopened(**at(1), reopened_to=ReferralStatus.SCHEDULED), ReferralStatus.SCHEDULED),
])
def test_each_lifecycle_event_reports_the_status_it_leaves(event: Event, status: ReferralStatus) -> None:
    change = status_change(event)
    assert change is not None
    assert (change.referral_id, change.case_id, change.status, change.at, change.agency_id, change.request_id) == (
        "ref-1", "case-1", status, T0 + timedelta(minutes=1), "ubs-1", None)


def test_a_created_referral_is_pending_and_names_its_request() -> None:
    change = status_change(created())
    assert change is not None
    assert (change.status, change.request_id, change.agency_id, change.service_area) == (
        ReferralStatus.PENDING, "req-1", "ubs-1", "health")


def test_a_referral_no_agency_could_take_needs_manual_routing() -> None:
    change = status_change(ReferralNeedsManualRouting(**ROUTED, reason="no agency serves the area", occurred_at=T0))
    assert change is not None
    assert (change.status, change.agency_id, change.request_id) == (
        ReferralStatus.NEEDS_MANUAL_ROUTING, None, "req-1")




def journey() -> list[Event]:
    return [created(0), ReferralAccepted(**at(1)), ReferralScheduled(**at(2), scheduled_for=T0 + timedelta(days=1)),
            ReferralAttended(**at(3)), ReferralCompleted(**at(4), outcome=Outcome.GOT_HELP)]


def fold(events: list[Event], held: dict[str, ReferralStatusView] | None = None) -> ReferralStatusView:
    changes = [c for e in events if (c := status_change(e)) is not None]
    return {**(held or {}), **fold_changes(held or {}, changes)}["ref-1"]


def test_the_newest_event_wins_whatever_order_they_come_in() -> None:
    outcomes = {fold(list(order)) for order in itertools.permutations(journey())}
    [view] = outcomes
    assert (view.status, view.status_at, view.request_id, view.agency_id) == (
        ReferralStatus.COMPLETED, T0 + timedelta(minutes=4), "req-1", "ubs-1")


def test_an_older_event_never_overwrites_a_newer_status_but_fills_in_the_request() -> None:
    accepted = fold([ReferralAccepted(**at(1))])
    assert accepted.request_id is None  # the lifecycle events do not name the request
    late_creation = status_change(created(0))
    assert late_creation is not None
    after = apply_change(accepted, late_creation)
    assert (after.status, after.request_id, after.status_at) == (ReferralStatus.ACCEPTED, "req-1", accepted.status_at)


def test_a_redelivered_event_changes_nothing() -> None:
    events = journey()
    held = {"ref-1": fold(events)}
    changes = [c for e in events if (c := status_change(e)) is not None]
    assert fold_changes(held, changes) == {}


def overdue(minutes: int) -> ReferralOverdue:
    return ReferralOverdue(**at(minutes), deadline=T0 + timedelta(minutes=minutes - 1))


def test_an_overdue_flag_keeps_the_status_and_holds_until_the_next_change_whatever_the_order() -> None:
    events: list[Event] = [created(0), ReferralAccepted(**at(1)), overdue(2)]
    for order in itertools.permutations(events):
        view = fold(list(order))
        assert (view.status, view.request_id, view.agency_id, view.overdue) == (
            ReferralStatus.ACCEPTED, "req-1", "ubs-1", True)
    # Scheduled after the flag: no longer overdue, whatever order the four came in.
    later = [*events, ReferralScheduled(**at(3), scheduled_for=T0 + timedelta(days=1))]
    assert {(fold(list(order)).status, fold(list(order)).overdue) for order in itertools.permutations(later)} == {
        (ReferralStatus.SCHEDULED, False)}
    # Flagged again later: overdue again.
    assert fold([*later, overdue(5)]).overdue
