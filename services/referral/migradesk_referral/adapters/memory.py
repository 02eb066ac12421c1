"""ReferralRepository in memory, for fast tests of the use cases. It keeps the store's rules: one referral per
routing attempt (unique keys), conditional writes on the version read (Conflict), events stored with the state
they belong to (and the relay told), agencies' open-referral counters, and times kept to the millisecond."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from migradesk_referral.adapters.repository import (
    REFERRALS,
    Events,
    OnWrite,
    QueuePosition,
    StoredEvent,
    audit_entry,
    changed_agency_meanwhile,
    changed_meanwhile,
    no_relay,
)
from migradesk_referral.domain.directory import AgencyChange
from migradesk_referral.domain.notifications import Notice, NoticeStatus
from migradesk_referral.domain.person import ContactRead, PersonContact
from migradesk_referral.domain.record import ReferralRecord
from migradesk_referral.domain.routing import Agency, AgencyCandidate
from migradesk_shared.audit_log import GENESIS, Verification, chain_records, verify_chain
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea


def _ms(at: datetime) -> datetime:
    # The store keeps times to the millisecond (BSON dates); so does this one, so tests see what they would.
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _notice_as_stored(notice: Notice) -> Notice:
    return replace(notice, created_at=_ms(notice.created_at), not_before=_ms(notice.not_before),
                   deadline=_ms(notice.deadline) if notice.deadline else None,
                   sent_at=_ms(notice.sent_at) if notice.sent_at else None)


def _as_stored(record: ReferralRecord) -> ReferralRecord:
    state = record.state
    state = replace(state, scheduled_for=_ms(state.scheduled_for) if state.scheduled_for else None,
                    history=tuple(replace(h, at=_ms(h.at)) for h in state.history))
    return replace(record, state=state, created_at=_ms(record.created_at), updated_at=_ms(record.updated_at),
                   response_due_at=_ms(record.response_due_at),
                   notices=tuple(_notice_as_stored(n) for n in record.notices))


def _audit(change: AgencyChange) -> dict[str, object]:
    entry = audit_entry(change)
    return {**entry, "at": _ms(change.at)}


class InMemoryReferralRepository:
    def __init__(self, on_write: OnWrite = no_relay) -> None:
        self._agencies: dict[str, Agency] = {}
        self._referrals: dict[str, ReferralRecord] = {}
        self._attempts: set[tuple[str, int]] = set()  # the unique (request_id, routing_attempt)
        self._outboxes: dict[str, list[StoredEvent]] = {}
        self._persons: dict[str, PersonContact] = {}
        self._case_persons: dict[str, str] = {}
        self._contact_reads: list[ContactRead] = []
        self._on_write = on_write

    async def prepare(self) -> None:
        return None

    # -- the agency directory -------------------------------------------------------------------------------
    async def add_agencies(self, agencies: Sequence[Agency]) -> None:
        for agency in agencies:
            self._agencies.setdefault(agency.agency_id, replace(agency, open_referrals=0))

    async def directory(self) -> list[Agency]:
        return [self._agencies[k] for k in sorted(self._agencies)]

    async def agencies_serving(self, area: ServiceArea) -> list[AgencyCandidate]:
        return [a.candidate() for a in self._agencies.values() if area in a.areas and a.active]

    async def agency(self, agency_id: str) -> Agency | None:
        return self._agencies.get(agency_id)

    async def create_agency(self, agency: Agency, change: AgencyChange) -> bool:
        if agency.agency_id in self._agencies:
            return False
        self._agencies[agency.agency_id] = replace(agency, open_referrals=0, audit=(_audit(change),))
        return True

    async def save_agency(self, before: Agency, after: Agency, change: AgencyChange) -> None:
        stored = self._agencies.get(before.agency_id)
        if stored is None or stored.version != before.version:
            raise changed_agency_meanwhile(before.agency_id)
        # Not the counter: referral writes keep it meanwhile.
        self._agencies[before.agency_id] = replace(after, open_referrals=stored.open_referrals,
                                                   audit=(*stored.audit, _audit(change)))

    def _change_load(self, agency_id: str | None, delta: int) -> None:
        if agency_id is not None and delta and agency_id in self._agencies:
            agency = self._agencies[agency_id]
            self._agencies[agency_id] = replace(agency, open_referrals=agency.open_referrals + delta)

    def set_open_referrals(self, agency_id: str, count: int) -> None:
        """For tests: a counter that drifted (as a crash between two writes leaves it in the real store)."""
        self._agencies[agency_id] = replace(self._agencies[agency_id], open_referrals=count)

    async def recount_open_referrals(self) -> int:
        fixed = 0
        for agency_id, agency in list(self._agencies.items()):
            count = sum(1 for r in self._referrals.values() if r.agency_id == agency_id and r.is_open)
            if count != agency.open_referrals:
                self._agencies[agency_id] = replace(agency, open_referrals=count)
                fixed += 1
        return fixed

    # -- referrals ------------------------------------------------------------------------------------------
    def _store_events(self, referral_id: str, events: Events) -> None:
        self._outboxes.setdefault(referral_id, []).extend(
            StoredEvent(spec.name, event.event_type, json.loads(event.model_dump_json())) for spec, event in events)
        if events:
            self._on_write(REFERRALS, referral_id)

    async def add(self, referral: ReferralRecord, events: Events) -> bool:
        key = (referral.request.request_id, referral.attempt)
        if referral.referral_id in self._referrals or key in self._attempts:
            return False
        self._referrals[referral.referral_id] = _as_stored(referral)
        self._attempts.add(key)
        self._store_events(referral.referral_id, events)
        self._change_load(referral.agency_id, int(referral.is_open))
        return True

    async def add_many(self, routed: Sequence[tuple[ReferralRecord, Events]]) -> list[str]:
        return [r.referral_id for r, events in routed if await self.add(r, events)]

    async def get(self, referral_id: str) -> ReferralRecord | None:
        return self._referrals.get(referral_id)

    async def save_transition(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        stored = self._referrals.get(before.referral_id)
        if stored is None or stored.version != before.version:
            raise changed_meanwhile(before.referral_id)
        # Only what a lifecycle step changes; the rest stays as stored (as the store's update does).
        self._referrals[before.referral_id] = _as_stored(replace(
            stored, state=after.state, updated_at=after.updated_at, reroute_pending=after.reroute_pending,
            partner_responses=after.partner_responses))
        self._store_events(before.referral_id, events)
        self._change_load(before.agency_id, int(after.is_open) - int(before.is_open))

    async def readdress(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        stored = self._referrals.get(before.referral_id)
        if stored is None or stored.version != before.version:
            raise changed_meanwhile(before.referral_id)
        self._referrals[before.referral_id] = _as_stored(replace(
            stored, state=after.state, agency_id=after.agency_id, routing_reason=after.routing_reason,
            created_at=after.created_at, updated_at=after.updated_at, response_due_at=after.response_due_at,
            overdue=after.overdue, escalated_to=after.escalated_to, reroute_pending=after.reroute_pending,
            notices=(*stored.notices, *after.notices[len(before.notices):])))
        self._store_events(before.referral_id, events)
        self._change_load(before.agency_id, -int(before.is_open))
        self._change_load(after.agency_id, int(after.is_open))

    async def mark_overdue(self, referral: ReferralRecord, events: Events, notices: Sequence[Notice] = ()) -> bool:
        stored = self._referrals.get(referral.referral_id)
        if stored is None or stored.version != referral.version or stored.overdue:
            return False
        self._referrals[referral.referral_id] = _as_stored(replace(
            stored, overdue=True, escalated_to=referral.escalated_to, notices=(*stored.notices, *notices)))
        self._store_events(referral.referral_id, events)
        return True

    async def with_pending_notices(self, limit: int) -> list[ReferralRecord]:
        return [r for r in self._referrals.values() if r.notices_pending][:limit]

    def _notice(self, referral_id: str, notice_id: str) -> tuple[ReferralRecord, int] | None:
        stored = self._referrals.get(referral_id)
        if stored is None:
            return None
        at = next((i for i, n in enumerate(stored.notices) if n.notice_id == notice_id), None)
        return (stored, at) if at is not None else None

    async def claim_notice(self, referral_id: str, notice_id: str, *, now: datetime, until: datetime) -> bool:
        found = self._notice(referral_id, notice_id)
        if found is None:
            return False
        stored, at = found
        notice = stored.notices[at]
        if notice.status is not NoticeStatus.PENDING or notice.not_before > now:
            return False
        self._put_notice(stored, at, replace(notice, not_before=until))
        return True

    async def save_notice(self, referral_id: str, notice: Notice) -> None:
        found = self._notice(referral_id, notice.notice_id)
        if found is not None and found[0].notices[found[1]].pending:
            self._put_notice(found[0], found[1], notice)

    def _put_notice(self, stored: ReferralRecord, at: int, notice: Notice) -> None:
        notices = list(stored.notices)
        notices[at] = _notice_as_stored(notice)
        self._referrals[stored.referral_id] = replace(stored, notices=tuple(notices))

    async def overdue_in_area(self, area: ServiceArea, *, limit: int) -> list[ReferralRecord]:
        found = [r for r in self._referrals.values()
                 if r.status is ReferralStatus.PENDING and r.overdue and r.request.area is area]
        return sorted(found, key=lambda r: (r.response_due_at, r.referral_id))[:limit]

    async def count_overdue(self, agency_id: str) -> int:
        return sum(1 for r in self._referrals.values()
                   if r.agency_id == agency_id and r.status is ReferralStatus.PENDING and r.overdue)

    async def mark_rerouted(self, referral_id: str, rerouted_to: str) -> None:
        stored = self._referrals.get(referral_id)
        if stored is not None:
            self._referrals[referral_id] = replace(stored, reroute_pending=False, rerouted_to=rerouted_to)

    async def awaiting_reroute(self, limit: int) -> list[ReferralRecord]:
        return [r for r in self._referrals.values() if r.reroute_pending][:limit]

    async def unanswered_past_deadline(self, now: datetime, limit: int) -> list[ReferralRecord]:
        return [r for r in self._referrals.values()
                if r.status is ReferralStatus.PENDING and not r.overdue and r.response_due_at < now][:limit]

    async def for_case(self, case_id: str, *, agency_id: str | None = None,
                       status: ReferralStatus | None = None) -> list[ReferralRecord]:
        return [r for r in self._referrals.values() if r.case_id == case_id
                and (not agency_id or r.agency_id == agency_id) and (status is None or r.status is status)]

    async def with_status(self, status: ReferralStatus, *, agency_id: str | None = None,
                          limit: int) -> list[ReferralRecord]:
        found = [r for r in self._referrals.values()
                 if r.status is status and (not agency_id or r.agency_id == agency_id)]
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]

    async def needing_manual_routing(self, limit: int, after: QueuePosition | None = None) -> list[ReferralRecord]:
        queue = sorted((r for r in self._referrals.values() if r.status is ReferralStatus.NEEDS_MANUAL_ROUTING),
                       key=lambda r: (r.created_at, r.referral_id))
        if after is not None:
            queue = [r for r in queue if (r.created_at, r.referral_id) > (after.created_at, after.referral_id)]
        return queue[:limit]

    async def most_urgent(self, status: ReferralStatus, *, agency_id: str | None = None, overdue_only: bool = False,
                          limit: int) -> list[ReferralRecord]:
        found = [r for r in self._referrals.values() if r.status is status
                 and (not agency_id or r.agency_id == agency_id) and (r.overdue or not overdue_only)]
        return sorted(found, key=lambda r: (not r.overdue, r.response_due_at, r.referral_id))[:limit]

    async def stored_events(self, referral_id: str) -> list[StoredEvent]:
        return list(self._outboxes.get(referral_id, []))

    # -- local copies of the profiles intake shares ---------------------------------------------------------
    async def keep_person(self, person_id: str, case_id: str, contact: PersonContact) -> None:
        self._persons[person_id] = replace(contact, updated_at=_ms(contact.updated_at))
        self._case_persons[case_id] = person_id

    async def keep_persons(self, shared: Sequence[tuple[str, str, PersonContact]]) -> None:
        for person_id, case_id, contact in shared:
            await self.keep_person(person_id, case_id, contact)

    async def erase_person(self, person_id: str) -> None:
        self._persons.pop(person_id, None)
        for case_id in [c for c, p in self._case_persons.items() if p == person_id]:
            del self._case_persons[case_id]

    async def person_for_case(self, case_id: str) -> PersonContact | None:
        person_id = self._case_persons.get(case_id)
        return self._persons.get(person_id) if person_id else None

    # -- accountability -------------------------------------------------------------------------------------
    async def record_contact_read(self, read: ContactRead) -> None:
        self._contact_reads.append(replace(read, at=_ms(read.at)))

    async def verify_access_log(self) -> Verification:
        # The same chain the store's log keeps, over the reads kept here.
        records = chain_records("memory", 0, GENESIS, [
            {"actor": r.actor, "referral_id": r.referral_id, "case_id": r.case_id, "at": r.at, "channel": r.channel}
            for r in self._contact_reads], b"memory")
        head = {"seq": len(records), "hash": records[-1]["hash"]} if records else None
        return Verification([verify_chain("memory", records, head, b"memory")])

    async def contact_reads(self, referral_id: str) -> list[ContactRead]:
        return sorted((r for r in self._contact_reads if r.referral_id == referral_id), key=lambda r: r.at)
