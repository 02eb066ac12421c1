"""Stored documents <-> intake's domain objects, and domain events -> outbox entries.

The document shapes are read by other processes (the outbox relay, the tests, the benchmark), so they stay
exactly as they were: the person as the API received it, requests with their service area, an `audit` array
of the writes, and the transactional outbox fields of migradesk_shared.outbox.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from migradesk_intake.domain.audit import Access, AccessKind, Write
from migradesk_intake.domain.case import (
    Case,
    CaseEvent,
    CaseOutcome,
    CaseStatus,
    FollowUp,
    LoggedRequest,
    Note,
    ProfileWithdrawn,
)
from migradesk_intake.domain.person import ConsentGiven, Document, Person, PersonChange, RegisteredPerson
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_intake.domain.sensitive import (
    NO_SENSITIVE_DATA,
    Declared,
    HealthFlag,
    HealthInformation,
    SensitiveData,
    SexualOrientation,
    SexualOrientationDeclared,
)
from migradesk_shared.contracts.activities import ActivityEvent
from migradesk_shared.contracts.case_events import CaseOpened, RequestLogged
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.person_profiles import PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import (
    DocumentType,
    GenderIdentity,
    LegalBasis,
    MigratoryStatus,
    RaceColour,
    ReferralStatus,
    ServiceArea,
    Sex,
)
from migradesk_shared.outbox import outbox_entry, tombstone_entry
from migradesk_shared.topics import ACTIVITIES, CASE_EVENTS, PERSON_PROFILES, TopicSpec


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored with the state it announces, i.e. as the relay will publish it."""

    event_id: str
    event_type: str
    topic: str
    key: str
    payload: dict[str, Any] | None  # None: a tombstone


# --- events -> outbox ---------------------------------------------------------------------------------------

def topic_of(event: Event) -> TopicSpec:
    if isinstance(event, CaseOpened | RequestLogged):
        return CASE_EVENTS
    if isinstance(event, PersonProfileUpserted):
        return PERSON_PROFILES
    if isinstance(event, ActivityEvent):
        return ACTIVITIES
    raise TypeError(f"intake publishes no {type(event).__name__}")


def with_topics(events: Sequence[CaseEvent | ActivityEvent]) -> list[tuple[TopicSpec, Event]]:
    """(topic, event) pairs for migradesk_shared.outbox; a withdrawal is no event but a tombstone (see below)."""
    pairs: list[tuple[TopicSpec, Event]] = []
    for event in events:
        if isinstance(event, ProfileWithdrawn):
            raise ValueError("a profile withdrawal is stored as a tombstone, not as an event")
        pairs.append((topic_of(event), event))
    return pairs


def outbox_entries(events: Sequence[CaseEvent]) -> list[dict[str, Any]]:
    """Outbox entries of events appended to a stored case, in order: events, and tombstones for withdrawals."""
    return [tombstone_entry(PERSON_PROFILES, e.person_id) if isinstance(e, ProfileWithdrawn)
            else outbox_entry(topic_of(e), e) for e in events]


def tombstones(events: Sequence[CaseEvent]) -> list[dict[str, Any]]:
    return [tombstone_entry(PERSON_PROFILES, e.person_id) for e in events if isinstance(e, ProfileWithdrawn)]


