"""The API's payloads -> use-case commands, and domain objects -> the API's views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from migradesk_intake.adapters.mappers import erased_person_document, person_document
from migradesk_intake.domain.case import Case
from migradesk_intake.domain.duplicates import DuplicateCandidate
from migradesk_intake.domain.governance import GovernanceRecord
from migradesk_intake.domain.person import ConsentGiven, Document, Person, RegisteredPerson
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_intake.domain.sensitive import (
    Declared,
    HealthInformation,
    SensitiveData,
    SexualOrientationDeclared,
)
from migradesk_intake.domain.worklist import WorklistQuery
from migradesk_intake.entrypoints.schemas import (
    CandidateOut,
    CaseOut,
    ConsentChangeIn,
    ConsentChangeOut,
    ConsentOut,
    DocumentIn,
    DuplicateCheckIn,
    FollowUpOut,
    FoundPersonOut,
    InformationMaterialIn,
    NoteOut,
    OpenCaseIn,
    ParticipationEventIn,
    PeopleOut,
    PersonChangeOut,
    PersonCorrectionIn,
    PersonDataIn,
    PersonIn,
    PersonOut,
    ReferralStatusOut,
    RequestOut,
    SensitiveIn,
    TrainingIn,
    WorklistCaseOut,
    WorklistOut,
    WriteOut,
)
from migradesk_intake.service import (
    ChangeConsent,
    ConsentChange,
    CorrectPerson,
    Erasure,
    FindDuplicates,
    OpenCase,
    PeopleFound,
    WorklistView,
)
from migradesk_shared.contracts.activities import ActivityFacts
from migradesk_shared.contracts.categories import Category
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import DomainRuleViolation

# --- payloads -> commands -----------------------------------------------------------------------------------


def _documents(documents: list[DocumentIn]) -> tuple[Document, ...]:
    return tuple(Document(type=d.type, number=d.number) for d in documents)


def sensitive_of(payload: SensitiveIn | None) -> SensitiveData:
    if payload is None:
        return SensitiveData()
    health, race, gender, orientation = (payload.health, payload.race_colour, payload.gender_identity,
                                         payload.sexual_orientation)
    return SensitiveData(
        health=HealthInformation(legal_basis=health.legal_basis, flags=tuple(dict.fromkeys(health.flags)),
                                 note=health.note or None) if health else None,
        race_colour=Declared(race.value, race.legal_basis) if race else None,
        gender_identity=Declared(gender.value, gender.legal_basis) if gender else None,
        sexual_orientation=SexualOrientationDeclared(orientation.value, orientation.legal_basis,
                                                     at_persons_request=orientation.recorded_at_persons_request)
        if orientation else None)


# A correction carries no consent: the service keeps the one on record.
NO_CONSENT = ConsentGiven(legal_basis=LegalBasis.CONSENT, share_with_partners=False, recorded_by="")


def person_of(payload: PersonDataIn, consent: ConsentGiven = NO_CONSENT) -> Person:
    return Person(full_name=payload.full_name, nationality=payload.nationality, consent=consent,
                  birth_date=payload.birth_date, sex=payload.sex, preferred_language=payload.preferred_language,
                  languages=tuple(payload.languages), migratory_status=payload.migratory_status,
                  documents=_documents(payload.documents), phone=payload.phone,
                  sensitive=sensitive_of(payload.sensitive))


def registered_person_of(payload: PersonIn) -> Person:
    return person_of(payload, ConsentGiven(legal_basis=payload.consent.legal_basis,
                                           share_with_partners=payload.consent.share_with_partners,
                                           recorded_by=payload.consent.recorded_by))


def correct_person_command(person_id: str, payload: PersonCorrectionIn, *, actor: str) -> CorrectPerson:
    return CorrectPerson(person_id=person_id, expected_version=payload.version, person=person_of(payload.person),
                         actor=actor)


def open_case_command(payload: OpenCaseIn, *, actor: str, staff: str | None = None) -> OpenCase:
    """`staff`: the username of who takes the visit, who follows the case from then on."""
    return OpenCase(person=registered_person_of(payload.person) if payload.person is not None else None,
                    requests=tuple((r.category, r.description) for r in payload.requests), actor=actor,
                    attended_in_own_language=payload.attended_in_own_language,
                    existing_person_id=payload.existing_person_id, assigned_to=staff)


def change_consent_command(person_id: str, payload: ConsentChangeIn, *, actor: str, staff: str) -> ChangeConsent:
    """`staff`: who records it unless the payload names someone else (the caller, as the page's field does)."""
    return ChangeConsent(person_id=person_id, legal_basis=payload.legal_basis,
                         share_with_partners=payload.share_with_partners,
                         recorded_by=payload.recorded_by or staff, actor=actor)


def find_duplicates_command(payload: DuplicateCheckIn, *, actor: str) -> FindDuplicates:
    return FindDuplicates(full_name=payload.full_name, actor=actor, birth_date=payload.birth_date,
                          nationality=payload.nationality, documents=_documents(payload.documents))


PARTICIPATION_EVENT_TITLES = {"participatory": "Evento participativo", "cultural": "Evento cultural"}


def activity_facts(payload: TrainingIn | ParticipationEventIn | InformationMaterialIn) -> ActivityFacts:
    """An activity logged through the activities API, as the governance register keeps it (its page lists it,
    and corrects it, with those recorded there)."""
    if isinstance(payload, TrainingIn):
        return ActivityFacts(kind="training", held_on=payload.held_on, title=payload.topic,
                             audience="public_servants",
                             servants_trained_by_sector=dict(payload.servants_trained_by_sector))
    if isinstance(payload, ParticipationEventIn):
        # The API never asked an event's name: the register shows its kind until someone names it.
        return ActivityFacts(kind="participatory_event" if payload.event_kind == "participatory" else "cultural_event",
                             held_on=payload.held_on,
                             title=PARTICIPATION_EVENT_TITLES[payload.event_kind],
                             participants=payload.migrant_participants)
    return ActivityFacts(kind="information_material", held_on=payload.held_on, title=payload.title,
                         languages=list(payload.languages))


# --- domain -> views ----------------------------------------------------------------------------------------


def case_view(case: Case, *, with_person: bool, referrals: Sequence[ReferralStatusView] = ()) -> CaseOut:
    """The case; with the person's data as registered (or the mark of their erasure), its notes, follow-ups and
    timeline when asked for (a read of personal data), and the live status of its referrals."""
    person: dict[str, object] | None = None
    if with_person:
        person = person_document(case.person) if case.person is not None \
            else erased_person_document(case.erased_at) if case.erased_at is not None else None
    return CaseOut(case_id=case.case_id, person_id=case.person_id, status=case.status.value, version=case.version,
                   opened_at=case.opened_at, municipality=case.municipality,
                   requests=[RequestOut(request_id=r.request_id, category=r.category,
                                        service_area=r.service_area.value if r.service_area else None,
                                        description=r.description) for r in case.requests],
                   person=person,
                   referrals=[ReferralStatusOut(referral_id=r.referral_id, request_id=r.request_id,
                                                agency_id=r.agency_id, service_area=r.service_area,
                                                status=r.status.value, status_at=r.status_at) for r in referrals],
                   assigned_to=case.assigned_to,
                   notes=[NoteOut(note_id=n.note_id, text=n.text, at=n.at, by=n.by) for n in case.notes]
                   if with_person else [],
                   follow_ups=[FollowUpOut(follow_up_id=f.follow_up_id, text=f.text, due_on=f.due_on, at=f.at,
                                           by=f.by, done_at=f.done_at, done_by=f.done_by) for f in case.follow_ups]
                   if with_person else [],
                   outcome=case.outcome.value if case.outcome else None, closed_at=case.closed_at,
                   timeline=[WriteOut(actor=w.actor, action=w.action.value, at=w.at, subject=w.subject)
                             for w in case.writes])


def person_view(registered: RegisteredPerson) -> PersonOut:
    assert registered.person is not None  # an erased person is not found
    return PersonOut(person_id=registered.person_id, version=registered.version,
                     person=person_document(registered.person), case_ids=list(registered.case_ids),
                     changes=[PersonChangeOut(version=c.version, at=c.at, by=c.by, fields=list(c.fields))
                              for c in registered.changes])


def candidates_view(found: list[DuplicateCandidate]) -> dict[str, Any]:
    return {"candidates": [CandidateOut(
        person_id=c.person.person_id, score=c.candidate.score, strength=c.candidate.strength.value,
        reasons=list(c.candidate.reasons), reason_codes=list(c.candidate.codes), full_name=c.person.full_name,
        birth_date=c.person.birth_date, nationality=c.person.nationality,
        case_ids=list(c.case_ids)).model_dump(mode="json") for c in found]}


def consent_change_view(change: ConsentChange) -> ConsentChangeOut:
    consent = change.consent
    assert consent.recorded_at is not None  # a change is dated by itself
    return ConsentChangeOut(person_id=change.person_id, shared_with_partners=change.shared,
                            cases_updated=change.cases_updated,
                            consent=ConsentOut(legal_basis=consent.legal_basis.value,
                                               share_with_partners=consent.share_with_partners,
                                               recorded_by=consent.recorded_by, recorded_at=consent.recorded_at))


def erasure_view(erasure: Erasure) -> dict[str, Any]:
    return {"person_id": erasure.person_id, "erased_from_cases": erasure.erased_from_cases}


def activity_view(record: GovernanceRecord, payload: TrainingIn | ParticipationEventIn | InformationMaterialIn
                  ) -> dict[str, Any]:
    return {"activity_id": record.record_id, "kind": payload.kind, "held_on": payload.held_on.isoformat()}


def categories_view(categories: list[Category]) -> dict[str, Any]:
    return {"categories": [{"code": c.code, "area": c.area.value if c.area else None, "label_pt": c.label_pt}
                           for c in categories]}


def worklist_query(*, status: str, area: str | None, staff: str | None, overdue: bool, older_than_days: int | None,
                   order: str, after: str | None, page_size: int, today: date) -> WorklistQuery:
    """The worklist's query parameters -> its query; a bad one is refused naming the parameter."""
    if order not in {"oldest", "newest"}:
        raise DomainRuleViolation("order must be 'oldest' or 'newest'", field="order")
    try:
        return WorklistQuery(status=status, service_area=area or None, assigned_to=staff or None,
                             overdue_only=overdue, oldest_first=order == "oldest", after=after or None,
                             page_size=page_size,
                             opened_before=today - timedelta(days=older_than_days - 1)
                             if older_than_days else None)
    except ValueError as exc:
        message = str(exc)
        named = message.split(" ", 1)[0]
        raise DomainRuleViolation(message, field={"service_area": "area", "assigned_to": "staff"}.get(
            named, named)) from exc


def worklist_view(view: WorklistView) -> WorklistOut:
    return WorklistOut(cases=[WorklistCaseOut(
        case_id=r.entry.case_id, person_id=r.entry.person_id, full_name=r.full_name, opened_at=r.entry.opened_at,
        status=r.entry.status, service_areas=sorted(r.entry.service_areas), assigned_to=r.entry.assigned_to,
        overdue=r.entry.overdue) for r in view.rows], total=view.total, total_is_exact=view.total_is_exact,
        next=view.next_cursor)


def people_view(found: PeopleFound) -> PeopleOut:
    return PeopleOut(people=[FoundPersonOut(
        person_id=f.hit.person_id, full_name=f.hit.full_name, birth_date=f.hit.birth_date, score=f.hit.score,
        reasons=list(f.hit.reasons), case_ids=list(f.case_ids)) for f in found.people], next=found.next_cursor)
