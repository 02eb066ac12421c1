"""Intake's repository: its interface in domain terms, and its implementation on the MongoDB-compatible store.

Every write that carries events stores them in the same document write as the state (the transactional outbox
of migradesk_shared.outbox) and then tells the relay (`on_write`), so no route or use case can forget either.
Every query on the request path is an `_id` look-up or an equality on the leading field of an index, so the
desk stays as fast with 10^5 cases as with ten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from migradesk_intake.adapters.mappers import (
    StoredEvent,
    access_document,
    access_from_document,
    activity_document,
    audit_entry,
    case_document,
    case_from_document,
    erased_person_document,
    outbox_entries,
    person_document,
    referral_status_document,
    referral_status_from_document,
    request_document,
    scrub_profiles,
    stored_event,
    tombstones,
    with_topics,
)
from migradesk_intake.domain.activity import LoggedActivity
from migradesk_intake.domain.audit import Access, AccessKind
from migradesk_intake.domain.case import Case, CaseEvent
from migradesk_intake.domain.duplicates import match_keys, person_record
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_shared.errors import Conflict
from migradesk_shared.outbox import new_document_outbox

# Each write of a referral's status: (the status held when it was read, or None for a new one; the new status).
StatusWrite = tuple[ReferralStatusView | None, ReferralStatusView]

# Called after a write that stored events in a document's outbox: (collection name, document id).
OnWrite = Callable[[str, Any], None]
CASES, ACTIVITIES = "cases", "activities"
# The collections whose documents carry an outbox: the runtime's relay publishes them.
OUTBOX_COLLECTIONS = (CASES, ACTIVITIES)


def no_relay(collection: str, doc_id: Any) -> None:
    return None


class IntakeRepository(Protocol):
    """Where intake keeps cases (with the look-up keys of their people), the access log and activities."""

    async def ensure_indexes(self) -> None: ...

    async def add_case(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> None:
        """Store a new case with its events, and the keys its person is found by. Conflict if the id exists."""
        ...

    async def get_case(self, case_id: str) -> Case | None: ...

    async def person_is_registered(self, person_id: str) -> bool:
        """Some case holds this person, not erased."""
        ...

    async def cases_matching(self, keys: Sequence[str], *, limit: int) -> list[Case]:
        """Cases whose person has one of these look-up keys (see domain.duplicates.match_keys), at most `limit`."""
        ...

    async def case_ids_of_person(self, person_id: str) -> list[str]:
        """Newest first."""
        ...

    async def forget_match_keys(self, person_id: str) -> None: ...

    async def save_erasure(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> bool:
        """Store an erased case: its personal data go, also from the profile events it still stores, and
        `events` are added. Conditional: False (nothing written) when the case has stored events since it was
        read (`case.events_stored`) or is gone; read it again then."""
        ...

    async def save_consent(self, case: Case, events: Sequence[CaseEvent], *, scrub: bool, actor: str,
                           at: datetime) -> bool:
        """Store a case whose person's consent changed, with `events` appended; with `scrub`, the
        profile events it still stores are scrubbed first (as an erasure does). Conditional like save_erasure:
        False (nothing written) when the case stored events since it was read, or is gone or erased."""
        ...

    async def record_access(self, access: Access) -> None: ...

    async def accesses_to(self, person_id: str) -> list[Access]:
        """The reads of a person's data, oldest first (their right to know who saw it)."""
        ...

    async def add_activity(self, logged: LoggedActivity, *, actor: str) -> None: ...

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        """The events stored with a case, in order: what the relay publishes (or published)."""
        ...

    async def activity_events(self, activity_id: str) -> list[StoredEvent]: ...

    async def referral_statuses_by_id(self, referral_ids: Sequence[str]) -> dict[str, ReferralStatusView]:
        """The statuses held of these referrals (the ones not known yet are missing)."""
        ...

    async def save_referral_statuses(self, writes: Sequence[StatusWrite]) -> bool:
        """Store the new statuses, each only if the status held is still the one read (compare-and-set). False
        if any was changed meanwhile (the others are stored): read them again and fold again."""
        ...

    async def referral_statuses_of_case(self, case_id: str) -> list[ReferralStatusView]: ...


class MongoIntakeRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = no_relay) -> None:
        self.cases = db[CASES]
        self.audit = db["audit_log"]
        # Governance activities (trainings, participation events, information materials): no personal data.
        self.activities = db[ACTIVITIES]
        # One entry per (look-up key, case): the phonetic name, the birth date, each document number. The store
        # has no $text and uses an index only for a top-level equality, so duplicate candidates are found
        # through these, never by scanning the cases.
        self.match_keys = db["match_keys"]
        # Intake's read model of referral's events: each referral's live status. De-identified, so an erasure
        # leaves it.
        self.referral_status = db["referral_status"]
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("person_id", 1)])
        await self.referral_status.create_index([("case_id", 1)])
        await self.match_keys.create_index([("key", 1)])
        await self.match_keys.create_index([("person_id", 1)])
        await self.audit.create_index([("subject_id", 1), ("at", 1)])

    async def add_case(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> None:
        # The keys are written before the case: a crash in between leaves an entry pointing at no case, which
        # look-ups skip, rather than a case its twin can't find.
        if case.person is None:
            raise ValueError("a case is opened with its person")
        await self._index_match_keys(match_keys(person_record(case.person_id, case.person)),
                                     person_id=case.person_id, case_id=case.case_id)
        # State and events in ONE document write: the transactional outbox.
        document = {**case_document(case, actor=actor), **new_document_outbox(with_topics(events))}
        try:
            await self.cases.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict(f"case {case.case_id} already exists", field="case_id") from exc
        self._on_write(CASES, case.case_id)

    async def _index_match_keys(self, keys: list[str], *, person_id: str, case_id: str) -> None:
        if not keys:
            return
        try:
            await self.match_keys.insert_many([{"_id": f"{key}|{case_id}", "key": key, "person_id": person_id,
                                                "case_id": case_id} for key in keys], ordered=False)
        except BulkWriteError as exc:
            # Keys already there (a retried write) are fine; anything else is not.
            if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                raise

    async def get_case(self, case_id: str) -> Case | None:
        doc = await self.cases.find_one({"_id": case_id}, {"outbox": 0, "audit": 0})
        return case_from_document(doc) if doc is not None else None

    async def person_is_registered(self, person_id: str) -> bool:
        known = {"person_id": person_id, "person.erased": {"$ne": True}}
        return await self.cases.find_one(known, {"_id": 1}) is not None

    async def cases_matching(self, keys: Sequence[str], *, limit: int) -> list[Case]:
        found: dict[str, None] = {}
        for key in keys:
            async for entry in self.match_keys.find({"key": key}, {"case_id": 1}).limit(limit):
                found[entry["case_id"]] = None
        case_ids = list(found)[:limit]
        if not case_ids:
            return []
        docs = await self.cases.find({"_id": {"$in": case_ids}}, {"outbox": 0, "audit": 0}).to_list()
        return [case_from_document(doc) for doc in docs]

    async def case_ids_of_person(self, person_id: str) -> list[str]:
        docs = await self.cases.find({"person_id": person_id}, {"_id": 1, "opened_at": 1}) \
            .sort("opened_at", -1).to_list()
        return [doc["_id"] for doc in docs]

    async def forget_match_keys(self, person_id: str) -> None:
        await self.match_keys.delete_many({"person_id": person_id})

    async def save_erasure(self, case: Case, events: Sequence[CaseEvent], *, actor: str) -> bool:
        if case.erased_at is None:
            raise ValueError("only an erased case is saved as one")
        stored = await self.cases.find_one({"_id": case.case_id}, {"outbox": 1, "outbox_total": 1})
        if stored is None or stored.get("outbox_total", 0) != case.events_stored:
            return False
        outbox = scrub_profiles(stored.get("outbox", [])) + tombstones(events)
        # Conditional on the event count, so it never overwrites an event appended meanwhile; and because the
        # count changes, the relay will not clear `outbox_pending` on the strength of what it read before.
        result = await self.cases.update_one({"_id": case.case_id, "outbox_total": case.events_stored}, {
            "$set": {"person": erased_person_document(case.erased_at),
                     "requests": [request_document(r) for r in case.requests],
                     "outbox": outbox, "outbox_total": len(outbox), "outbox_pending": True,
                     "outbox_at": case.erased_at},
            "$unset": {"match_keys": ""},
            "$push": {"audit": audit_entry(actor, AccessKind.PERSON_ERASE, case.erased_at)}})
        if not result.matched_count:
            return False
        self._on_write(CASES, case.case_id)
        return True

    async def save_consent(self, case: Case, events: Sequence[CaseEvent], *, scrub: bool, actor: str,
                           at: datetime) -> bool:
        if case.person is None:
            raise ValueError("an erased case has no consent to change")
        stored = await self.cases.find_one({"_id": case.case_id}, {"outbox": 1, "outbox_total": 1, "person": 1})
        if stored is None or stored.get("outbox_total", 0) != case.events_stored or stored["person"].get("erased"):
            return False
        outbox = stored.get("outbox", [])
        outbox = (scrub_profiles(outbox) if scrub else outbox) + outbox_entries(events)
        changes: dict[str, Any] = {"person": person_document(case.person), "outbox": outbox,
                                   "outbox_total": len(outbox)}
        if events:
            changes |= {"outbox_pending": True, "outbox_at": at}
        # Conditional on the event count, as an erasure is: it never overwrites an event appended meanwhile.
        result = await self.cases.update_one({"_id": case.case_id, "outbox_total": case.events_stored}, {
            "$set": changes, "$push": {"audit": audit_entry(actor, AccessKind.CONSENT_CHANGE, at)}})
        if not result.matched_count:
            return False
        if events:
            self._on_write(CASES, case.case_id)
        return True

    async def record_access(self, access: Access) -> None:
        # LGPD: every read of a person record is audited (who, when, what), ids only. Writes carry their audit
        # entry inside the document they change, in the same write.
        await self.audit.insert_one(access_document(access))

    async def accesses_to(self, person_id: str) -> list[Access]:
        docs = await self.audit.find({"subject_id": person_id}).sort("at", 1).to_list()
        return [access_from_document(doc) for doc in docs]

    async def add_activity(self, logged: LoggedActivity, *, actor: str) -> None:
        document = {**activity_document(logged, actor=actor), **new_document_outbox(with_topics([logged.event]))}
        try:
            await self.activities.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict(f"activity {logged.activity_id} already exists", field="activity_id") from exc
        self._on_write(ACTIVITIES, logged.activity_id)

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        doc = await self.cases.find_one({"_id": case_id}, {"outbox": 1})
        return [stored_event(e) for e in doc.get("outbox", [])] if doc else []

    async def activity_events(self, activity_id: str) -> list[StoredEvent]:
        doc = await self.activities.find_one({"_id": activity_id}, {"outbox": 1})
        return [stored_event(e) for e in doc.get("outbox", [])] if doc else []

    async def referral_statuses_by_id(self, referral_ids: Sequence[str]) -> dict[str, ReferralStatusView]:
        if not referral_ids:
            return {}
        docs = await self.referral_status.find({"_id": {"$in": list(referral_ids)}}).to_list()
        return {doc["_id"]: referral_status_from_document(doc) for doc in docs}

    async def save_referral_statuses(self, writes: Sequence[StatusWrite]) -> bool:
        applied = True
        new = [referral_status_document(after) for held, after in writes if held is None]
        if new:
            try:
                await self.referral_status.insert_many(new, ordered=False)
            except BulkWriteError as exc:
                # Another consumer stored one of them first (a rebalance): the caller folds over it.
                if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                    raise
                applied = False
        # Each replacement only where the guard still holds the event it was folded over.
        changed = []
        for held, after in writes:
            if held is not None:
                guard = referral_status_document(held)
                changed.append(ReplaceOne({"_id": held.referral_id, "last_event_at": guard["last_event_at"],
                                           "last_event_id": guard["last_event_id"]}, referral_status_document(after)))
        if changed:
            result = await self.referral_status.bulk_write(changed, ordered=False)
            applied = applied and result.matched_count == len(changed)
        return applied

    async def referral_statuses_of_case(self, case_id: str) -> list[ReferralStatusView]:
        docs = await self.referral_status.find({"case_id": case_id}).to_list()
        return [referral_status_from_document(doc) for doc in docs]
