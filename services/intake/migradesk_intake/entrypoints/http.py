"""Intake's HTTP routes, thin: parse the payload, turn it into a command, call one use case, render the view."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from migradesk_intake.adapters.repository import AuditQuery
from migradesk_intake.adapters.views import (
    activity_facts,
    activity_view,
    candidates_view,
    case_view,
    categories_view,
    change_consent_command,
    consent_change_view,
    correct_person_command,
    erasure_view,
    find_duplicates_command,
    open_case_command,
    people_view,
    person_view,
    worklist_query,
    worklist_view,
)
from migradesk_intake.domain.audit import Access
from migradesk_intake.entrypoints.governance_http import governance
from migradesk_intake.entrypoints.schemas import (
    ActivityIn,
    CaseOut,
    CloseCaseIn,
    ConsentChangeIn,
    ConsentChangeOut,
    DuplicateCheckIn,
    ErasureIn,
    FollowUpIn,
    NoteIn,
    OpenCaseIn,
    PeopleOut,
    PersonCorrectionIn,
    PersonOut,
    ReopenCaseIn,
    RequestIn,
    WorklistOut,
)
from migradesk_intake.service import (
    AddFollowUp,
    AddNote,
    AddRequest,
    CloseCase,
    CompleteFollowUp,
    ErasePerson,
    IntakeService,
    ReadCase,
    ReadPerson,
    ReopenCase,
    SearchPeople,
)
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.errors import DomainRuleViolation
from migradesk_shared.http import API_ERROR_RESPONSES

DeskStaff = Annotated[Principal, Depends(requires(Role.STAFF, Role.ADMIN))]
# Erasing a person cannot be undone: an administrator decides it, with a recorded reason.
Administrator = Annotated[Principal, Depends(requires(Role.ADMIN))]


def access_view(access: Access) -> dict[str, Any]:
    return {"at": access.at.isoformat(), "actor": access.actor, "action": access.action.value,
            "person_id": access.subject_id, "case_id": access.case_id, "reason": access.reason,
            "reference": access.reference}


def use_cases(request: Request) -> IntakeService:
    # Looked up in the route's body, not as a dependency: a bad payload gets its 422 before anything runs.
    service: IntakeService = request.app.state.service
    return service


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api", responses=API_ERROR_RESPONSES)

    @router.post("/cases", status_code=201, response_model=CaseOut)
    async def open_case(payload: OpenCaseIn, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).open_case(open_case_command(payload, actor=caller.actor,
                                                                          staff=caller.subject))
        return case_view(case, with_person=False)

    @router.post("/persons/duplicate-candidates")
    async def duplicate_candidates(payload: DuplicateCheckIn, request: Request,
                                   caller: DeskStaff) -> dict[str, Any]:
        found = await use_cases(request).find_duplicates(find_duplicates_command(payload, actor=caller.actor))
        return candidates_view(found)

    @router.post("/persons/{person_id}/consent", response_model=ConsentChangeOut)
    async def change_consent(person_id: str, payload: ConsentChangeIn, request: Request,
                             caller: DeskStaff) -> ConsentChangeOut:
        """A new consent of the person (another legal basis, sharing given or withdrawn), recorded in every case
        of theirs and audited. Withdrawing the sharing removes the partner agencies' copy of their data."""
        change = await use_cases(request).change_consent(change_consent_command(
            person_id, payload, actor=caller.actor, staff=caller.subject))
        return consent_change_view(change)

    @router.delete("/persons/{person_id}")
    async def erase_person(person_id: str, payload: ErasureIn, request: Request,
                           caller: Administrator) -> dict[str, Any]:
        """LGPD erasure request of a data subject: personal data removed everywhere, counts kept. Administrators
        only, with the reason (and the request's reference) recorded in the access log."""
        erasure = await use_cases(request).erase_person(ErasePerson(
            person_id=person_id, actor=caller.actor, reason=payload.reason, reference=payload.request_reference))
        return erasure_view(erasure)

    @router.post("/activities", status_code=201)
    async def log_activity(payload: ActivityIn, request: Request, caller: DeskStaff) -> dict[str, Any]:
        """Trainings of public servants, participation and cultural events, information materials: recorded in the
        governance register (see /api/governance, which also takes the other kinds, corrections and documents)."""
        recorded = await governance(request).record(activity_facts(payload), actor=caller.actor)
        return activity_view(recorded, payload)

    @router.get("/audit")
    async def audit_trail(request: Request, caller: Administrator,
                          person_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                          actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                          since: datetime | None = None, until: datetime | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 200) -> dict[str, Any]:
        """The access log: who read or changed a person's data, when and in which case (ids only), of one person
        (`person_id`) or one actor (`actor`, e.g. `staff:ana`), within [since, until), newest first."""
        try:
            query = AuditQuery(person_id=person_id, actor=actor, since=since, until=until, limit=limit)
        except ValueError as exc:
            raise DomainRuleViolation(str(exc), field="person_id") from exc
        accesses = await use_cases(request).repository.audit_trail(query)
        return {"accesses": [access_view(a) for a in accesses]}

    @router.get("/audit/verification")
    async def audit_verification(request: Request, caller: Administrator) -> dict[str, Any]:
        """Every record of the access log checked against its chain: `intact`, or the problems found (a record
        changed or missing, a head no record matches)."""
        found = await use_cases(request).repository.verify_audit()
        return {"intact": found.intact, "records": found.records, "chains": len(found.chains),
                "problems": found.problems}

    @router.get("/categories")
    async def categories(request: Request) -> dict[str, Any]:
        return categories_view(use_cases(request).categories())

    @router.get("/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, request: Request, caller: DeskStaff) -> CaseOut:
        service = use_cases(request)
        case = await service.read_case(ReadCase(case_id=case_id, actor=caller.actor))
        return case_view(case, with_person=True, referrals=await service.referral_statuses(case_id))

    @router.get("/cases", response_model=WorklistOut)
    async def list_cases(request: Request, caller: DeskStaff, status: str = "open", area: str | None = None,
                         staff: str | None = None, overdue: bool = False,
                         older_than_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
                         order: str = "oldest", after: str | None = None,
                         page_size: Annotated[int, Query(ge=1, le=100)] = 25) -> WorklistOut:
        """The worklist: cases by status, service area, assigned staff member, overdue referrals and age
        (opened at least `older_than_days` days ago), oldest (or newest) first, a page at a time: pass `next`
        back as `after`. Each name listed is an audited read."""
        service = use_cases(request)
        query = worklist_query(status=status, area=area, staff=staff, overdue=overdue,
                               older_than_days=older_than_days, order=order, after=after, page_size=page_size,
                               today=service.today())
        return worklist_view(await service.worklist(query, actor=caller.actor))

    @router.get("/persons", response_model=PeopleOut)
    async def search_people(request: Request, caller: DeskStaff, q: Annotated[str, Query(min_length=1,
                                                                                       max_length=200)],
                            after: str | None = None,
                            page_size: Annotated[int, Query(ge=1, le=100)] = 10) -> PeopleOut:
        """People found by name (accents, case and common misspellings forgiven), document number or phone,
        best first. Each one listed is an audited read."""
        found = await use_cases(request).search_people(SearchPeople(q, actor=caller.actor, after=after,
                                                                    page_size=page_size))
        return people_view(found)

    @router.get("/persons/{person_id}", response_model=PersonOut)
    async def get_person(person_id: str, request: Request, caller: DeskStaff) -> PersonOut:
        """The person's record: their data, its version (send it back with a correction) and their cases."""
        registered = await use_cases(request).read_person(ReadPerson(person_id=person_id, actor=caller.actor))
        return person_view(registered)

    @router.patch("/persons/{person_id}", response_model=PersonOut)
    async def correct_person(person_id: str, payload: PersonCorrectionIn, request: Request,
                             caller: DeskStaff) -> PersonOut:
        """Correct the person's data over the version read: 409 (with `details.changed`, the fields changed since,
        and `details.current_version`) if someone changed it meanwhile; nothing is overwritten."""
        registered = await use_cases(request).correct_person(
            correct_person_command(person_id, payload, actor=caller.actor))
        return person_view(registered)

    @router.post("/cases/{case_id}/notes", status_code=201, response_model=CaseOut)
    async def add_note(case_id: str, payload: NoteIn, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).add_note(AddNote(case_id, payload.text, actor=caller.actor))
        return case_view(case, with_person=True)

    @router.post("/cases/{case_id}/follow-ups", status_code=201, response_model=CaseOut)
    async def add_follow_up(case_id: str, payload: FollowUpIn, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).add_follow_up(AddFollowUp(case_id, payload.text, payload.due_on,
                                                                  actor=caller.actor))
        return case_view(case, with_person=True)

    @router.post("/cases/{case_id}/follow-ups/{follow_up_id}/done", response_model=CaseOut)
    async def complete_follow_up(case_id: str, follow_up_id: str, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).complete_follow_up(CompleteFollowUp(case_id, follow_up_id,
                                                                            actor=caller.actor))
        return case_view(case, with_person=True)

    @router.post("/cases/{case_id}/requests", status_code=201, response_model=CaseOut)
    async def add_request(case_id: str, payload: RequestIn, request: Request, caller: DeskStaff) -> CaseOut:
        """A request added to an open case; it is routed like those of the visit."""
        case = await use_cases(request).add_request(AddRequest(case_id, payload.category, payload.description,
                                                               actor=caller.actor))
        return case_view(case, with_person=True)

    @router.post("/cases/{case_id}/close", response_model=CaseOut)
    async def close_case(case_id: str, payload: CloseCaseIn, request: Request, caller: DeskStaff) -> CaseOut:
        """Close the case with an outcome, over the version read (409 if it changed since)."""
        case = await use_cases(request).close_case(CloseCase(case_id, payload.outcome, payload.version,
                                                             actor=caller.actor))
        return case_view(case, with_person=True)

    @router.post("/cases/{case_id}/reopen", response_model=CaseOut)
    async def reopen_case(case_id: str, payload: ReopenCaseIn, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).reopen_case(ReopenCase(case_id, payload.version, actor=caller.actor))
        return case_view(case, with_person=True)

    return router

