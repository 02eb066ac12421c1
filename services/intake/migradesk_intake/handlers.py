"""Intake's service layer: each command is one async handler over the store, calling the pure domain."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from migradesk_intake.domain.case import FacetSource, OpenedCase, open_case
from migradesk_intake.domain.duplicates import PersonRecord, find_candidates, normalise_document, phonetic_key
from migradesk_intake.domain.person import Consent
from migradesk_intake.schemas import (
    CandidateOut,
    CaseOut,
    DocumentIn,
    DuplicateCheckIn,
    InformationMaterialIn,
    OpenCaseIn,
    ParticipationEventIn,
    RequestOut,
    TrainingIn,
)
from migradesk_shared.contracts.activities import (
    ActivityEvent,
    InformationMaterialPublished,
    ParticipationEventHeld,
    TrainingHeld,
)
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.person_profiles import ConsentRecord, IdentityDocument, PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import DocumentType
from migradesk_shared.errors import NotFound
from migradesk_shared.outbox import new_document_outbox, tombstone_entry
from migradesk_shared.topics import ACTIVITIES, CASE_EVENTS, PERSON_PROFILES, TopicSpec

# Called after a write that stored events in a document's outbox: (collection name, document id).
OnWrite = Callable[[str, Any], None]


def _no_relay(collection: str, doc_id: Any) -> None:
    return None


class IntakeStore:
    """Intake's repository. Queries on the request path are `_id` look-ups or equalities on the leading field of
    an index, so the desk stays as fast with 10^5 cases as with ten."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = _no_relay) -> None:
        self.cases = db["cases"]
        self.audit = db["audit_log"]
        # Governance activities (trainings, participation events, information materials): no personal data.
        self.activities = db["activities"]
        # One entry per (look-up key, case): the phonetic name, the birth date, each document number. The store
        # has no $text and uses an index only for a top-level equality, so duplicate candidates are found
        # through these, never by scanning the cases.
        self.match_keys = db["match_keys"]
        self._on_write = on_write

    def written(self, collection: str, doc_id: str) -> None:
        self._on_write(collection, doc_id)

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("person_id", 1)])
        await self.match_keys.create_index([("key", 1)])
        await self.match_keys.create_index([("person_id", 1)])
        await self.audit.create_index([("subject_id", 1), ("at", 1)])

    async def record_access(self, *, actor: str, action: str, subject_id: str, case_id: str) -> None:
        """LGPD: every read of a person record is audited (who, when, what) — ids only. Writes carry their
        audit entry inside the document they change, in the same write."""
        await self.audit.insert_one({"_id": str(uuid.uuid4()), "actor": actor, "action": action,
                                     "subject_id": subject_id, "case_id": case_id, "at": datetime.now(UTC)})

    async def index_match_keys(self, keys: list[str], *, person_id: str, case_id: str) -> None:
        """Written before the case: a crash in between leaves an entry pointing at no case, which look-ups skip,
        rather than a case its twin can't find."""
        if not keys:
            return
        try:
            await self.match_keys.insert_many([{"_id": f"{key}|{case_id}", "key": key, "person_id": person_id,
                                                "case_id": case_id} for key in keys], ordered=False)
        except BulkWriteError as exc:
            if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                raise

    async def case_ids_matching(self, keys: list[str], limit: int) -> list[str]:
        found: dict[str, None] = {}
        for key in keys:
            async for entry in self.match_keys.find({"key": key}, {"case_id": 1}).limit(limit):
                found[entry["case_id"]] = None
        return list(found)[:limit]


def _match_keys(full_name: str, birth_date: date | None, documents: list[DocumentIn]) -> list[str]:
    keys = [f"name:{phonetic_key(full_name)}"]
    if birth_date:
        keys.append(f"born:{birth_date.isoformat()}")
    keys += [f"doc:{d.type.value}:{normalise_document(d.number)}" for d in documents]
    return keys


def _shared_profile(case: OpenedCase, payload: OpenCaseIn) -> list[tuple[TopicSpec, Event]]:
    """The person's profile for the partner network (restricted topic), only if the consent allows it."""
    person = payload.person
    consent = Consent(legal_basis=person.consent.legal_basis, share_with_partners=person.consent.share_with_partners,
                      recorded_on=case.opened_at.date(), recorded_by=person.consent.recorded_by)
    if not consent.allows_sharing_with_partners():
        return []
    return [(PERSON_PROFILES, PersonProfileUpserted(
        producer="intake", occurred_at=case.opened_at, correlation_id=case.case_id, person_id=case.person_id,
        case_id=case.case_id, full_name=person.full_name, birth_date=person.birth_date, sex=person.sex,
        nationality=person.nationality, languages=[person.preferred_language],
        migratory_status=person.migratory_status,
        documents=[IdentityDocument(type=d.type, number=d.number) for d in person.documents], phone=person.phone,
        consent=ConsentRecord(legal_basis=consent.legal_basis, share_with_partners=consent.share_with_partners,
                              recorded_at=consent.recorded_on, recorded_by=consent.recorded_by)))]


