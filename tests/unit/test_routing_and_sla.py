from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migradesk_referral.domain.routing import AgencyCandidate, choose_agency
from migradesk_referral.domain.sla import DEFAULT_RESPONSE_SLA, check_response_sla
from migradesk_shared.contracts.categories import CATEGORIES, UnknownCategory, area_of
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea

H, P = ServiceArea.HEALTH, ServiceArea.PROTECTION


def agency(agency_id: str, *, areas: tuple[ServiceArea, ...] = (H,), languages: tuple[str, ...] = ("pt",),
           active: bool = True, open_referrals: int = 0, categories: tuple[str, ...] | None = None) -> AgencyCandidate:
    return AgencyCandidate(agency_id, frozenset(areas), frozenset(languages), active, open_referrals,
                           frozenset(categories) if categories else None)


def test_every_design_category_maps_to_its_area_and_desk_categories_to_none() -> None:
    assert area_of("sus_card") is H
    assert area_of("school_enrolment") is ServiceArea.EDUCATION
    assert area_of("cadunico") is ServiceArea.SOCIAL_ASSISTANCE
    assert area_of("ctps_digital") is ServiceArea.WORK
    assert area_of("trafficking") is P
    assert area_of("documentation") is None and area_of("legal_orientation") is None
    assert {c.area for c in CATEGORIES.values()} == {*ServiceArea, None}
    with pytest.raises(UnknownCategory, match="unknown request category 'x'"):
        area_of("x")


def test_prefers_an_agency_that_speaks_the_language_over_a_less_busy_one() -> None:
    decision = choose_agency(H, "es", [agency("a", open_referrals=0), agency("b", languages=("pt", "es"),
                                                                           open_referrals=9)])
    assert decision.agency_id == "b"
    assert "speaks es" in decision.reason


def test_among_equals_picks_the_fewest_open_referrals() -> None:
    decision = choose_agency(H, "ht", [agency("a", open_referrals=5), agency("b", open_referrals=2)])
    assert decision.agency_id == "b"


def test_language_match_ignores_region_subtags() -> None:
    assert choose_agency(H, "es-VE", [agency("a"), agency("b", languages=("es",))]).agency_id == "b"


def test_never_an_inactive_agency_one_of_another_area_or_one_that_declined() -> None:
    agencies = [agency("inactive", active=False), agency("other", areas=(P,)), agency("declined"),
                agency("ok", open_referrals=50)]
    assert choose_agency(H, "pt", agencies, declined_by={"declined"}).agency_id == "ok"


def test_category_restricted_agencies_only_get_their_categories() -> None:
    caps = agency("caps", languages=("es",), categories=("mental_health",))
    ubs = agency("ubs")
    assert choose_agency(H, "es", [caps, ubs], category="sus_card").agency_id == "ubs"
    assert choose_agency(H, "es", [caps, ubs], category="mental_health").agency_id == "caps"


def test_none_eligible_needs_manual_routing_and_says_why() -> None:
    nobody = choose_agency(P, "pt", [agency("a")])
    assert nobody.needs_manual_routing and "no active agency serves protection" in nobody.reason
    all_declined = choose_agency(H, "pt", [agency("a")], declined_by={"a"})
    assert all_declined.needs_manual_routing and "has declined" in all_declined.reason


def test_protection_is_the_most_urgent_area() -> None:
    assert DEFAULT_RESPONSE_SLA[P] == min(DEFAULT_RESPONSE_SLA.values())
    assert set(DEFAULT_RESPONSE_SLA) == set(ServiceArea)


def test_a_pending_referral_past_its_deadline_is_overdue_and_an_answered_one_is_not() -> None:
    created = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    just_before = check_response_sla(P, ReferralStatus.PENDING, created, created + timedelta(hours=23, minutes=59))
    assert not just_before.overdue and just_before.deadline == created + timedelta(hours=24)
    late = check_response_sla(P, ReferralStatus.PENDING, created, created + timedelta(hours=30))
    assert late.overdue and late.overdue_by == timedelta(hours=6)
    answered = check_response_sla(P, ReferralStatus.ACCEPTED, created, created + timedelta(hours=30))
    assert not answered.overdue
    health = check_response_sla(H, ReferralStatus.PENDING, created, created + timedelta(hours=30))
    assert not health.overdue
