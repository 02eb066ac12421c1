"""Intake's use cases. Each loads through the repository, calls the pure domain, and saves the state with its
events (the repository stores them in the same write and wakes the relay)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.activity import Activity, LoggedActivity, log_activity
from migradesk_intake.domain.audit import Access, AccessKind
from migradesk_intake.domain.case import (
    Case,
    CaseEvent,
    FacetSource,
    ProfileWithdrawn,
    change_consent,
    open_case,
    partner_profile,
)
from migradesk_intake.domain.duplicates import DuplicateCandidate, PersonRecord, candidates_among_cases, match_keys
from migradesk_intake.domain.person import ConsentGiven, Document, Person
from migradesk_intake.domain.referral_status import ReferralStatusView, fold_changes, status_change
from migradesk_shared.contracts.categories import CATEGORIES, Category
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound

# How many cases sharing a look-up key with the person at the desk are scored at most.
MATCH_SCAN_LIMIT = 500
# How many times a batch of referral events is folded again over statuses another consumer changed meanwhile.
STATUS_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class OpenCase:
    person: Person
    requests: tuple[tuple[str, str | None], ...]  # (category, description)
    actor: str
    # Could the desk attend the person in their own language (staff or an interpreter)? Dimension 4.
    attended_in_own_language: bool | None = None
    # Staff link a returning person (found among the duplicate candidates) instead of creating a twin.
    existing_person_id: str | None = None


@dataclass(frozen=True)
class ReadCase:
    case_id: str
    actor: str


@dataclass(frozen=True)
class FindDuplicates:
    full_name: str
    actor: str
    birth_date: date | None = None
    nationality: str | None = None
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True)
class ErasePerson:
    person_id: str
    actor: str


@dataclass(frozen=True)
class ChangeConsent:
    """A new consent of a registered person: another legal basis, sharing with the partners given or withdrawn."""

    person_id: str
    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_by: str
    actor: str


@dataclass(frozen=True)
class ConsentChange:
    person_id: str
    consent: ConsentGiven
    # Whether the partner network holds the person's profile from now on (False: its copy is being removed).
    shared: bool
    cases_updated: int


@dataclass(frozen=True)
class LogActivity:
    activity: Activity
    actor: str


@dataclass(frozen=True)
class Erasure:
    person_id: str
    erased_from_cases: int


def utc_now() -> datetime:
    return datetime.now(UTC)


class IntakeService:
    def __init__(self, repository: IntakeRepository, *, municipality: str,
                 clock: Callable[[], datetime] = utc_now, duplicate_limit: int = 10) -> None:
        self.repository = repository
        self.municipality = municipality
        self._clock = clock
        self._duplicate_limit = duplicate_limit

    async def open_case(self, command: OpenCase) -> Case:
        """Register a person's visit: the case with its requests, announced (de-identified) to referral and
        metrics, and the person's profile shared with the partner agencies if the consent allows it."""
        person_id = str(uuid.uuid4())
        if command.existing_person_id is not None:
            if not await self.repository.person_is_registered(command.existing_person_id):
                raise NotFound(f"no person {command.existing_person_id} is registered", field="existing_person_id")
            person_id = command.existing_person_id
        try:
            opened = open_case(person_id=person_id, facet_source=FacetSource.of(command.person),
                               requests=list(command.requests), municipality=self.municipality, now=self._clock(),
                               attended_in_own_language=command.attended_in_own_language)
        except ValueError as exc:  # an unknown category (UnknownCategory), or no request at all
            raise DomainRuleViolation(str(exc), field="requests") from exc
        case = Case.opened(opened, command.person)
        events: list[CaseEvent] = [*opened.events, *partner_profile(case)]
        await self.repository.add_case(case, events, actor=command.actor)
        return case

    async def read_case(self, command: ReadCase) -> Case:
        """A case with its person's data; the read is audited."""
        case = await self.repository.get_case(command.case_id)
        if case is None:
            raise NotFound(f"case {command.case_id} does not exist", field="case_id")
        await self.repository.record_access(Access(actor=command.actor, action=AccessKind.CASE_READ,
                                                   subject_id=case.person_id, case_id=case.case_id,
                                                   at=self._clock()))
        return case

    async def find_duplicates(self, command: FindDuplicates) -> list[DuplicateCandidate]:
        """Registered people who may be this person, best first, with the reasons (see domain.duplicates).
        Each candidate shown is a read of their data, so it is audited."""
        new = PersonRecord(person_id="", full_name=command.full_name, birth_date=command.birth_date,
                           nationality=command.nationality,
                           documents=tuple((d.type, d.number) for d in command.documents))
        cases = await self.repository.cases_matching(match_keys(new), limit=MATCH_SCAN_LIMIT)
        found = candidates_among_cases(new, cases, limit=self._duplicate_limit)
        for candidate in found:
            await self.repository.record_access(Access(
                actor=command.actor, action=AccessKind.DUPLICATE_CANDIDATE, subject_id=candidate.person.person_id,
                case_id=candidate.case_ids[0], at=self._clock()))
        return found

    async def erase_person(self, command: ErasePerson) -> Erasure:
        """LGPD erasure: the person's data leave every case (name, documents, contact, free-text notes, look-up
        keys) and the partner network (a tombstone on the compacted profiles topic makes referral delete its
        copy). De-identified counts stay. Erasing again erases again (nothing is left to find)."""
        case_ids = await self.repository.case_ids_of_person(command.person_id)
        if not case_ids:
            raise NotFound(f"no person {command.person_id} is registered", field="person_id")
        now = self._clock()
        await self.repository.forget_match_keys(command.person_id)
        for newest, case_id in enumerate(case_ids):
            # The newest case also gets a fresh tombstone, so the topic forgets the person for sure.
            events: list[CaseEvent] = [ProfileWithdrawn(command.person_id)] if newest == 0 else []
            while (case := await self.repository.get_case(case_id)) is not None:
                if await self.repository.save_erasure(case.erase_personal_data(now), events, actor=command.actor):
                    break
                # The case stored events meanwhile: read it again.
        await self.repository.record_access(Access(actor=command.actor, action=AccessKind.PERSON_ERASE,
                                                   subject_id=command.person_id, case_id=case_ids[0], at=now))
        return Erasure(person_id=command.person_id, erased_from_cases=len(case_ids))

    async def change_consent(self, command: ChangeConsent) -> ConsentChange:
        """Record a new consent for every case of the person (the one before it is kept in their history), and
        tell the partner network: sharing withdrawn, the profiles the cases still hold are scrubbed and a
        tombstone on the compacted profiles topic makes referral delete its copy (the path an erasure takes);
        sharing given, the newest profile is shared again under each case. Audited in each case changed and in
        the access log."""
        case_ids = await self.repository.case_ids_of_person(command.person_id)
        newest = await self.repository.get_case(case_ids[0]) if case_ids else None
        if newest is None or newest.person is None:
            raise NotFound(f"no person {command.person_id} is registered", field="person_id")
        now = self._clock()
        consent = ConsentGiven(legal_basis=command.legal_basis, share_with_partners=command.share_with_partners,
                               recorded_by=command.recorded_by, recorded_at=now)
        updated = 0
        for position, case_id in enumerate(case_ids):
            while (case := await self.repository.get_case(case_id)) is not None and case.person is not None:
                changed = change_consent(case, consent, newest=newest.person, is_newest=position == 0, now=now)
                if await self.repository.save_consent(changed.case, changed.events, scrub=changed.scrub_profiles,
                                                      actor=command.actor, at=now):
                    updated += 1
                    break
                # The case stored events meanwhile: read it again.
        await self.repository.record_access(Access(actor=command.actor, action=AccessKind.CONSENT_CHANGE,
                                                   subject_id=command.person_id, case_id=case_ids[0], at=now))
        return ConsentChange(person_id=command.person_id, consent=consent,
                             shared=consent.allows_sharing_with_partners(), cases_updated=updated)

    async def log_activity(self, command: LogActivity) -> LoggedActivity:
        """Log a governance activity; its event goes out with the activity's own write."""
        logged = log_activity(command.activity, municipality=self.municipality, now=self._clock())
        await self.repository.add_activity(logged, actor=command.actor)
        return logged

    async def record_referral_events(self, events: Iterable[object]) -> int:
        """Keep each referral's live status as referral's events report it (a read model: intake never reads
        referral's store). Idempotent and order-proof: a redelivered or older event changes nothing. One read
        and one write for the whole batch. Returns how many statuses changed."""
        changes = [change for event in events if (change := status_change(event)) is not None]
        if not changes:
            return 0
        referral_ids = list(dict.fromkeys(change.referral_id for change in changes))
        for _ in range(STATUS_WRITE_ATTEMPTS):
            held = await self.repository.referral_statuses_by_id(referral_ids)
            changed = fold_changes(held, changes)
            if not changed:
                return 0
            if await self.repository.save_referral_statuses([(held.get(referral_id), after)
                                                             for referral_id, after in changed.items()]):
                return len(changed)
            # A status was changed meanwhile (another consumer, during a rebalance): fold over it again.
        raise Conflict("referral statuses kept changing while they were recorded", field="referral_id")

    async def referral_statuses(self, case_id: str) -> list[ReferralStatusView]:
        """The live status of each referral of a case, those of one request together, in a stable order."""
        found = await self.repository.referral_statuses_of_case(case_id)
        return sorted(found, key=lambda view: (view.request_id or "", view.referral_id))

    def categories(self) -> list[Category]:
        return list(CATEGORIES.values())
