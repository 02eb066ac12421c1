"""Builders shared by the referral service tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TypeAlias

from migradesk_referral.adapters.memory import InMemoryReferralRepository
from migradesk_referral.adapters.repository import MongoReferralRepository
from migradesk_referral.domain.record import RequestToRoute
from migradesk_referral.service import ActOnReferral, ReferralService, RouteRequest
from migradesk_shared.auth import Principal, Role
from migradesk_shared.contracts.case_events import PersonFacets, RequestLogged
from migradesk_shared.contracts.person_profiles import ConsentRecord, PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.topics import DISPATCH, REFERRAL_EVENTS, ServiceArea

# Both backends, as the tests use them (the repository's protocol, plus a look at the events stored).
Repository: TypeAlias = MongoReferralRepository | InMemoryReferralRepository

REFERRAL_TOPIC = REFERRAL_EVENTS.name
STAFF = Principal("ana", Role.STAFF)


def dispatch_topic(area: ServiceArea) -> str:
    return DISPATCH[area].name


def agency(agency_id: str) -> Principal:
    return Principal("joana", Role.AGENCY, agency_id=agency_id)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def logged(area: ServiceArea | None, category: str, *, language: str = "es", case_id: str | None = None,
           request_id: str | None = None) -> RequestLogged:
    case_id = case_id or unique("case")
    return RequestLogged(producer="intake", case_id=case_id, request_id=request_id or unique("req"),
                         category=category, service_area=area, municipality="Dourados-MS",
                         facets=PersonFacets(language=language), correlation_id=case_id)


def to_route(area: ServiceArea, category: str, *, language: str = "es", case_id: str | None = None,
             declined_by: tuple[str, ...] = ()) -> RouteRequest:
    case_id = case_id or unique("case")
    request = RequestToRoute(case_id=case_id, request_id=unique("req"), category=category, area=area,
                             municipality="Dourados-MS", facets=PersonFacets(language=language),
                             correlation_id=case_id)
    return RouteRequest(request, causation_id=unique("evt"), declined_by=declined_by)


async def routed(service: ReferralService, area: ServiceArea, category: str, *, language: str = "es",
                 case_id: str | None = None) -> str:
    referral_id = await service.route(to_route(area, category, language=language, case_id=case_id))
    assert referral_id is not None
    return referral_id


def profile(person_id: str, case_id: str, *, full_name: str = "María Gómez",
            phone: str | None = "+5567999990000") -> PersonProfileUpserted:
    return PersonProfileUpserted(
        producer="intake", person_id=person_id, case_id=case_id, full_name=full_name, phone=phone,
        birth_date=date(1990, 5, 17), languages=["es", "pt"],
        consent=ConsentRecord(legal_basis="consent", share_with_partners=True, recorded_at=date(2026, 11, 1),
                              recorded_by="ana"))


def step(referral_id: str, action: Action, *, by: Principal | None = STAFF, **fields: object) -> ActOnReferral:
    return ActOnReferral(referral_id=referral_id, action=action, caller=by, **fields)  # type: ignore[arg-type]


async def open_referrals(repository: Repository, agency_id: str) -> int:
    [found] = [a for a in await repository.directory() if a.agency_id == agency_id]
    return found.open_referrals


async def drift(repository: Repository, agency_id: str, count: int) -> None:
    """Leave an agency's counter wrong, as a crash between a referral's write and the counter's would."""
    if isinstance(repository, InMemoryReferralRepository):
        repository.set_open_referrals(agency_id, count)
    else:
        await repository.agencies.update_one({"_id": agency_id}, {"$set": {"open_referrals": count}})