def _case_document(case: OpenedCase, payload: OpenCaseIn, actor: str) -> dict[str, Any]:
    person = payload.person.model_dump(mode="json")
    return {
        "_id": case.case_id,
        "person_id": case.person_id,
        # Personal data lives only here (and in referral's copy for the serving agency).
        "person": person,
        "status": case.status.value,
        "version": case.version,
        "opened_at": case.opened_at,
        "municipality": case.municipality,
        "requests": [{**asdict(r), "service_area": r.service_area.value if r.service_area else None}
                     for r in case.requests],
        # Who wrote what and when, in the same write as the change it audits (reads go to audit_log).
        "audit": [{"actor": actor, "action": "case.open", "at": case.opened_at}],
        # State and events in ONE document write: the transactional outbox.
        **new_document_outbox([*((CASE_EVENTS, e) for e in case.events), *_shared_profile(case, payload)]),
    }


async def handle_open_case(payload: OpenCaseIn, *, store: IntakeStore, municipality: str,
                           actor: str) -> CaseOut:
    person = payload.person
    person_id = str(uuid.uuid4())
    if payload.existing_person_id is not None:
        known = {"person_id": payload.existing_person_id, "person.erased": {"$ne": True}}
        if await store.cases.find_one(known, {"_id": 1}) is None:
            raise NotFound(f"no person {payload.existing_person_id} is registered", field="existing_person_id")
        person_id = payload.existing_person_id
    case = open_case(
        person_id=person_id,
        facet_source=FacetSource(nationality=person.nationality, sex=person.sex, birth_date=person.birth_date,
                                 migratory_status=person.migratory_status, language=person.preferred_language),
        requests=[(r.category, r.description) for r in payload.requests],
        municipality=municipality, now=datetime.now(UTC), attended_in_own_language=payload.attended_in_own_language)
    await store.index_match_keys(_match_keys(person.full_name, person.birth_date, person.documents),
                                 person_id=case.person_id, case_id=case.case_id)
    await store.cases.insert_one(_case_document(case, payload, actor))
    store.written(store.cases.name, case.case_id)
    return CaseOut(case_id=case.case_id, person_id=case.person_id, status=case.status.value,
                   version=case.version, opened_at=case.opened_at, municipality=municipality,
                   requests=[RequestOut(request_id=r.request_id, category=r.category,
                                        service_area=r.service_area.value if r.service_area else None,
                                        description=r.description) for r in case.requests])


async def handle_get_case(case_id: str, *, store: IntakeStore, actor: str) -> CaseOut:
    doc = await store.cases.find_one({"_id": case_id}, {"outbox": 0, "audit": 0})
    if doc is None:
        raise NotFound(f"case {case_id} does not exist", field="case_id")
    await store.record_access(actor=actor, action="case.read", subject_id=doc["person_id"], case_id=case_id)
    return CaseOut(case_id=doc["_id"], person_id=doc["person_id"], status=doc["status"], version=doc["version"],
                   opened_at=doc["opened_at"], municipality=doc["municipality"],
                   requests=[RequestOut(**r) for r in doc["requests"]], person=doc["person"])


async def handle_duplicate_check(payload: DuplicateCheckIn, *, store: IntakeStore, actor: str,
                                 limit: int = 10) -> list[CandidateOut]:
    """Registered people who may be this person, best first, with the reasons (see domain.duplicates)."""
    keys = _match_keys(payload.full_name, payload.birth_date, payload.documents)
    case_ids = await store.case_ids_matching(keys, limit=500)
    people: dict[str, PersonRecord] = {}
    cases_of: dict[str, list[str]] = {}
    found_cases = await store.cases.find({"_id": {"$in": case_ids}}, {"person": 1, "person_id": 1}).to_list() \
        if case_ids else []
    for doc in found_cases:
        p = doc["person"]
        if p.get("erased"):
            continue
        cases_of.setdefault(doc["person_id"], []).append(doc["_id"])
        people[doc["person_id"]] = PersonRecord(
            person_id=doc["person_id"], full_name=p["full_name"],
            birth_date=date.fromisoformat(p["birth_date"]) if p.get("birth_date") else None,
            nationality=p.get("nationality"),
            documents=tuple((DocumentType(d["type"]), d["number"]) for d in p.get("documents", [])))
    new = PersonRecord(person_id="", full_name=payload.full_name, birth_date=payload.birth_date,
                       nationality=payload.nationality,
                       documents=tuple((d.type, d.number) for d in payload.documents))
    found = find_candidates(new, people.values(), limit=limit)
    for candidate in found:
        await store.record_access(actor=actor, action="person.duplicate_candidate",
                                  subject_id=candidate.person_id, case_id=cases_of[candidate.person_id][0])
    return [CandidateOut(person_id=c.person_id, score=c.score, strength=c.strength.value, reasons=list(c.reasons),
                         full_name=people[c.person_id].full_name, birth_date=people[c.person_id].birth_date,
                         nationality=people[c.person_id].nationality, case_ids=sorted(cases_of[c.person_id]))
            for c in found]


