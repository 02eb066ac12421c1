"""The API's payloads -> use-case commands, and domain objects -> the API's views."""

from __future__ import annotations

from typing import Any

from migradesk_intake.adapters.mappers import erased_person_document, person_document
from migradesk_intake.domain.activity import (
    Activity,
    InformationMaterial,
    LoggedActivity,
    ParticipationEvent,
    Training,
)
from migradesk_intake.domain.case import Case
from migradesk_intake.domain.duplicates import DuplicateCandidate
from migradesk_intake.domain.person import ConsentGiven, Document, Person
from migradesk_intake.entrypoints.schemas import (
    CandidateOut,
    CaseOut,
    DocumentIn,
    DuplicateCheckIn,
    InformationMaterialIn,
    OpenCaseIn,
    ParticipationEventIn,
    PersonIn,
    RequestOut,
    TrainingIn,
)
from migradesk_intake.service import Erasure, FindDuplicates, LogActivity, OpenCase
from migradesk_shared.contracts.categories import Category

# --- payloads -> commands -----------------------------------------------------------------------------------


def _documents(documents: list[DocumentIn]) -> tuple[Document, ...]:
    return tuple(Document(type=d.type, number=d.number) for d in documents)


def person_of(payload: PersonIn) -> Person:
    return Person(full_name=payload.full_name, nationality=payload.nationality,
                  consent=ConsentGiven(legal_basis=payload.consent.legal_basis,
                                       share_with_partners=payload.consent.share_with_partners,
                                       recorded_by=payload.consent.recorded_by),
                  birth_date=payload.birth_date, sex=payload.sex, preferred_language=payload.preferred_language,
                  migratory_status=payload.migratory_status, documents=_documents(payload.documents),
                  phone=payload.phone)


def open_case_command(payload: OpenCaseIn, *, actor: str) -> OpenCase:
    return OpenCase(person=person_of(payload.person),
                    requests=tuple((r.category, r.description) for r in payload.requests), actor=actor,
                    attended_in_own_language=payload.attended_in_own_language,
                    existing_person_id=payload.existing_person_id)


def find_duplicates_command(payload: DuplicateCheckIn, *, actor: str) -> FindDuplicates:
    return FindDuplicates(full_name=payload.full_name, actor=actor, birth_date=payload.birth_date,
                          nationality=payload.nationality, documents=_documents(payload.documents))


def log_activity_command(payload: TrainingIn | ParticipationEventIn | InformationMaterialIn, *,
                         actor: str) -> LogActivity:
    activity: Activity
    if isinstance(payload, TrainingIn):
        activity = Training(held_on=payload.held_on, topic=payload.topic,
                            servants_trained_by_sector=dict(payload.servants_trained_by_sector))
    elif isinstance(payload, ParticipationEventIn):
        activity = ParticipationEvent(held_on=payload.held_on, event_kind=payload.event_kind,
                                      migrant_participants=payload.migrant_participants)
    else:
        activity = InformationMaterial(held_on=payload.held_on, title=payload.title,
                                       languages=tuple(payload.languages))
    return LogActivity(activity=activity, actor=actor)


# --- domain -> views ----------------------------------------------------------------------------------------


def case_view(case: Case, *, with_person: bool) -> CaseOut:
    """The case; with the person's data as registered (or the mark of their erasure) when asked for."""
    person: dict[str, object] | None = None
    if with_person:
        person = person_document(case.person) if case.person is not None \
            else erased_person_document(case.erased_at) if case.erased_at is not None else None
    return CaseOut(case_id=case.case_id, person_id=case.person_id, status=case.status.value, version=case.version,
                   opened_at=case.opened_at, municipality=case.municipality,
                   requests=[RequestOut(request_id=r.request_id, category=r.category,
                                        service_area=r.service_area.value if r.service_area else None,
                                        description=r.description) for r in case.requests],
                   person=person)


def candidates_view(found: list[DuplicateCandidate]) -> dict[str, Any]:
    return {"candidates": [CandidateOut(
        person_id=c.person.person_id, score=c.candidate.score, strength=c.candidate.strength.value,
        reasons=list(c.candidate.reasons), full_name=c.person.full_name, birth_date=c.person.birth_date,
        nationality=c.person.nationality, case_ids=sorted(c.case_ids)).model_dump(mode="json") for c in found]}


def erasure_view(erasure: Erasure) -> dict[str, Any]:
    return {"person_id": erasure.person_id, "erased_from_cases": erasure.erased_from_cases}


def activity_view(logged: LoggedActivity) -> dict[str, Any]:
    return {"activity_id": logged.activity_id, "kind": logged.activity.kind,
            "held_on": logged.activity.held_on.isoformat()}


def categories_view(categories: list[Category]) -> dict[str, Any]:
    return {"categories": [{"code": c.code, "area": c.area.value if c.area else None, "label_pt": c.label_pt}
                           for c in categories]}