def scrub_profiles(outbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Profile events still stored carry the person's data: unsent ones become tombstones (the relay publishes
    those instead), sent ones are blanked (the relay never reads them again)."""
    return [{**e, "value": None, "event_type": "Tombstone"} if e["topic"] == PERSON_PROFILES.name else e
            for e in outbox]


def stored_event(entry: dict[str, Any]) -> StoredEvent:
    value = entry.get("value")
    return StoredEvent(event_id=entry["event_id"], event_type=entry["event_type"], topic=entry["topic"],
                       key=entry["key"], payload=json.loads(value) if value is not None else None)


# --- persons and cases --------------------------------------------------------------------------------------

def consent_document(consent: ConsentGiven) -> dict[str, Any]:
    document: dict[str, Any] = {"legal_basis": consent.legal_basis.value,
                                "share_with_partners": consent.share_with_partners,
                                "recorded_by": consent.recorded_by}
    if consent.recorded_at is not None:  # a consent given at the visit is dated by its case
        document["recorded_at"] = consent.recorded_at.isoformat()
    return document


def consent_from_document(doc: dict[str, Any]) -> ConsentGiven:
    return ConsentGiven(legal_basis=LegalBasis(doc.get("legal_basis", LegalBasis.CONSENT)),
                        share_with_partners=bool(doc.get("share_with_partners", False)),
                        recorded_by=doc.get("recorded_by", ""),
                        recorded_at=datetime.fromisoformat(doc["recorded_at"]) if doc.get("recorded_at") else None)


def sensitive_document(sensitive: SensitiveData) -> dict[str, Any]:
    """Only the items the person gave, each with its legal basis."""
    document: dict[str, Any] = {}
    if sensitive.health is not None:
        document["health"] = {"flags": [f.value for f in sensitive.health.flags], "note": sensitive.health.note,
                              "legal_basis": sensitive.health.legal_basis.value}
    for name, item in (("race_colour", sensitive.race_colour), ("gender_identity", sensitive.gender_identity)):
        if item is not None:
            document[name] = {"value": item.value.value, "legal_basis": item.legal_basis.value}
    if sensitive.sexual_orientation is not None:
        orientation = sensitive.sexual_orientation
        document["sexual_orientation"] = {"value": orientation.value.value,
                                          "legal_basis": orientation.legal_basis.value,
                                          "recorded_at_persons_request": orientation.at_persons_request}
    return document


def sensitive_from_document(doc: dict[str, Any] | None) -> SensitiveData:
    if not doc:
        return NO_SENSITIVE_DATA
    health, race, gender, orientation = (doc.get(k) for k in ("health", "race_colour", "gender_identity",
                                                              "sexual_orientation"))
    return SensitiveData(
        health=HealthInformation(legal_basis=LegalBasis(health["legal_basis"]),
                                 flags=tuple(HealthFlag(f) for f in health.get("flags", [])),
                                 note=health.get("note")) if health else None,
        race_colour=Declared(RaceColour(race["value"]), LegalBasis(race["legal_basis"])) if race else None,
        gender_identity=Declared(GenderIdentity(gender["value"]), LegalBasis(gender["legal_basis"]))
        if gender else None,
        sexual_orientation=SexualOrientationDeclared(
            SexualOrientation(orientation["value"]), LegalBasis(orientation["legal_basis"]),
            at_persons_request=bool(orientation.get("recorded_at_persons_request"))) if orientation else None)


def person_document(person: Person) -> dict[str, Any]:
    """The person as the desk's API received it, normalised (and as reading the case returns it), with the
    consents the current one replaced."""
    return {
        "full_name": person.full_name,
        "birth_date": person.birth_date.isoformat() if person.birth_date else None,
        "sex": person.sex.value,
        "nationality": person.nationality,
        "preferred_language": person.preferred_language,
        "languages": list(person.languages),
        "migratory_status": person.migratory_status.value,
        "documents": [{"type": d.type.value, "number": d.number} for d in person.documents],
        "phone": person.phone,
        "consent": consent_document(person.consent),
        "consent_history": [consent_document(c) for c in person.consent_history],
        "sensitive": sensitive_document(person.sensitive),
    }


def erased_person_document(at: datetime) -> dict[str, Any]:
    return {"erased": True, "erased_at": at}


def person_from_document(doc: dict[str, Any]) -> Person | None:
    if doc.get("erased"):
        return None
    return Person(
        full_name=doc["full_name"], nationality=doc.get("nationality") or "",
        consent=consent_from_document(doc.get("consent") or {}),
        birth_date=date.fromisoformat(doc["birth_date"]) if doc.get("birth_date") else None,
        sex=Sex(doc.get("sex", Sex.NOT_INFORMED)), preferred_language=doc.get("preferred_language", "pt"),
        migratory_status=MigratoryStatus(doc.get("migratory_status", MigratoryStatus.OTHER)),
        documents=tuple(Document(DocumentType(d["type"]), d["number"]) for d in doc.get("documents", [])),
        phone=doc.get("phone"), languages=tuple(doc.get("languages", ())),
        sensitive=sensitive_from_document(doc.get("sensitive")),
        consent_history=tuple(consent_from_document(c) for c in doc.get("consent_history", ())))


def request_document(request: LoggedRequest) -> dict[str, Any]:
    return {"request_id": request.request_id, "category": request.category,
            "service_area": request.service_area.value if request.service_area else None,
            "description": request.description}


def audit_entry(actor: str, action: AccessKind, at: datetime, subject: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"actor": actor, "action": action.value, "at": at}
    if subject is not None:
        entry["subject"] = subject
    return entry


def write_document(write: Write) -> dict[str, Any]:
    return audit_entry(write.actor, write.action, write.at, write.subject)


def write_from_document(doc: dict[str, Any]) -> Write:
    return Write(actor=doc["actor"], action=AccessKind(doc["action"]), at=doc["at"], subject=doc.get("subject"))


# --- a person's record --------------------------------------------------------------------------------------

def person_change_document(change: PersonChange) -> dict[str, Any]:
    return {"version": change.version, "at": change.at, "by": change.by, "fields": list(change.fields)}


def person_record_document(registered: RegisteredPerson) -> dict[str, Any]:
    """A person's record: their data (or the mark of their erasure), its version, their cases, what changed when.
    Personal data lives here, and in the look-up keys it is found by."""
    person = registered.person
    return {
        "_id": registered.person_id,
        "person": person_document(person) if person is not None
        else erased_person_document(registered.erased_at or datetime.now(UTC)),
        "version": registered.version,
        "cases": list(registered.case_ids),
        "changes": [person_change_document(c) for c in registered.changes],
        "registered_at": registered.registered_at,
    }


def person_record_from_document(doc: dict[str, Any]) -> RegisteredPerson:
    stored = doc["person"]
    return RegisteredPerson(
        person_id=doc["_id"], person=person_from_document(stored), version=doc["version"],
        case_ids=tuple(doc.get("cases", ())),
        changes=tuple(PersonChange(version=c["version"], at=c["at"], by=c["by"], fields=tuple(c["fields"]))
                      for c in doc.get("changes", ())),
        erased_at=stored.get("erased_at") if stored.get("erased") else None,
        registered_at=doc.get("registered_at"))


# --- cases --------------------------------------------------------------------------------------------------

def note_document(note: Note) -> dict[str, Any]:
    return {"note_id": note.note_id, "text": note.text, "at": note.at, "by": note.by}


def follow_up_document(follow_up: FollowUp) -> dict[str, Any]:
    return {"follow_up_id": follow_up.follow_up_id, "text": follow_up.text,
            "due_on": follow_up.due_on.isoformat(), "at": follow_up.at, "by": follow_up.by,
            "done_at": follow_up.done_at, "done_by": follow_up.done_by}


def case_state(case: Case) -> dict[str, Any]:
    """The parts of a case a write after its opening may change (its outbox and audit are appended to)."""
    return {
        "status": case.status.value,
        "version": case.version,
        "assigned_to": case.assigned_to,
        "requests": [request_document(r) for r in case.requests],
        "notes": [note_document(n) for n in case.notes],
        "follow_ups": [follow_up_document(f) for f in case.follow_ups],
        "outcome": case.outcome.value if case.outcome else None,
        "closed_at": case.closed_at,
        "erased_at": case.erased_at,
    }


def case_document(case: Case) -> dict[str, Any]:
    """A new case's state, without its outbox (the repository adds that, in the same write). The person is not
    in it: their record is (person_record_document), one for all their cases."""
    return {
        "_id": case.case_id,
        "person_id": case.person_id,
        "opened_at": case.opened_at,
        "municipality": case.municipality,
        **case_state(case),
        # Who wrote what and when, in the same write as the change it audits (reads go to audit_log): the
        # case's timeline.
        "audit": [write_document(w) for w in case.writes],
    }


def case_from_document(doc: dict[str, Any], person: RegisteredPerson | None) -> Case:
    """The case, with its person as their record holds them now (None if erased or missing)."""
    return Case(
        case_id=doc["_id"], person_id=doc["person_id"], person=person.person if person is not None else None,
        opened_at=doc["opened_at"], municipality=doc["municipality"],
        requests=tuple(LoggedRequest(request_id=r["request_id"], category=r["category"],
                                     service_area=ServiceArea(r["service_area"]) if r.get("service_area") else None,
                                     description=r.get("description")) for r in doc["requests"]),
        status=CaseStatus(doc["status"]), version=doc["version"],
        erased_at=doc.get("erased_at") or (person.erased_at if person is not None else None),
        events_stored=doc.get("outbox_total", 0),
        assigned_to=doc.get("assigned_to", ""),
        notes=tuple(Note(note_id=n["note_id"], text=n["text"], at=n["at"], by=n["by"]) for n in doc.get("notes", ())),
        follow_ups=tuple(FollowUp(follow_up_id=f["follow_up_id"], text=f["text"],
                                  due_on=date.fromisoformat(f["due_on"]), at=f["at"], by=f["by"],
                                  done_at=f.get("done_at"), done_by=f.get("done_by"))
                         for f in doc.get("follow_ups", ())),
        outcome=CaseOutcome(doc["outcome"]) if doc.get("outcome") else None,
        closed_at=doc.get("closed_at"),
        writes=tuple(write_from_document(w) for w in doc.get("audit", ())))


# --- audit --------------------------------------------------------------------------------------------------

def access_document(access: Access) -> dict[str, Any]:
    return {"_id": str(uuid.uuid4()), "actor": access.actor, "action": access.action.value,
            "subject_id": access.subject_id, "case_id": access.case_id, "at": access.at,
            **({"reason": access.reason} if access.reason is not None else {}),
            **({"reference": access.reference} if access.reference is not None else {})}


def access_from_document(doc: dict[str, Any]) -> Access:
    return Access(actor=doc["actor"], action=AccessKind(doc["action"]), subject_id=doc["subject_id"],
                  case_id=doc["case_id"], at=doc["at"], reason=doc.get("reason"), reference=doc.get("reference"))


def referral_status_document(view: ReferralStatusView) -> dict[str, Any]:
    # The guard's time is kept as text: the store keeps a date to the millisecond only, and a redelivered event
    # must compare equal to the one it repeats, not newer.
    return {"_id": view.referral_id, "case_id": view.case_id, "request_id": view.request_id,
            "agency_id": view.agency_id, "service_area": view.service_area, "status": view.status.value,
            "status_at": view.status_at, "last_event_at": view.last_event_at.astimezone(UTC).isoformat(),
            "last_event_id": view.last_event_id,
            "overdue_at": view.overdue_at.astimezone(UTC).isoformat() if view.overdue_at else None}


def referral_status_from_document(doc: dict[str, Any]) -> ReferralStatusView:
    return ReferralStatusView(referral_id=doc["_id"], case_id=doc["case_id"], request_id=doc.get("request_id"),
                              agency_id=doc.get("agency_id"), service_area=doc["service_area"],
                              status=ReferralStatus(doc["status"]), status_at=doc["status_at"],
                              last_event_at=datetime.fromisoformat(doc["last_event_at"]),
                              last_event_id=doc["last_event_id"],
                              overdue_at=datetime.fromisoformat(doc["overdue_at"]) if doc.get("overdue_at") else None)
