"""Cases and requests: opening a case produces its state and the events that announce it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from migradesk_intake.domain.person import Person, age_band
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.categories import area_of
from migradesk_shared.contracts.person_profiles import ConsentRecord, IdentityDocument, PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import MigratoryStatus, ServiceArea, Sex


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class LoggedRequest:
    request_id: str
    category: str
    service_area: ServiceArea | None
    description: str | None = None

    @property
    def resolved_at_desk(self) -> bool:
        return self.service_area is None


@dataclass(frozen=True)
class FacetSource:
    """The few person attributes statistics may see, taken from the full (PII) profile."""

    nationality: str | None
    sex: Sex
    birth_date: date | None
    migratory_status: MigratoryStatus
    language: str

    def facets(self, on: date) -> PersonFacets:
        return PersonFacets(nationality=self.nationality, sex=self.sex, age_band=age_band(self.birth_date, on),
                            migratory_status=self.migratory_status, language=self.language)

    @classmethod
    def of(cls, person: Person) -> FacetSource:
        return cls(nationality=person.nationality, sex=person.sex, birth_date=person.birth_date,
                   migratory_status=person.migratory_status, language=person.preferred_language)


@dataclass(frozen=True)
class OpenedCase:
    case_id: str
    person_id: str
    opened_at: datetime
    municipality: str
    requests: tuple[LoggedRequest, ...]
    events: tuple[CaseOpened | RequestLogged, ...] = field(default=())
    status: CaseStatus = CaseStatus.OPEN
    version: int = 1


def open_case(*, person_id: str, facet_source: FacetSource, requests: list[tuple[str, str | None]],
              municipality: str, now: datetime, producer: str = "intake",
              case_id: str | None = None, attended_in_own_language: bool | None = None) -> OpenedCase:
    """Open a case with its requests; `requests` holds (category, description) pairs.
    Raises UnknownCategory for a category outside the table."""
    if not requests:
        raise ValueError("a case needs at least one request")
    case_id = case_id or str(uuid.uuid4())
    logged = tuple(LoggedRequest(str(uuid.uuid4()), cat, area_of(cat), desc) for cat, desc in requests)
    facets = facet_source.facets(now.date())
    opened = CaseOpened(producer=producer, occurred_at=now, correlation_id=case_id, case_id=case_id,
                        municipality=municipality, facets=facets, attended_in_own_language=attended_in_own_language)
    events: list[CaseOpened | RequestLogged] = [opened]
    for req in logged:
        events.append(RequestLogged(producer=producer, occurred_at=now, correlation_id=case_id,
                                    causation_id=opened.event_id, case_id=case_id, request_id=req.request_id,
                                    category=req.category, service_area=req.service_area,
                                    municipality=municipality, facets=facets))
    return OpenedCase(case_id=case_id, person_id=person_id, opened_at=now, municipality=municipality,
                      requests=logged, events=tuple(events))


@dataclass(frozen=True)
class ProfileWithdrawn:
    """The partner network must forget the person: a tombstone under the person's id on the compacted profiles
    topic, which makes referral delete its copy."""

    person_id: str


# What a case stores with its state: de-identified case events, and the person's profile (or its withdrawal) for
# the partner network.
CaseEvent = CaseOpened | RequestLogged | PersonProfileUpserted | ProfileWithdrawn


@dataclass(frozen=True)
class Case:
    """A case as kept at the desk: the person (None once erased), the requests, and how many events it has
    stored so far (a conditional save passes that count back, so it never overwrites events it did not see)."""

    case_id: str
    person_id: str
    person: Person | None
    opened_at: datetime
    municipality: str
    requests: tuple[LoggedRequest, ...]
    status: CaseStatus = CaseStatus.OPEN
    version: int = 1
    erased_at: datetime | None = None
    events_stored: int = 0

    @classmethod
    def opened(cls, opened: OpenedCase, person: Person) -> Case:
        return cls(case_id=opened.case_id, person_id=opened.person_id, person=person, opened_at=opened.opened_at,
                   municipality=opened.municipality, requests=opened.requests, status=opened.status,
                   version=opened.version)

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    def erase_personal_data(self, now: datetime) -> Case:
        """LGPD erasure: the person and the free-text notes go; what was asked, where and when stays (counts)."""
        return replace(self, person=None, erased_at=now,
                       requests=tuple(replace(r, description=None) for r in self.requests))


def partner_profile(case: Case) -> tuple[PersonProfileUpserted, ...]:
    """The person's profile for the partner network (restricted topic), only if the consent allows it."""
    person = case.person
    if person is None:
        return ()
    consent = person.consent.on(case.opened_at.date())
    if not consent.allows_sharing_with_partners():
        return ()
    return (PersonProfileUpserted(
        producer="intake", occurred_at=case.opened_at, correlation_id=case.case_id, person_id=case.person_id,
        case_id=case.case_id, full_name=person.full_name, birth_date=person.birth_date, sex=person.sex,
        nationality=person.nationality, languages=[person.preferred_language],
        migratory_status=person.migratory_status,
        documents=[IdentityDocument(type=d.type, number=d.number) for d in person.documents], phone=person.phone,
        consent=ConsentRecord(legal_basis=consent.legal_basis, share_with_partners=consent.share_with_partners,
                              recorded_at=consent.recorded_on, recorded_by=consent.recorded_by)),)
