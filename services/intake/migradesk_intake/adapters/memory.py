"""An in-memory IntakeRepository for fast tests, keeping the store's rules: unique ids (Conflict), look-up keys
replaced per person, writes conditional on the version read, and events kept as outbox entries written with the
state (the same entries the store keeps) with the relay told after each such write."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from migradesk_intake.adapters.mappers import (
    StoredEvent,
    access_document,
    outbox_entries,
    scrub_profiles,
    stored_event,
)
from migradesk_intake.adapters.repository import (
    CASES,
    DEVELOPMENT_AUDIT_KEY,
    PERSONS,
    AuditQuery,
    ListedPerson,
    OnWrite,
    StatusWrite,
    no_relay,
)
from migradesk_intake.adapters.search_index import InMemoryPersonSearchIndex, PersonSearchIndex
from migradesk_intake.adapters.worklist import InMemoryWorklistIndex, WorklistIndex
from migradesk_intake.domain.audit import Access, Write
from migradesk_intake.domain.case import Case, CaseEvent
from migradesk_intake.domain.person import RegisteredPerson
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_shared.audit_log import GENESIS, Verification, chain_records, verify_chain
from migradesk_shared.errors import Conflict


@dataclass
class _Stored:
    """A record with its outbox entries and its audit trail, like a document of the store."""

    outbox: list[dict[str, Any]]
    writes: list[Write]


@dataclass
class _StoredCase(_Stored):
    case: Case = field(kw_only=True)


@dataclass
class _StoredPerson(_Stored):
    registered: RegisteredPerson = field(kw_only=True)


AUDIT_CHAIN = "memory"


class InMemoryIntakeRepository:
    def __init__(self, on_write: OnWrite = no_relay) -> None:
        self._cases: dict[str, _StoredCase] = {}
        self._persons: dict[str, _StoredPerson] = {}
        self._match_keys: dict[str, set[str]] = {}  # person id -> keys
        self._accesses: list[Access] = []
        self._audit_chain: list[dict[str, Any]] = []
        self._referral_status: dict[str, ReferralStatusView] = {}
        self.worklist: WorklistIndex = InMemoryWorklistIndex()
        self.search: PersonSearchIndex = InMemoryPersonSearchIndex()
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        return None

    async def add_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *, write: Write) -> None:
        if registered.person_id in self._persons:
            raise Conflict(f"person {registered.person_id} already exists", field="person_id")
        self._persons[registered.person_id] = _StoredPerson(outbox_entries(events), [write], registered=registered)
        if events:
            self._on_write(PERSONS, registered.person_id)

    async def attach_case(self, person_id: str, case_id: str, events: Sequence[CaseEvent]) -> bool:
        stored = self._persons.get(person_id)
        if stored is None or stored.registered.erased:
            return False
        stored.registered = replace(stored.registered, case_ids=(*stored.registered.case_ids, case_id))
        stored.outbox += outbox_entries(events)
        if events:
            self._on_write(PERSONS, person_id)
        return True

    async def get_person(self, person_id: str) -> RegisteredPerson | None:
        stored = self._persons.get(person_id)
        return stored.registered if stored is not None else None

    async def get_persons(self, person_ids: Sequence[str]) -> dict[str, RegisteredPerson]:
        return {i: self._persons[i].registered for i in person_ids if i in self._persons}

    async def listed_persons(self, person_ids: Sequence[str]) -> dict[str, ListedPerson]:
        found = await self.get_persons(person_ids)
        return {i: ListedPerson(r.person.full_name if r.person is not None else None, r.case_ids)
                for i, r in found.items()}

    async def save_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *,
                          expected_version: int, write: Write, scrub: bool = False) -> bool:
        stored = self._persons.get(registered.person_id)
        if stored is None or stored.registered.version != expected_version:
            return False
        # The cases attached meanwhile stay: a save writes the person's data, not their list of cases.
        stored.registered = replace(registered, case_ids=stored.registered.case_ids)
        stored.outbox = (scrub_profiles(stored.outbox) if scrub else stored.outbox) + outbox_entries(events)
        stored.writes.append(write)
        if events or scrub:
            self._on_write(PERSONS, registered.person_id)
        return True

    async def set_match_keys(self, person_id: str, keys: Sequence[str], *, replace: bool = True) -> None:
        self._match_keys[person_id] = set(keys)
        if not keys:
            del self._match_keys[person_id]

    async def persons_matching(self, keys: Sequence[str], *, limit: int) -> list[RegisteredPerson]:
        wanted = set(keys)
        found = [person_id for person_id, held in self._match_keys.items() if held & wanted][:limit]
        return [self._persons[p].registered for p in found if p in self._persons]

    async def add_case(self, case: Case, events: Sequence[CaseEvent]) -> None:
        if case.case_id in self._cases:
            raise Conflict(f"case {case.case_id} already exists", field="case_id")
        outbox = outbox_entries(events)
        self._cases[case.case_id] = _StoredCase(outbox, list(case.writes),
                                                case=replace(case, person=None, events_stored=len(outbox)))
        if events:
            self._on_write(CASES, case.case_id)

    def _joined(self, stored: _StoredCase) -> Case:
        person = self._persons.get(stored.case.person_id)
        registered = person.registered if person is not None else None
        return replace(stored.case, person=registered.person if registered else None,
                       erased_at=stored.case.erased_at or (registered.erased_at if registered else None),
                       events_stored=len(stored.outbox), writes=tuple(stored.writes))

    async def get_case(self, case_id: str) -> Case | None:
        stored = self._cases.get(case_id)
        return self._joined(stored) if stored is not None else None

    async def get_cases(self, case_ids: Sequence[str]) -> list[Case]:
        return [self._joined(self._cases[c]) for c in dict.fromkeys(case_ids) if c in self._cases]

    async def save_case(self, case: Case, events: Sequence[CaseEvent], *, expected_version: int) -> bool:
        stored = self._cases.get(case.case_id)
        if stored is None or stored.case.version != expected_version:
            return False
        new_writes = case.writes_since(expected_version)
        stored.case = replace(case, person=None)
        stored.writes += new_writes
        stored.outbox += outbox_entries(events)
        if events:
            self._on_write(CASES, case.case_id)
        return True

    async def record_access(self, access: Access) -> None:
        await self.record_accesses([access])

    async def record_accesses(self, accesses: Sequence[Access]) -> None:
        # Chained as the store's log chains them, so the same verification holds over both.
        self._audit_chain += chain_records(AUDIT_CHAIN, len(self._audit_chain),
                                           self._audit_chain[-1]["hash"] if self._audit_chain else GENESIS,
                                           [access_document(a) for a in accesses], DEVELOPMENT_AUDIT_KEY)
        self._accesses.extend(accesses)

    async def audit_trail(self, query: AuditQuery) -> list[Access]:
        found = [a for a in self._accesses
                 if (a.subject_id == query.person_id if query.person_id is not None else a.actor == query.actor)
                 and (query.since is None or a.at >= query.since) and (query.until is None or a.at < query.until)]
        return sorted(found, key=lambda a: a.at, reverse=True)[:query.limit]

    async def verify_audit(self) -> Verification:
        head = ({"seq": len(self._audit_chain), "hash": self._audit_chain[-1]["hash"]} if self._audit_chain
                else None)
        return Verification([verify_chain(AUDIT_CHAIN, self._audit_chain, head, DEVELOPMENT_AUDIT_KEY)])

    async def accesses_to(self, person_id: str) -> list[Access]:
        return sorted((a for a in self._accesses if a.subject_id == person_id), key=lambda a: a.at)

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        stored = self._cases.get(case_id)
        return [stored_event(copy.deepcopy(e)) for e in stored.outbox] if stored else []

    async def person_events(self, person_id: str) -> list[StoredEvent]:
        stored = self._persons.get(person_id)
        return [stored_event(copy.deepcopy(e)) for e in stored.outbox] if stored else []

    async def referral_statuses_by_id(self, referral_ids: Sequence[str]) -> dict[str, ReferralStatusView]:
        return {i: self._referral_status[i] for i in referral_ids if i in self._referral_status}

    async def save_referral_statuses(self, writes: Sequence[StatusWrite]) -> bool:
        applied = True
        for held, after in writes:
            # The store's compare-and-set: a new one only if absent, a change only over the status read.
            current = self._referral_status.get(after.referral_id)
            if current != held:
                applied = False
                continue
            self._referral_status[after.referral_id] = after
        return applied

    async def referral_statuses_of_case(self, case_id: str) -> list[ReferralStatusView]:
        return [view for view in self._referral_status.values() if view.case_id == case_id]
