"""Intake's HTTP routes, thin: parse the payload, turn it into a command, call one use case, render the view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from migradesk_intake.adapters.views import (
    activity_view,
    candidates_view,
    case_view,
    categories_view,
    change_consent_command,
    consent_change_view,
    erasure_view,
    find_duplicates_command,
    log_activity_command,
    open_case_command,
)
from migradesk_intake.entrypoints.schemas import (
    ActivityIn,
    CaseOut,
    ConsentChangeIn,
    ConsentChangeOut,
    DuplicateCheckIn,
    OpenCaseIn,
)
from migradesk_intake.service import ErasePerson, IntakeService, ReadCase
from migradesk_shared.auth import Principal, Role, requires

DeskStaff = Annotated[Principal, Depends(requires(Role.STAFF, Role.ADMIN))]


def use_cases(request: Request) -> IntakeService:
    # Looked up in the route's body, not as a dependency: a bad payload gets its 422 before anything runs.
    service: IntakeService = request.app.state.service
    return service


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.post("/cases", status_code=201, response_model=CaseOut)
    async def open_case(payload: OpenCaseIn, request: Request, caller: DeskStaff) -> CaseOut:
        case = await use_cases(request).open_case(open_case_command(payload, actor=caller.actor))
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
    async def erase_person(person_id: str, request: Request, caller: DeskStaff) -> dict[str, Any]:
        """LGPD erasure request of a data subject: personal data removed everywhere, counts kept."""
        erasure = await use_cases(request).erase_person(ErasePerson(person_id=person_id, actor=caller.actor))
        return erasure_view(erasure)

    @router.post("/activities", status_code=201)
    async def log_activity(payload: ActivityIn, request: Request, caller: DeskStaff) -> dict[str, Any]:
        """Trainings of public servants, participation and cultural events, information materials."""
        logged = await use_cases(request).log_activity(log_activity_command(payload, actor=caller.actor))
        return activity_view(logged)

    @router.get("/categories")
    async def categories(request: Request) -> dict[str, Any]:
        return categories_view(use_cases(request).categories())

    @router.get("/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, request: Request, caller: DeskStaff) -> CaseOut:
        service = use_cases(request)
        case = await service.read_case(ReadCase(case_id=case_id, actor=caller.actor))
        return case_view(case, with_person=True, referrals=await service.referral_statuses(case_id))

    return router

