"""Intake's repository: its interface in domain terms, and its implementation on the MongoDB-compatible store.

Every write that carries events stores them in the same document write as the state (the transactional outbox
of migradesk_shared.outbox) and then tells the relay (`on_write`), so no route or use case can forget either.
Every query on the request path is an `_id` look-up or an equality on the leading field of an index, so the
desk stays as fast with 10^5 cases as with ten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from migradesk_intake.adapters.group_commit import GroupInsert
from migradesk_intake.adapters.mappers import (
    StoredEvent,
    access_document,
    access_from_document,
    case_document,
    case_from_document,
    case_state,
    outbox_entries,
    person_change_document,
    person_record_document,
    person_record_from_document,
    referral_status_document,
    referral_status_from_document,
    scrub_profiles,
    stored_event,
    write_document,
)
from migradesk_intake.adapters.search_index import GroupCommittedSearchIndex, MongoPersonSearchIndex, PersonSearchIndex
from migradesk_intake.adapters.worklist import GroupCommittedWorklist, MongoWorklistIndex, WorklistIndex
from migradesk_intake.domain.audit import Access, Write
from migradesk_intake.domain.case import Case, CaseEvent
from migradesk_intake.domain.person import RegisteredPerson
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_shared.audit_log import ChainedLog, Verification
from migradesk_shared.errors import Conflict
from migradesk_shared.outbox import new_document_outbox


@dataclass(frozen=True)
class ListedPerson:
    full_name: str | None  # None once erased
    case_ids: tuple[str, ...]


# Each write of a referral's status: (the status held when it was read, or None for a new one; the new status).
StatusWrite = tuple[ReferralStatusView | None, ReferralStatusView]

# The access log's key when none is given: tests and tools. The service derives its own from its secrets.
DEVELOPMENT_AUDIT_KEY = b"migradesk-development-audit-key"


@dataclass(frozen=True)
class AuditQuery:
    """Whose records (a person's, or an actor's), in which period, how many at most."""

    person_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200

    def __post_init__(self) -> None:
        if (self.person_id is None) == (self.actor is None):
            raise ValueError("the access log is read by person or by actor: name one of the two")


# Called after a write that stored events in a document's outbox: (collection name, document id).
OnWrite = Callable[[str, Any], None]
# `activities` holds the activities logged before the governance register kept them: only its relay still reads
# it, so that whatever a store written then has not published yet still goes out.
CASES, PERSONS, ACTIVITIES, GOVERNANCE = "cases", "persons", "activities", "governance"
# The collections whose documents carry an outbox: the runtime's relay publishes them. A person's record holds
# every event keyed by the person (their profile for the partner network, its tombstones), so they go out in the
# order they were written; a case holds its case events.
# The governance register's records carry theirs too (adapters/governance.py).
OUTBOX_COLLECTIONS = (CASES, PERSONS, ACTIVITIES, GOVERNANCE)


# What a read of a record returns: never its outbox (the relay's) nor its audit trail (the timeline's, read apart).
PERSON_FIELDS = {"outbox": 0, "audit": 0}
LISTED_FIELDS = {"person.full_name": 1, "person.erased": 1, "cases": 1}
CASE_FIELDS = {"outbox": 0}


def no_relay(collection: str, doc_id: Any) -> None:
    return None


class IntakeRepository(Protocol):
    """Where intake keeps people's records (with the look-up keys they are found by), cases, the access log
    and its read model of referrals (the governance register has its own, adapters/governance.py). Every write of
    a record carrying events stores them with it.
    `worklist` and `search` are the indexes the desk lists cases and finds people by, on the same store."""

    worklist: WorklistIndex
    search: PersonSearchIndex

    async def ensure_indexes(self) -> None: ...

    async def add_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *, write: Write) -> None:
        """Store a new person's record with its events. Conflict if the id exists."""
        ...

    async def attach_case(self, person_id: str, case_id: str, events: Sequence[CaseEvent]) -> bool:
        """Add a case to a registered person's record, with `events` (their profile shared for it). False if the
        person is unknown or erased. Not a change of the person's data: the version stays."""
        ...

    async def get_person(self, person_id: str) -> RegisteredPerson | None: ...

    async def get_persons(self, person_ids: Sequence[str]) -> dict[str, RegisteredPerson]: ...

    async def listed_persons(self, person_ids: Sequence[str]) -> dict[str, ListedPerson]:
        """What a list shows of each person: their name (None once erased) and their cases, oldest first."""
        ...

    async def save_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *,
                          expected_version: int, write: Write, scrub: bool = False) -> bool:
        """Store the person's record as `registered` if its version is still `expected_version` (the write that
        made `registered` is its last change), with `events` appended; with `scrub`, the profile events it
        still holds are scrubbed first. False (nothing written) when it changed meanwhile or is gone."""
        ...

    async def set_match_keys(self, person_id: str, keys: Sequence[str], *, replace: bool = True) -> None:
        """The keys the person is found by from now on (those they had before are dropped, unless `replace` is
        False: a person just registered has none); none: forgotten."""
        ...

    async def persons_matching(self, keys: Sequence[str], *, limit: int) -> list[RegisteredPerson]:
        """People with one of these look-up keys (see domain.duplicates.match_keys), at most `limit`."""
        ...

    async def add_case(self, case: Case, events: Sequence[CaseEvent]) -> None:
        """Store a new case with its events and the write that opened it. Conflict if the id exists."""
        ...

    async def get_case(self, case_id: str) -> Case | None:
        """The case with its person as their record holds them now."""
        ...

    async def get_cases(self, case_ids: Sequence[str]) -> list[Case]:
        """The cases found, in the order asked, each with its person (two queries whatever their number)."""
        ...

    async def save_case(self, case: Case, events: Sequence[CaseEvent], *, expected_version: int) -> bool:
        """Store the case as `case` if its version is still `expected_version`, with the writes made since (its
        timeline) and `events`. False (nothing written) when it changed meanwhile or is gone."""
        ...

    async def record_access(self, access: Access) -> None: ...

    async def audit_trail(self, query: AuditQuery) -> list[Access]:
        """The access log's records of a person or of an actor (one of the two), within the period, newest first,
        at most `query.limit`."""
        ...

    async def verify_audit(self) -> Verification:
        """Check every record of the access log against its chain (see migradesk_shared.audit_log)."""
        ...

    async def record_accesses(self, accesses: Sequence[Access]) -> None:
        """Several reads at once (a page listing people), in one write."""
        ...

    async def accesses_to(self, person_id: str) -> list[Access]:
        """The reads of a person's data, oldest first (their right to know who saw it)."""
        ...

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        """The events stored with a case, in order: what the relay publishes (or published)."""
        ...

    async def person_events(self, person_id: str) -> list[StoredEvent]:
        """The events stored with a person's record, in order (their profile, its tombstones)."""
        ...

    async def referral_statuses_by_id(self, referral_ids: Sequence[str]) -> dict[str, ReferralStatusView]:
        """The statuses held of these referrals (the ones not known yet are missing)."""
        ...

    async def save_referral_statuses(self, writes: Sequence[StatusWrite]) -> bool:
        """Store the new statuses, each only if the status held is still the one read (compare-and-set). False
        if any was changed meanwhile (the others are stored): read them again and fold again."""
        ...

    async def referral_statuses_of_case(self, case_id: str) -> list[ReferralStatusView]: ...


class MongoIntakeRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = no_relay, *,
                 audit_key: bytes = DEVELOPMENT_AUDIT_KEY) -> None:
        self.cases = db[CASES]
        # One record per person, whatever their number of cases: their data is corrected in one place.
        self.persons = db[PERSONS]
        self.audit = db["audit_log"]
        # Appended only, each record chained to the one before (HMAC under `audit_key`): see shared audit_log.
        self.audit_log = ChainedLog(self.audit, db["audit_heads"], key=audit_key)
        # One entry per (look-up key, person): the phonetic name, the birth date, each document number. The store
        # has no $text and uses an index only for a top-level equality, so duplicate candidates are found
        # through these, never by scanning the cases.
        self.match_keys = db["match_keys"]
        # Intake's read model of referral's events: each referral's live status. De-identified, so an erasure
        # leaves it.
        self.referral_status = db["referral_status"]
        # Registrations under way at the same time share today's worklist documents and the posting chunks of common
        # names: their puts are written together.
        self.worklist: WorklistIndex = GroupCommittedWorklist(MongoWorklistIndex(db))
        self.search: PersonSearchIndex = GroupCommittedSearchIndex(MongoPersonSearchIndex(db))
        # New records of registrations under way are inserted together, one command per collection and batch.
        self._person_inserts = GroupInsert(self.persons)
        self._case_inserts = GroupInsert(self.cases)
        self._match_key_inserts = GroupInsert(self.match_keys)
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        await self.worklist.ensure_indexes()
        await self.search.ensure_indexes()
        await self.referral_status.create_index([("case_id", 1)])
        await self.match_keys.create_index([("key", 1)])
        await self.match_keys.create_index([("person_id", 1)])
        await self.audit.create_index([("subject_id", 1), ("at", 1)])
        await self.audit.create_index([("actor", 1), ("at", 1)])
        await self.audit_log.ensure_indexes()

    async def add_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *, write: Write) -> None:
        document = {**person_record_document(registered), "audit": [write_document(write)],
                    **new_document_outbox([])}
        entries = outbox_entries(events)
        document |= {"outbox": entries, "outbox_total": len(entries), "outbox_pending": bool(entries)}
        try:
            await self._person_inserts.insert([document])
        except DuplicateKeyError as exc:
            raise Conflict(f"person {registered.person_id} already exists", field="person_id") from exc
        if entries:
            self._on_write(PERSONS, registered.person_id)

    async def attach_case(self, person_id: str, case_id: str, events: Sequence[CaseEvent]) -> bool:
        entries = outbox_entries(events)
        update: dict[str, Any] = {"$push": {"cases": case_id}}
        if entries:
            update = {"$push": {"cases": case_id, "outbox": {"$each": entries}},
                      "$inc": {"outbox_total": len(entries)},
                      "$set": {"outbox_pending": True, "outbox_at": datetime.now(UTC)}}
        result = await self.persons.update_one({"_id": person_id, "person.erased": {"$ne": True}}, update)
        if not result.matched_count:
            return False
        if entries:
            self._on_write(PERSONS, person_id)
        return True

    async def get_person(self, person_id: str) -> RegisteredPerson | None:
        doc = await self.persons.find_one({"_id": person_id}, PERSON_FIELDS)
        return person_record_from_document(doc) if doc is not None else None

    async def get_persons(self, person_ids: Sequence[str]) -> dict[str, RegisteredPerson]:
        if not person_ids:
            return {}
        docs = await self.persons.find({"_id": {"$in": list(dict.fromkeys(person_ids))}}, PERSON_FIELDS).to_list()
        return {doc["_id"]: person_record_from_document(doc) for doc in docs}

    async def listed_persons(self, person_ids: Sequence[str]) -> dict[str, ListedPerson]:
        if not person_ids:
            return {}
        # Only the name and the cases travel: a list page reads 20-25 records, each with all of a person's data.
        docs = await self.persons.find({"_id": {"$in": list(dict.fromkeys(person_ids))}}, LISTED_FIELDS).to_list()
        return {doc["_id"]: ListedPerson(full_name=None if doc["person"].get("erased") else doc["person"]["full_name"],
                                         case_ids=tuple(doc.get("cases", ()))) for doc in docs}

    async def save_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *,
                          expected_version: int, write: Write, scrub: bool = False) -> bool:
        state = person_record_document(registered)
        changes: dict[str, Any] = {"person": state["person"], "version": registered.version}
        update: dict[str, Any] = {"$set": changes, "$push": {"audit": write_document(write)}}
        if registered.changes and registered.changes[-1].version == registered.version:
            update["$push"]["changes"] = person_change_document(registered.changes[-1])
        guard = {"_id": registered.person_id, "version": expected_version}
        entries = outbox_entries(events)
        if scrub:
            # The whole outbox is rewritten: conditional on the version, so no event appended meanwhile is lost
            # (every write that appends to it also changes the version or is an attach_case, which is guarded
            # by the event count below).
            stored = await self.persons.find_one(guard, {"outbox": 1, "outbox_total": 1})
            if stored is None:
                return False
            outbox = scrub_profiles(stored.get("outbox", [])) + entries
            guard["outbox_total"] = stored.get("outbox_total", 0)
            changes |= {"outbox": outbox, "outbox_total": len(outbox)}
        elif entries:
            update["$push"]["outbox"] = {"$each": entries}
            update["$inc"] = {"outbox_total": len(entries)}
        if entries or scrub:
            changes |= {"outbox_pending": True, "outbox_at": write.at}
        result = await self.persons.update_one(guard, update)
        if not result.matched_count:
            return False
        if entries or scrub:
            self._on_write(PERSONS, registered.person_id)
        return True

    async def set_match_keys(self, person_id: str, keys: Sequence[str], *, replace: bool = True) -> None:
        # Replaced, not merged: a corrected name must stop finding the person by the old one.
        if replace:
            await self.match_keys.delete_many({"person_id": person_id})
        if keys:
            await self._match_key_inserts.insert([{"_id": f"{key}|{person_id}", "key": key, "person_id": person_id}
                                                  for key in dict.fromkeys(keys)])

    async def add_match_keys_many(self, keys_of: Sequence[tuple[str, Sequence[str]]]) -> None:
        """The look-up keys of people who have none yet (a rebuild of the index): one write for all of them."""
        docs = [{"_id": f"{key}|{person_id}", "key": key, "person_id": person_id}
                for person_id, keys in keys_of for key in dict.fromkeys(keys)]
        if docs:
            await self.match_keys.insert_many(docs, ordered=False)

    async def persons_matching(self, keys: Sequence[str], *, limit: int) -> list[RegisteredPerson]:
        found: dict[str, None] = {}
        for key in keys:
            async for entry in self.match_keys.find({"key": key}, {"person_id": 1}).limit(limit):
                found[entry["person_id"]] = None
        people = await self.get_persons(list(found)[:limit])
        return [people[person_id] for person_id in found if person_id in people]

    async def add_case(self, case: Case, events: Sequence[CaseEvent]) -> None:
        # State and events in ONE document write: the transactional outbox.
        document = {**case_document(case), **new_document_outbox([])}
        entries = outbox_entries(events)
        document |= {"outbox": entries, "outbox_total": len(entries), "outbox_pending": bool(entries)}
        try:
            await self._case_inserts.insert([document])
        except DuplicateKeyError as exc:
            raise Conflict(f"case {case.case_id} already exists", field="case_id") from exc
        if entries:
            self._on_write(CASES, case.case_id)

    async def get_case(self, case_id: str) -> Case | None:
        doc = await self.cases.find_one({"_id": case_id}, CASE_FIELDS)
        if doc is None:
            return None
        return case_from_document(doc, await self.get_person(doc["person_id"]))

    async def get_cases(self, case_ids: Sequence[str]) -> list[Case]:
        if not case_ids:
            return []
        docs = await self.cases.find({"_id": {"$in": list(dict.fromkeys(case_ids))}}, CASE_FIELDS).to_list()
        people = await self.get_persons([doc["person_id"] for doc in docs])
        by_id = {doc["_id"]: case_from_document(doc, people.get(doc["person_id"])) for doc in docs}
        return [by_id[case_id] for case_id in case_ids if case_id in by_id]

    async def save_case(self, case: Case, events: Sequence[CaseEvent], *, expected_version: int) -> bool:
        new_writes = case.writes_since(expected_version)
        entries = outbox_entries(events)
        push: dict[str, Any] = {"audit": {"$each": [write_document(w) for w in new_writes]}}
        update: dict[str, Any] = {"$set": case_state(case), "$push": push}
        if entries:
            push["outbox"] = {"$each": entries}
            update["$inc"] = {"outbox_total": len(entries)}
            update["$set"] |= {"outbox_pending": True, "outbox_at": new_writes[-1].at if new_writes
                               else datetime.now(UTC)}
        result = await self.cases.update_one({"_id": case.case_id, "version": expected_version}, update)
        if not result.matched_count:
            return False
        if entries:
            self._on_write(CASES, case.case_id)
        return True

    async def record_access(self, access: Access) -> None:
        # LGPD: every read of a person record is audited (who, when, what), ids only. Writes carry their audit
        # entry inside the document they change, in the same write.
        await self.audit_log.append([access_document(access)])

    async def record_accesses(self, accesses: Sequence[Access]) -> None:
        if accesses:
            await self.audit_log.append([access_document(a) for a in accesses])

    async def accesses_to(self, person_id: str) -> list[Access]:
        docs = await self.audit.find({"subject_id": person_id}).sort("at", 1).to_list()
        return [access_from_document(doc) for doc in docs]

    async def audit_trail(self, query: AuditQuery) -> list[Access]:
        # An equality on the leading field of an index (subject_id or actor); the period is filtered beside it.
        selector: dict[str, Any] = ({"subject_id": query.person_id} if query.person_id is not None
                                    else {"actor": query.actor})
        period = {**({"$gte": query.since} if query.since else {}), **({"$lt": query.until} if query.until else {})}
        if period:
            selector["at"] = period
        docs = await self.audit.find(selector).sort("at", -1).limit(query.limit).to_list()
        return [access_from_document(doc) for doc in docs]

    async def verify_audit(self) -> Verification:
        return await self.audit_log.verify()

    async def case_events(self, case_id: str) -> list[StoredEvent]:
        doc = await self.cases.find_one({"_id": case_id}, {"outbox": 1})
        return [stored_event(e) for e in doc.get("outbox", [])] if doc else []

    async def person_events(self, person_id: str) -> list[StoredEvent]:
        doc = await self.persons.find_one({"_id": person_id}, {"outbox": 1})
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
                                           "last_event_id": guard["last_event_id"],
                                           "overdue_at": guard["overdue_at"]}, referral_status_document(after)))
        if changed:
            result = await self.referral_status.bulk_write(changed, ordered=False)
            applied = applied and result.matched_count == len(changed)
        return applied

    async def referral_statuses_of_case(self, case_id: str) -> list[ReferralStatusView]:
        docs = await self.referral_status.find({"case_id": case_id}).to_list()
        return [referral_status_from_document(doc) for doc in docs]
