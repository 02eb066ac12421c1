"""Intake's service layer: each command is one async handler over the store, calling the pure domain."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.schemas import CaseOut, OpenCaseIn, RequestOut
from migradesk_shared.domain.case import FacetSource, OpenedCase, open_case
from migradesk_shared.errors import NotFound
from migradesk_shared.outbox import new_document_outbox
from migradesk_shared.topics import CASE_EVENTS


class IntakeStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.cases = db["cases"]
        self.audit = db["audit_log"]

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("person_id", 1)])
        await self.audit.create_index([("subject_id", 1), ("at", 1)])

    async def record_access(self, *, actor: str, action: str, subject_id: str, case_id: str) -> None:
        """LGPD: every read of a person record is audited (who, when, what) — ids only. Writes carry their
        audit entry inside the document they change, in the same write."""
        await self.audit.insert_one({"_id": str(uuid.uuid4()), "actor": actor, "action": action,
                                     "subject_id": subject_id, "case_id": case_id, "at": datetime.now(UTC)})


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
        **new_document_outbox([(CASE_EVENTS, e) for e in case.events]),
    }


async def handle_open_case(payload: OpenCaseIn, *, store: IntakeStore, municipality: str,
                           actor: str) -> CaseOut:
    person = payload.person
    case = open_case(
        person_id=str(uuid.uuid4()),
        facet_source=FacetSource(nationality=person.nationality, sex=person.sex, birth_date=person.birth_date,
                                 migratory_status=person.migratory_status, language=person.preferred_language),
        requests=[(r.category, r.description) for r in payload.requests],
        municipality=municipality, now=datetime.now(UTC))
    await store.cases.insert_one(_case_document(case, payload, actor))
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
