"""Cases and requests: opening a case produces its state and the events that announce it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from migradesk_intake.domain.person import ConsentGiven, Person, age_band
from migradesk_intake.domain.sensitive import UNKNOWN_FACETS, SensitiveFacets, statistical_facets
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
    # Only what the person declared on a basis that allows statistics (domain.sensitive.statistical_facets).
    sensitive: SensitiveFacets = UNKNOWN_FACETS

    def facets(self, on: date) -> PersonFacets:
        return PersonFacets(nationality=self.nationality, sex=self.sex, age_band=age_band(self.birth_date, on),
                            migratory_status=self.migratory_status, language=self.language,
                            race_colour=self.sensitive.race_colour, gender_identity=self.sensitive.gender_identity,
                            lgbtqia=self.sensitive.lgbtqia)

    @classmethod
    def of(cls, person: Person) -> FacetSource:
        return cls(nationality=person.nationality, sex=person.sex, birth_date=person.birth_date,
                   migratory_status=person.migratory_status, language=person.preferred_language,
                   sensitive=statistical_facets(person.sensitive))


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

    def with_consent(self, consent: ConsentGiven) -> Case:
        if self.person is None:
            raise ValueError("an erased person has no consent to change")
        return replace(self, person=self.person.with_consent(consent))

    def erase_personal_data(self, now: datetime) -> Case:
        """LGPD erasure: the person and the free-text notes go; what was asked, where and when stays (counts)."""
        return replace(self, person=None, erased_at=now,
                       requests=tuple(replace(r, description=None) for r in self.requests))


def partner_profile(case: Case, *, person: Person | None = None,
                    now: datetime | None = None) -> tuple[PersonProfileUpserted, ...]:
    """The person's profile for the partner network (restricted topic), only if the consent allows it: what the
    serving agency needs to reach them, never their sensitive data. `person`: the person as known now, when
    the case holds an older copy (a consent changed later shares the newest data under every case)."""
    person = person or case.person
    if person is None:
        return ()
    consent = person.consent.on(case.opened_at.date())
    if not consent.allows_sharing_with_partners():
        return ()
    return (PersonProfileUpserted(
        producer="intake", occurred_at=now or case.opened_at, correlation_id=case.case_id, person_id=case.person_id,
        case_id=case.case_id, full_name=person.full_name, birth_date=person.birth_date, sex=person.sex,
        nationality=person.nationality, languages=list(person.languages),
        migratory_status=person.migratory_status,
        documents=[IdentityDocument(type=d.type, number=d.number) for d in person.documents], phone=person.phone,
        consent=ConsentRecord(legal_basis=consent.legal_basis, share_with_partners=consent.share_with_partners,
                              recorded_at=consent.recorded_on, recorded_by=consent.recorded_by)),)


@dataclass(frozen=True)
class ConsentChanged:
    """One case of the person after a consent change: its new state, the events it stores with it, and whether
    the profile events it still holds must be scrubbed (sharing withdrawn: none of them may go out any more)."""

    case: Case
    events: tuple[CaseEvent, ...]
    scrub_profiles: bool


def change_consent(case: Case, consent: ConsentGiven, *, newest: Person, is_newest: bool,
                   now: datetime) -> ConsentChanged:
    """A new consent for the person of `case`, whose newest data is `newest`. Sharing on: every case shares the
    newest profile again under its own id (the partner network links each case's referrals to the person).
    Sharing off: the case's stored profiles are scrubbed, and the newest case stores a tombstone on the
    compacted profiles topic, which makes referral delete its copy, as an erasure does."""
    changed = case.with_consent(consent)
    shared_person = newest.with_consent(consent)
    if consent.allows_sharing_with_partners():
        return ConsentChanged(changed, partner_profile(changed, person=shared_person, now=now), scrub_profiles=False)
    withdrawn: tuple[CaseEvent, ...] = (ProfileWithdrawn(case.person_id),) if is_newest else ()
    return ConsentChanged(changed, withdrawn, scrub_profiles=True)
