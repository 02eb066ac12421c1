"""Intake's use cases. Each loads through the repository, calls the pure domain, and saves the state with its
events (the repository stores them in the same write and wakes the relay)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import Access, AccessKind, Write
from migradesk_intake.domain.case import (
    Case,
    CaseEvent,
    CaseOutcome,
    FacetSource,
    ProfileWithdrawn,
    change_consent,
    open_case,
    shared_profiles,
    suggested_outcome,
)
from migradesk_intake.domain.duplicates import (
    DuplicateCandidate,
    PersonRecord,
    candidates_among_people,
    match_keys,
    person_record,
)
from migradesk_intake.domain.person import (
    ConsentGiven,
    Document,
    Person,
    PersonChange,
    RegisteredPerson,
    changed_fields,
    corrected,
)
from migradesk_intake.domain.referral_status import ReferralStatusView, fold_changes, status_change
from migradesk_intake.domain.search import SearchablePerson, SearchHit
from migradesk_intake.domain.worklist import DESK, WorklistEntry, WorklistQuery
from migradesk_shared.contracts.categories import CATEGORIES, Category
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound

# How many people sharing a look-up key with the person at the desk are scored at most.
MATCH_SCAN_LIMIT = 500
# How many times a batch of referral events is folded again over statuses another consumer changed meanwhile.
STATUS_WRITE_ATTEMPTS = 5
# How many times a write that does not depend on what the page showed (a note, a consent, an erasure) is tried
# again over a record another write changed meanwhile.
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class OpenCase:
    """A visit: the person (new), or the id of a registered person who returned; the requests; who took it."""

    person: Person | None
    requests: tuple[tuple[str, str | None], ...]  # (category, description)
    actor: str
    # Could the desk attend the person in their own language (staff or an interpreter)? Dimension 4.
    attended_in_own_language: bool | None = None
    # Staff link a returning person (found among the duplicate candidates) instead of creating a twin.
    existing_person_id: str | None = None
    # The staff member who follows the case; by default who opened it.
    assigned_to: str | None = None


@dataclass(frozen=True)
class ReadCase:
    case_id: str
    actor: str


@dataclass(frozen=True)
class ReadPerson:
    person_id: str
    actor: str


@dataclass(frozen=True)
class CorrectPerson:
    """The person's data as a page or a machine corrected it, over the version it showed."""

    person_id: str
    expected_version: int
    person: Person  # its consent is ignored: consent changes go through ChangeConsent
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
    reason: str
    reference: str | None = None


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
class AddNote:
    case_id: str
    text: str
    actor: str


@dataclass(frozen=True)
class AddFollowUp:
    case_id: str
    text: str
    due_on: date
    actor: str


@dataclass(frozen=True)
class CompleteFollowUp:
    case_id: str
    follow_up_id: str
    actor: str


@dataclass(frozen=True)
class AddRequest:
    case_id: str
    category: str
    description: str | None
    actor: str


@dataclass(frozen=True)
class CloseCase:
    case_id: str
    outcome: CaseOutcome
    expected_version: int
    actor: str


@dataclass(frozen=True)
class ReopenCase:
    case_id: str
    expected_version: int
    actor: str


@dataclass(frozen=True)
class Erasure:
    person_id: str
    erased_from_cases: int


@dataclass(frozen=True)
class CaseFile:
    """What the case page shows: the case with its person, the live status of its referrals, the outcome to
    suggest when closing it, and the other cases of the same person."""

    case: Case
    referrals: list[ReferralStatusView]
    suggested_outcome: CaseOutcome | None
    person_version: int
    other_case_ids: tuple[str, ...]


@dataclass(frozen=True)
class WorklistRow:
    """A line of the worklist: the case as listed, with its person's name (None once erased)."""

    entry: WorklistEntry
    full_name: str | None


@dataclass(frozen=True)
class WorklistView:
    rows: list[WorklistRow]
    total: int
    total_is_exact: bool
    next_cursor: str | None


@dataclass(frozen=True)
class SearchPeople:
    text: str
    actor: str
    after: str | None = None
    # The best ten: a search names a person; more pages are there when the name is common.
    page_size: int = 10


@dataclass(frozen=True)
class FoundPerson:
    hit: SearchHit
    case_ids: tuple[str, ...]  # oldest first


@dataclass(frozen=True)
class PeopleFound:
    people: list[FoundPerson]
    next_cursor: str | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def searchable(person_id: str, person: Person) -> SearchablePerson:
    return SearchablePerson(person_id=person_id, full_name=person.full_name, birth_date=person.birth_date,
                            documents=tuple(d.number for d in person.documents), phone=person.phone)