async def handle_erase_person(person_id: str, *, store: IntakeStore, actor: str) -> dict[str, Any]:
    """LGPD erasure: the person's data leaves every case (name, documents, contact, free-text notes, match keys)
    and the partner network (a tombstone on the compacted profiles topic makes referral delete its copy).
    De-identified counts stay. Idempotent: erasing again finds nothing left to erase and says so."""
    docs = await store.cases.find({"person_id": person_id}, {"_id": 1, "opened_at": 1}).sort("opened_at", -1).to_list()
    if not docs:
        raise NotFound(f"no person {person_id} is registered", field="person_id")
    now = datetime.now(UTC)
    await store.match_keys.delete_many({"person_id": person_id})
    for newest, ref in enumerate(docs):
        while not await _erase_from_case(store, ref["_id"], now=now, actor=actor, add_tombstone=newest == 0):
            pass  # the relay (or another writer) changed the case meanwhile: read it again
        store.written(store.cases.name, ref["_id"])
    await store.record_access(actor=actor, action="person.erase", subject_id=person_id, case_id=docs[0]["_id"])
    return {"person_id": person_id, "erased_from_cases": len(docs)}


async def _erase_from_case(store: IntakeStore, case_id: str, *, now: datetime, actor: str,
                           add_tombstone: bool) -> bool:
    """One conditional write; False when the case's outbox moved since it was read (nothing written then)."""
    doc = await store.cases.find_one({"_id": case_id})
    if doc is None:
        return True
    # Profile events still in the outbox carry the data: unsent ones become tombstones, sent ones are
    # blanked; the newest case also gets a fresh tombstone so the topic forgets the person for sure.
    outbox = [{**e, "value": None, "event_type": "Tombstone"} if e["topic"] == PERSON_PROFILES.name else e
              for e in doc.get("outbox", [])]
    if add_tombstone:
        outbox.append(tombstone_entry(PERSON_PROFILES, doc["person_id"]))
    result = await store.cases.update_one({"_id": case_id, "outbox_total": doc.get("outbox_total", 0)}, {
        "$set": {"person": {"erased": True, "erased_at": now},
                 "requests": [{**r, "description": None} for r in doc["requests"]],
                 "outbox": outbox, "outbox_total": len(outbox), "outbox_pending": True, "outbox_at": now},
        "$unset": {"match_keys": ""},
        "$push": {"audit": {"actor": actor, "action": "person.erase", "at": now}}})
    return bool(result.matched_count)


async def handle_log_activity(payload: TrainingIn | ParticipationEventIn | InformationMaterialIn, *,
                              store: IntakeStore, municipality: str, actor: str) -> dict[str, Any]:
    """Log a governance activity; its event goes out through the activity document's own outbox."""
    activity_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    common: dict[str, Any] = {"producer": "intake", "occurred_at": now, "correlation_id": activity_id,
                              "activity_id": activity_id, "municipality": municipality, "held_on": payload.held_on}
    event: ActivityEvent
    if isinstance(payload, TrainingIn):
        event = TrainingHeld(**common, topic=payload.topic,
                             servants_trained_by_sector=payload.servants_trained_by_sector)
    elif isinstance(payload, ParticipationEventIn):
        event = ParticipationEventHeld(**common, kind=payload.event_kind,
                                       migrant_participants=payload.migrant_participants)
    else:
        event = InformationMaterialPublished(**common, title=payload.title, languages=payload.languages)
    record = {"_id": activity_id, **payload.model_dump(mode="json"), "municipality": municipality,
              "logged_at": now, "logged_by": actor, **new_document_outbox([(ACTIVITIES, event)])}
    await store.activities.insert_one(record)
    store.written(store.activities.name, activity_id)
    return {"activity_id": activity_id, "kind": payload.kind, "held_on": payload.held_on.isoformat()}
