"""An in-memory IntakeRepository for fast tests, keeping the store's rules: unique ids (Conflict), look-up keys
written once per (key, case), the conditional erasure, and events kept as outbox entries written with the
state (the same entries the store keeps) with the relay told after each such write."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from migradesk_intake.adapters.mappers import (
    StoredEvent,
    outbox_entries,
    scrub_profiles,
    stored_event,
    tombstones,
    with_topics,
)
from migradesk_intake.adapters.repository import ACTIVITIES, CASES, OnWrite, StatusWrite, no_relay
from migradesk_intake.domain.activity import LoggedActivity
from migradesk_intake.domain.audit import Access, AccessKind
from migradesk_intake.domain.case import Case, CaseEvent
from migradesk_intake.domain.duplicates import match_keys, person_record
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_shared.errors import Conflict
from migradesk_shared.outbox import new_document_outbox


@dataclass
class _StoredCase:
    case: Case
    outbox: list[dict[str, Any]]
    writes: list[tuple[str, AccessKind]] = field(default_factory=list)  # (actor, action), like `audit`


@dataclass
class _StoredActivity:
    activity: LoggedActivity
    outbox: list[dict[str, Any]]
    logged_by: str


@dataclass(frozen=True)
class _MatchKey:
    key: str
    person_id: str
    case_id: str


class InMemoryIntakeRepository:
    def __init__(self, on_write: OnWrite = no_relay) -> None:
        self._cases: dict[str, _StoredCase] = {}
        self._activities: dict[str, _StoredActivity] = {}
        self._match_keys: dict[str, _MatchKey] = {}  # by "key|case_id", unique like the store's _id
        self._accesses: list[Access] = []
        self._referral_status: dict[str, ReferralStatusView] = {}
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        return None

    async def add_case(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> None:
        if case.person is None:
            raise ValueError("a case is opened with its person")
        for key in match_keys(person_record(case.person_id, case.person)):
            self._match_keys.setdefault(f"{key}|{case.case_id}", _MatchKey(key, case.person_id, case.case_id))
        outbox = new_document_outbox(with_topics(events))["outbox"]
        if case.case_id in self._cases:
            raise Conflict(f"case {case.case_id} already exists", field="case_id")
        self._cases[case.case_id] = _StoredCase(replace(case, events_stored=len(outbox)), outbox,
                                                [(actor, AccessKind.CASE_OPEN)])
        self._on_write(CASES, case.case_id)

    async def get_case(self, case_id: str) -> Case | None:
        stored = self._cases.get(case_id)
        return stored.case if stored is not None else None

    async def person_is_registered(self, person_id: str) -> bool:
        return any(s.case.person_id == person_id and not s.case.erased for s in self._cases.values())

    async def cases_matching(self, keys: Sequence[str], *, limit: int) -> list[Case]:
        found: dict[str, None] = {}
        for key in keys:
            for entry in [m for m in self._match_keys.values() if m.key == key][:limit]:
                found[entry.case_id] = None
        return [self._cases[c].case for c in list(found)[:limit] if c in self._cases]

    async def case_ids_of_person(self, person_id: str) -> list[str]:
        of_person = [s.case for s in self._cases.values() if s.case.person_id == person_id]
        return [c.case_id for c in sorted(of_person, key=lambda c: c.opened_at, reverse=True)]

    async def forget_match_keys(self, person_id: str) -> None:
        self._match_keys = {k: m for k, m in self._match_keys.items() if m.person_id != person_id}

    async def save_erasure(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> bool:
        if case.erased_at is None:
            raise ValueError("only an erased case is saved as one")
        stored = self._cases.get(case.case_id)
        if stored is None or len(stored.outbox) != case.events_stored:
            return False
        stored.outbox = scrub_profiles(stored.outbox) + tombstones(events)
        stored.case = replace(case, events_stored=len(stored.outbox))
        stored.writes.append((actor, AccessKind.PERSON_ERASE))
        self._on_write(CASES, case.case_id)
        return True

    async def save_consent(self, case: Case, events: Sequence[CaseEvent], *, scrub: bool, actor: str,
                           at: datetime) -> bool:
        if case.person is None:
            raise ValueError("an erased case has no consent to change")
        stored = self._cases.get(case.case_id)
        if stored is None or len(stored.outbox) != case.events_stored or stored.case.erased:
            return False
        stored.outbox = (scrub_profiles(stored.outbox) if scrub else stored.outbox) + outbox_entries(events)
        stored.case = replace(case, events_stored=len(stored.outbox))
        stored.writes.append((actor, AccessKind.CONSENT_CHANGE))
        if events:
            self._on_write(CASES, case.case_id)
        return True

    async def record_access(self, access: Access) -> None:
        self._accesses.append(access)

    async def accesses_to(self, person_id: str) -> list[Access]:
        return sorted((a for a in self._accesses if a.subject_id == person_id), key=lambda a: a.at)

    async def add_activity(self, logged: LoggedActivity, *, actor: str) -> None:
        if logged.activity_id in self._activities:
            raise Conflict(f"activity {logged.activity_id} already exists", field="activity_id")
        outbox = new_document_outbox(with_topics([logged.event]))["outbox"]
        self._activities[logged.activity_id] = _StoredActivity(logged, outbox, actor)
        self._on_write(ACTIVITIES, logged.activity_id)

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        stored = self._cases.get(case_id)
        return [stored_event(copy.deepcopy(e)) for e in stored.outbox] if stored else []

    async def activity_events(self, activity_id: str) -> list[StoredEvent]:
        stored = self._activities.get(activity_id)
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