def was_overdue(status: ReferralStatusView | None) -> bool:
    return status is not None and status.overdue


def worklist_entry(case: Case, *, overdue: bool) -> WorklistEntry:
    return WorklistEntry(case_id=case.case_id, person_id=case.person_id, opened_at=case.opened_at,
                         status=case.status.value,
                         service_areas=frozenset(r.service_area.value if r.service_area else DESK
                                                 for r in case.requests),
                         assigned_to=case.assigned_to, overdue=overdue)


def stale(kind: str, record_id: str, *, shown: int, current: int, changed: Sequence[str]) -> Conflict:
    """The 409 of an edit made over an older version: what changed since, by name, for the page to show."""
    return Conflict(f"{kind} {record_id} was changed by someone else since version {shown} (now {current}): "
                    f"{', '.join(changed) or 'its state'}", field="version", current_version=current,
                    changed=list(changed))


class IntakeService:
    def __init__(self, repository: IntakeRepository, *, municipality: str,
                 clock: Callable[[], datetime] = utc_now, duplicate_limit: int = 10,
                 timezone: str = "America/Sao_Paulo") -> None:
        self.repository = repository
        self.municipality = municipality
        self._clock = clock
        self._duplicate_limit = duplicate_limit
        self._zone = ZoneInfo(timezone)

    def today(self) -> date:
        """The date where the desk is (a follow-up due today is not in the past at 22:00 in Brazil)."""
        return self._clock().astimezone(self._zone).date()

    # -- people ----------------------------------------------------------------------------------------------

    async def _registered(self, person_id: str, *, field: str = "person_id") -> RegisteredPerson:
        registered = await self.repository.get_person(person_id)
        if registered is None or registered.person is None:
            raise NotFound(f"no person {person_id} is registered", field=field)
        return registered

    async def _index_person(self, registered: RegisteredPerson, *, new: bool = False) -> None:
        """The keys the person is found by, for duplicate candidates and for search (none once erased). `new`:
        just registered, with no keys to replace."""
        person = registered.person
        keys = match_keys(person_record(registered.person_id, person)) if person is not None else []
        await self.repository.set_match_keys(registered.person_id, keys, replace=not new)
        if person is not None:
            await self.repository.search.put(searchable(registered.person_id, person))
        else:
            await self.repository.search.forget(registered.person_id)

    async def _index_case(self, case: Case) -> None:
        """The case as the worklist lists it; whether a referral is overdue comes from referral's events."""
        held = await self.repository.worklist.get(case.case_id)
        await self.repository.worklist.put(worklist_entry(case, overdue=held.overdue if held else False))

    async def open_case(self, command: OpenCase) -> Case:
        """Register a person's visit: the case with its requests, announced (de-identified) to referral and
        metrics, and the person's profile shared with the partner agencies if the consent allows it. A new
        person gets their own record; a returning one (`existing_person_id`) keeps theirs, as it is."""
        now = self._clock()
        registered: RegisteredPerson | None = None
        if command.existing_person_id is not None:
            registered = await self._registered(command.existing_person_id, field="existing_person_id")
            person_id, person = registered.person_id, registered.person
        elif command.person is not None:
            person_id = str(uuid.uuid4())
            # A consent given at a visit is dated by it.
            person = replace(command.person, consent=replace(command.person.consent, recorded_at=now))
        else:
            raise DomainRuleViolation("give the person, or the id of a registered person", field="person")
        assert person is not None  # _registered refuses an erased person
        try:
            opened = open_case(person_id=person_id, facet_source=FacetSource.of(person),
                               requests=list(command.requests), municipality=self.municipality, now=now,
                               attended_in_own_language=command.attended_in_own_language)
        except ValueError as exc:  # an unknown category (UnknownCategory), or no request at all
            raise DomainRuleViolation(str(exc), field="requests") from exc
        case = Case.opened(opened, person, actor=command.actor, assigned_to=command.assigned_to)
        profile = shared_profiles(person_id, person, [case.case_id], now=now)
        # The person's record first: a crash before the case is written leaves a person with no case (found
        # again at the next visit), never a case without its person.
        indexing: list[Awaitable[None]] = []
        if registered is None:
            registered = RegisteredPerson(person_id=person_id, person=person, version=1,
                                          case_ids=(case.case_id,), registered_at=now)
            await self.repository.add_person(registered, profile,
                                             write=Write(command.actor, AccessKind.PERSON_REGISTER, now))
            indexing.append(self._index_person(registered, new=True))
        elif not await self.repository.attach_case(person_id, case.case_id, profile):
            raise NotFound(f"no person {person_id} is registered", field="existing_person_id")
        # The case and the indexes that find it and its person are written side by side (other collections,
        # so the store takes them in parallel); a new case has no overdue referral yet.
        await asyncio.gather(self.repository.add_case(case, opened.events),
                             self.repository.worklist.put(worklist_entry(case, overdue=False)), *indexing)
        return case

    async def read_person(self, command: ReadPerson) -> RegisteredPerson:
        """A person's record; the read is audited."""
        registered = await self._registered(command.person_id)
        await self.repository.record_access(Access(actor=command.actor, action=AccessKind.PERSON_READ,
                                                   subject_id=registered.person_id,
                                                   case_id=registered.case_ids[-1] if registered.case_ids else "",
                                                   at=self._clock()))
        return registered

    async def correct_person(self, command: CorrectPerson) -> RegisteredPerson:
        """Correct a person's data in their one record, over the version the page showed: an edit of an older
        version is refused (409) with what changed since, never applied over someone else's. The partner
        network gets the corrected profile if the consent allows it. Audited in the record."""
        registered = await self._registered(command.person_id)
        if registered.version != command.expected_version:
            raise stale("person", registered.person_id, shown=command.expected_version,
                        current=registered.version, changed=registered.changed_since(command.expected_version))
        assert registered.person is not None
        now = self._clock()
        person = corrected(registered.person, command.person)
        names = changed_fields(registered.person, person)
        if not names:
            return registered
        version = registered.version + 1
        after = replace(registered, person=person, version=version,
                        changes=(*registered.changes, PersonChange(version, now, command.actor, names)))
        # One profile is enough: the partner network keeps one copy per person, linked to every case it got.
        events = shared_profiles(registered.person_id, person, registered.case_ids[-1:], now=now)
        if not await self.repository.save_person(after, events, expected_version=registered.version,
                                                 write=Write(command.actor, AccessKind.PERSON_CORRECT, now)):
            current = await self._registered(command.person_id)
            raise stale("person", registered.person_id, shown=command.expected_version, current=current.version,
                        changed=current.changed_since(command.expected_version))
        await self._index_person(after)
        return after

    async def find_duplicates(self, command: FindDuplicates) -> list[DuplicateCandidate]:
        """Registered people who may be this person, best first, with the reasons (see domain.duplicates).
        Each candidate shown is a read of their data, so it is audited."""
        new = PersonRecord(person_id="", full_name=command.full_name, birth_date=command.birth_date,
                           nationality=command.nationality,
                           documents=tuple((d.type, d.number) for d in command.documents))
        people = await self.repository.persons_matching(match_keys(new), limit=MATCH_SCAN_LIMIT)
        found = candidates_among_people(new, people, limit=self._duplicate_limit)
        for candidate in found:
            await self.repository.record_access(Access(
                actor=command.actor, action=AccessKind.DUPLICATE_CANDIDATE, subject_id=candidate.person.person_id,
                case_id=candidate.case_ids[-1] if candidate.case_ids else "", at=self._clock()))
        return found

    async def erase_person(self, command: ErasePerson) -> Erasure:
        """LGPD erasure: the person's data leave their record (name, documents, contact, look-up keys), every
        case loses its free text (request descriptions, notes, follow-ups), and the partner network forgets them
        (a tombstone on the compacted profiles topic makes referral delete its copy). De-identified counts stay.
        Erasing again erases again (nothing is left to find)."""
        now = self._clock()
        for _ in range(WRITE_ATTEMPTS):
            registered = await self.repository.get_person(command.person_id)
            if registered is None:
                raise NotFound(f"no person {command.person_id} is registered", field="person_id")
            after = replace(registered, person=None, erased_at=now, version=registered.version + 1)
            if await self.repository.save_person(after, [ProfileWithdrawn(registered.person_id)], scrub=True,
                                                 expected_version=registered.version,
                                                 write=Write(command.actor, AccessKind.PERSON_ERASE, now)):
                break
        else:
            raise Conflict(f"person {command.person_id} kept changing while being erased", field="person_id")
        await self._index_person(after)
        for case_id in registered.case_ids:
            await self._change_case(case_id, lambda case: (case.erase_personal_data(now, actor=command.actor), []),
                                    allow_erased=True)
        await self.repository.record_access(Access(
            actor=command.actor, action=AccessKind.PERSON_ERASE, subject_id=command.person_id,
            case_id=registered.case_ids[-1] if registered.case_ids else "", at=now, reason=command.reason,
            reference=command.reference))
        return Erasure(person_id=command.person_id, erased_from_cases=len(registered.case_ids))

    async def change_consent(self, command: ChangeConsent) -> ConsentChange:
        """Record a new consent in the person's record (the one before it is kept in their history), and tell
        the partner network: sharing withdrawn, the profiles the record still holds are scrubbed and a tombstone
        on the compacted profiles topic makes referral delete its copy (the path an erasure takes); sharing
        given, the profile is shared again under each of their cases. Audited in the record and the access log.
        A consent is a new decision, not an edit of what a page showed: it applies over any version."""
        now = self._clock()
        consent = ConsentGiven(legal_basis=command.legal_basis, share_with_partners=command.share_with_partners,
                               recorded_by=command.recorded_by, recorded_at=now)
        for _ in range(WRITE_ATTEMPTS):
            registered = await self._registered(command.person_id)
            assert registered.person is not None
            changed = change_consent(registered.person_id, registered.person, consent,
                                     case_ids=registered.case_ids, now=now)
            version = registered.version + 1
            after = replace(registered, person=changed.person, version=version,
                            changes=(*registered.changes, PersonChange(version, now, command.actor, ("consent",))))
            if await self.repository.save_person(after, changed.events, scrub=changed.scrub_profiles,
                                                 expected_version=registered.version,
                                                 write=Write(command.actor, AccessKind.CONSENT_CHANGE, now)):
                break
        else:
            raise Conflict(f"person {command.person_id} kept changing while the consent was recorded",
                           field="person_id")
        await self.repository.record_access(Access(
            actor=command.actor, action=AccessKind.CONSENT_CHANGE, subject_id=command.person_id,
            case_id=registered.case_ids[-1] if registered.case_ids else "", at=now))
        return ConsentChange(person_id=command.person_id, consent=consent,
                             shared=consent.allows_sharing_with_partners(), cases_updated=len(registered.case_ids))

    # -- cases -----------------------------------------------------------------------------------------------

    async def read_case(self, command: ReadCase) -> Case:
        """A case with its person's data; the read is audited."""
        case = await self.repository.get_case(command.case_id)
        if case is None:
            raise NotFound(f"case {command.case_id} does not exist", field="case_id")
        await self.repository.record_access(Access(actor=command.actor, action=AccessKind.CASE_READ,
                                                   subject_id=case.person_id, case_id=case.case_id,
                                                   at=self._clock()))
        return case

    async def case_file(self, command: ReadCase) -> CaseFile:
        """Everything the case page shows (an audited read of the case)."""
        case = await self.read_case(command)
        referrals = await self.referral_statuses(case.case_id)
        registered = await self.repository.get_person(case.person_id)
        return CaseFile(case=case, referrals=referrals,
                        suggested_outcome=suggested_outcome([r.status for r in referrals]),
                        person_version=registered.version if registered is not None else 0,
                        other_case_ids=tuple(c for c in (registered.case_ids if registered else ())
                                             if c != case.case_id))

    async def _change_case(self, case_id: str, change: Callable[[Case], tuple[Case, Sequence[CaseEvent]]], *,
                           expected_version: int | None = None, allow_erased: bool = False) -> Case:
        """Apply `change` to the case as stored now and save it over the version read. With `expected_version`
        (what a page showed), a case changed since is refused with what changed (409); without, the change is
        applied again over the newer case."""
        for _ in range(WRITE_ATTEMPTS):
            case = await self.repository.get_case(case_id)
            if case is None:
                raise NotFound(f"case {case_id} does not exist", field="case_id")
            if case.erased and not allow_erased:
                raise DomainRuleViolation(f"the person of case {case_id} was erased", field="case_id")
            if expected_version is not None and case.version != expected_version:
                raise stale("case", case_id, shown=expected_version, current=case.version,
                            changed=[w.action.value for w in case.writes_since(expected_version)])
            changed, events = change(case)
            if changed is case:
                return case
            if await self.repository.save_case(changed, events, expected_version=case.version):
                await self._index_case(changed)
                return changed
        raise Conflict(f"case {case_id} kept changing while it was written", field="case_id")

    async def add_note(self, command: AddNote) -> Case:
        """A note of staff on the case (free text: it never leaves intake)."""
        now = self._clock()
        return await self._change_case(command.case_id, lambda case: (
            case.add_note(command.text, by=command.actor, at=now), ()))

    async def add_follow_up(self, command: AddFollowUp) -> Case:
        now = self._clock()
        return await self._change_case(command.case_id, lambda case: (
            case.add_follow_up(command.text, command.due_on, by=command.actor, at=now,
                               today=now.astimezone(self._zone).date()), ()))

    async def complete_follow_up(self, command: CompleteFollowUp) -> Case:
        now = self._clock()
        return await self._change_case(command.case_id, lambda case: (
            case.complete_follow_up(command.follow_up_id, by=command.actor, at=now), ()))

    async def add_request(self, command: AddRequest) -> Case:
        """A request added to an open case: announced (de-identified) like the visit's, so it is routed."""
        now = self._clock()

        def add(case: Case) -> tuple[Case, Sequence[CaseEvent]]:
            if case.person is None:
                raise DomainRuleViolation(f"the person of case {case.case_id} was erased", field="case_id")
            try:
                changed, event = case.add_request(command.category, command.description,
                                                  facet_source=FacetSource.of(case.person), by=command.actor,
                                                  at=now)
            except DomainRuleViolation:
                raise
            except ValueError as exc:  # an unknown category
                raise DomainRuleViolation(str(exc), field="category") from exc
            return changed, (event,)

        return await self._change_case(command.case_id, add)

    async def close_case(self, command: CloseCase) -> Case:
        """Close the case with an outcome, over the version the page showed (409 if it changed since)."""
        now = self._clock()
        return await self._change_case(command.case_id, lambda case: (
            case.close(command.outcome, by=command.actor, at=now), ()), expected_version=command.expected_version)

    async def reopen_case(self, command: ReopenCase) -> Case:
        now = self._clock()
        return await self._change_case(command.case_id, lambda case: (
            case.reopen(by=command.actor, at=now), ()), expected_version=command.expected_version)

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
                # A case is overdue while one of its referrals is: only a referral whose own flag changed can
                # change its case's (a new referral, never overdue, leaves it as it was).
                await self._mark_overdue({after.case_id for referral_id, after in changed.items()
                                          if after.overdue != was_overdue(held.get(referral_id))})
                return len(changed)
            # A status was changed meanwhile (another consumer, during a rebalance): fold over it again.
        raise Conflict("referral statuses kept changing while they were recorded", field="referral_id")

    async def _mark_overdue(self, case_ids: set[str]) -> None:
        """The worklist's overdue flag of each case whose referrals changed: set while one of them is overdue."""
        for case_id in case_ids:
            held = await self.repository.worklist.get(case_id)
            if held is None:
                continue  # a case of another desk, or not listed yet: _index_case reads the flag when it is
            overdue = any(v.overdue for v in await self.repository.referral_statuses_of_case(case_id))
            if overdue != held.overdue:
                await self.repository.worklist.put(replace(held, overdue=overdue))

    async def worklist(self, query: WorklistQuery, *, actor: str) -> WorklistView:
        """A page of the worklist, with the names of the people listed (each a read of their data, audited in
        one write)."""
        page = await self.repository.worklist.page(query)
        people = await self.repository.listed_persons([e.person_id for e in page.entries])
        names = {pid: p.full_name for pid, p in people.items() if p.full_name is not None}
        now = self._clock()
        await self.repository.record_accesses([
            Access(actor=actor, action=AccessKind.PERSON_LISTED, subject_id=e.person_id, case_id=e.case_id, at=now)
            for e in page.entries if e.person_id in names])
        return WorklistView(rows=[WorklistRow(e, names.get(e.person_id)) for e in page.entries], total=page.total,
                            total_is_exact=page.total_is_exact, next_cursor=page.next_cursor)

    async def search_people(self, command: SearchPeople) -> PeopleFound:
        """People found by name (accents, case and common misspellings forgiven), document number or phone,
        best first, with their cases; each one shown is a read of their data, audited in one write."""
        try:
            found = await self.repository.search.search(command.text, after=command.after,
                                                        page_size=command.page_size)
        except ValueError as exc:
            raise DomainRuleViolation(str(exc), field="q") from exc
        people = await self.repository.listed_persons([h.person_id for h in found.hits])
        listed = [FoundPerson(h, people[h.person_id].case_ids) for h in found.hits
                  if h.person_id in people and people[h.person_id].full_name is not None]
        now = self._clock()
        await self.repository.record_accesses([
            Access(actor=command.actor, action=AccessKind.PERSON_LISTED, subject_id=f.hit.person_id,
                   case_id=f.case_ids[-1] if f.case_ids else "", at=now) for f in listed])
        return PeopleFound(people=listed, next_cursor=found.next_cursor)

    async def referral_statuses(self, case_id: str) -> list[ReferralStatusView]:
        """The live status of each referral of a case, those of one request together, in a stable order."""
        found = await self.repository.referral_statuses_of_case(case_id)
        return sorted(found, key=lambda view: (view.request_id or "", view.referral_id))

    def categories(self) -> list[Category]:
        return list(CATEGORIES.values())
