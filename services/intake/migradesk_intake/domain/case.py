"""Cases and requests: opening a case produces its state and the events that announce it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TypeAlias

from migradesk_intake.domain.audit import AccessKind, Write
from migradesk_intake.domain.person import ConsentGiven, Person, age_band
from migradesk_intake.domain.sensitive import UNKNOWN_FACETS, SensitiveFacets, statistical_facets
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.categories import area_of
from migradesk_shared.contracts.person_profiles import ConsentRecord, IdentityDocument, PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import MigratoryStatus, ReferralStatus, ServiceArea, Sex
from migradesk_shared.errors import DomainRuleViolation, NotFound

NOTE_MAX = 4000
FOLLOW_UP_MAX = 500
ERASED_TEXT = ""


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseOutcome(StrEnum):
    """How a case ended, as the desk records it when closing it."""

    SERVED = "served"  # every request was met
    PARTLY_SERVED = "partly_served"  # some were, some were not
    NOT_SERVED = "not_served"  # none could be met
    UNREACHABLE = "unreachable"  # the person could not be reached any more
    WITHDRAWN = "withdrawn"  # the person no longer needs it (moved away, solved it elsewhere)


# Where a referral ends; the others are still under way.
FINAL_REFERRAL_STATUSES = frozenset({ReferralStatus.COMPLETED, ReferralStatus.ATTENDED, ReferralStatus.DECLINED,
                                     ReferralStatus.CANCELLED, ReferralStatus.NO_SHOW,
                                     ReferralStatus.UNABLE_TO_CONTACT})
MET_REFERRAL_STATUSES = frozenset({ReferralStatus.COMPLETED, ReferralStatus.ATTENDED})


def suggested_outcome(referral_statuses: list[ReferralStatus]) -> CaseOutcome | None:
    """The outcome to offer when closing, once every referral of the case has ended (None while one is under
    way, or when there is none): served if all were met, not served if none was, partly served otherwise."""
    if not referral_statuses or any(s not in FINAL_REFERRAL_STATUSES for s in referral_statuses):
        return None
    met = sum(s in MET_REFERRAL_STATUSES for s in referral_statuses)
    if met == len(referral_statuses):
        return CaseOutcome.SERVED
    if all(s == ReferralStatus.UNABLE_TO_CONTACT for s in referral_statuses):
        return CaseOutcome.UNREACHABLE
    return CaseOutcome.PARTLY_SERVED if met else CaseOutcome.NOT_SERVED


@dataclass(frozen=True)
class Note:
    """A free-text note of staff: personal data that never leaves intake (no event carries it)."""

    note_id: str
    text: str
    at: datetime
    by: str


@dataclass(frozen=True)
class FollowUp:
    """Something staff must do for the person by a date (call back, check a document arrived...)."""

    follow_up_id: str
    text: str
    due_on: date
    at: datetime
    by: str
    done_at: datetime | None = None
    done_by: str | None = None

    @property
    def done(self) -> bool:
        return self.done_at is not None


def _text(value: str, *, field: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise DomainRuleViolation(f"the {field} is empty", field=field)
    if len(text) > limit:
        raise DomainRuleViolation(f"the {field} has {len(text)} characters; at most {limit}", field=field)
    return text


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
CaseEvent: TypeAlias = CaseOpened | RequestLogged | PersonProfileUpserted | ProfileWithdrawn


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
    # The staff member who follows the case (who opened it, unless it was handed over).
    assigned_to: str = ""
    notes: tuple[Note, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    outcome: CaseOutcome | None = None
    closed_at: datetime | None = None
    # Every write of the case, oldest first: its timeline.
    writes: tuple[Write, ...] = ()

    @classmethod
    def opened(cls, opened: OpenedCase, person: Person, *, actor: str = "", assigned_to: str | None = None) -> Case:
        return cls(case_id=opened.case_id, person_id=opened.person_id, person=person, opened_at=opened.opened_at,
                   municipality=opened.municipality, requests=opened.requests, status=opened.status,
                   version=opened.version, assigned_to=assigned_to or actor,
                   writes=(Write(actor, AccessKind.CASE_OPEN, opened.opened_at),))

    def _written(self, actor: str, action: AccessKind, at: datetime, subject: str | None = None,
                 **changes: object) -> Case:
        return replace(self, version=self.version + 1, writes=(*self.writes, Write(actor, action, at, subject)),
                       **changes)  # type: ignore[arg-type]

    def writes_since(self, version: int) -> tuple[Write, ...]:
        """The writes that made the versions after `version` (every write makes one version)."""
        if self.version <= version:
            return ()
        return self.writes[len(self.writes) - (self.version - version):]

    def _require_open(self, doing: str) -> None:
        if self.status is not CaseStatus.OPEN:
            raise DomainRuleViolation(f"case {self.case_id} is closed: reopen it to {doing}", field="status")

    def add_note(self, text: str, *, by: str, at: datetime) -> Case:
        note = Note(str(uuid.uuid4()), _text(text, field="text", limit=NOTE_MAX), at, by)
        return self._written(by, AccessKind.CASE_NOTE, at, note.note_id, notes=(*self.notes, note))

    def add_follow_up(self, text: str, due_on: date, *, by: str, at: datetime, today: date | None = None) -> Case:
        """`today`: the date where the desk is (by default `at`'s)."""
        self._require_open("plan a follow-up")
        if due_on < (today or at.date()):
            raise DomainRuleViolation(f"the due date {due_on.isoformat()} is in the past", field="due_on")
        follow_up = FollowUp(str(uuid.uuid4()), _text(text, field="text", limit=FOLLOW_UP_MAX), due_on, at, by)
        return self._written(by, AccessKind.CASE_FOLLOW_UP, at, follow_up.follow_up_id,
                             follow_ups=(*self.follow_ups, follow_up))

    def complete_follow_up(self, follow_up_id: str, *, by: str, at: datetime) -> Case:
        found = next((f for f in self.follow_ups if f.follow_up_id == follow_up_id), None)
        if found is None:
            raise NotFound(f"case {self.case_id} has no follow-up {follow_up_id}", field="follow_up_id")
        if found.done:
            return self
        done = tuple(replace(f, done_at=at, done_by=by) if f is found else f for f in self.follow_ups)
        return self._written(by, AccessKind.CASE_FOLLOW_UP_DONE, at, follow_up_id, follow_ups=done)

    def add_request(self, category: str, description: str | None, *, facet_source: FacetSource, by: str,
                    at: datetime, producer: str = "intake") -> tuple[Case, RequestLogged]:
        """A request added to the open case, announced like those of the visit that opened it.
        Raises UnknownCategory (a ValueError) for a category outside the table."""
        self._require_open("add a request")
        request = LoggedRequest(str(uuid.uuid4()), category, area_of(category), description or None)
        event = RequestLogged(producer=producer, occurred_at=at, correlation_id=self.case_id,
                              case_id=self.case_id, request_id=request.request_id, category=request.category,
                              service_area=request.service_area, municipality=self.municipality,
                              facets=facet_source.facets(at.date()))
        return self._written(by, AccessKind.CASE_REQUEST, at, request.request_id,
                             requests=(*self.requests, request)), event

    def close(self, outcome: CaseOutcome, *, by: str, at: datetime) -> Case:
        self._require_open("close it")
        return self._written(by, AccessKind.CASE_CLOSE, at, outcome.value, status=CaseStatus.CLOSED,
                             outcome=outcome, closed_at=at)

    def reopen(self, *, by: str, at: datetime) -> Case:
        if self.status is not CaseStatus.CLOSED:
            raise DomainRuleViolation(f"case {self.case_id} is open already", field="status")
        return self._written(by, AccessKind.CASE_REOPEN, at, status=CaseStatus.OPEN, outcome=None,
                             closed_at=None)

    def overdue_follow_ups(self, today: date) -> tuple[FollowUp, ...]:
        return tuple(f for f in self.follow_ups if not f.done and f.due_on < today)

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    def erase_personal_data(self, now: datetime, *, actor: str = "") -> Case:
        """LGPD erasure: the person and every free text (request descriptions, notes, follow-ups) go; what was
        asked, where and when, and who did what, stay (counts, accountability)."""
        return replace(self, person=None, erased_at=now, version=self.version + 1,
                       requests=tuple(replace(r, description=None) for r in self.requests),
                       notes=tuple(replace(n, text=ERASED_TEXT) for n in self.notes),
                       follow_ups=tuple(replace(f, text=ERASED_TEXT) for f in self.follow_ups),
                       writes=(*self.writes, Write(actor, AccessKind.PERSON_ERASE, now)))


def shared_profiles(person_id: str, person: Person, case_ids: list[str] | tuple[str, ...], *,
                    now: datetime) -> tuple[PersonProfileUpserted, ...]:
    """The person's profile for the partner network (restricted topic), once per case (the partner network links
    each case's referrals to the person), only if the consent allows it: what the serving agency needs to reach
    them, never their sensitive data."""
    consent = person.consent.on(now.date())
    if not consent.allows_sharing_with_partners():
        return ()
    return tuple(PersonProfileUpserted(
        producer="intake", occurred_at=now, correlation_id=case_id, person_id=person_id,
        case_id=case_id, full_name=person.full_name, birth_date=person.birth_date, sex=person.sex,
        nationality=person.nationality, languages=list(person.languages),
        migratory_status=person.migratory_status,
        documents=[IdentityDocument(type=d.type, number=d.number) for d in person.documents], phone=person.phone,
        consent=ConsentRecord(legal_basis=consent.legal_basis, share_with_partners=consent.share_with_partners,
                              recorded_at=consent.recorded_on, recorded_by=consent.recorded_by))
        for case_id in case_ids)


def partner_profile(case: Case, *, person: Person | None = None,
                    now: datetime | None = None) -> tuple[PersonProfileUpserted, ...]:
    """The profile shared for one case (see shared_profiles); `person`: the person as known now."""
    person = person or case.person
    if person is None:
        return ()
    return shared_profiles(case.person_id, person, [case.case_id], now=now or case.opened_at)


@dataclass(frozen=True)
class ConsentChanged:
    """A person after a consent change: the person, the events their record stores with it, and whether the
    profile events it still holds must be scrubbed (sharing withdrawn: none of them may go out any more)."""

    person: Person
    events: tuple[CaseEvent, ...]
    scrub_profiles: bool


def change_consent(person_id: str, person: Person, consent: ConsentGiven, *, case_ids: tuple[str, ...],
                   now: datetime) -> ConsentChanged:
    """A new consent for a person. Sharing on: the profile is shared again under each of their cases. Sharing off:
    the profiles their record still holds are scrubbed, and a tombstone on the compacted profiles topic makes
    referral delete its copy, as an erasure does."""
    changed = person.with_consent(consent)
    if consent.allows_sharing_with_partners():
        return ConsentChanged(changed, shared_profiles(person_id, changed, case_ids, now=now), scrub_profiles=False)
    return ConsentChanged(changed, (ProfileWithdrawn(person_id),), scrub_profiles=True)
