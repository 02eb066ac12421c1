"""The desk's worklist and search through the use cases: cases are listed as they are opened, closed, handed
referral events; people are found by a misspelt name, a document or a phone, corrected names are found by the
new name only, and an erased person is found no more. Every name shown is an audited read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.case import CaseOutcome
from migradesk_intake.domain.worklist import WorklistQuery
from migradesk_intake.service import (
    AddRequest,
    CloseCase,
    CorrectPerson,
    ErasePerson,
    IntakeService,
    SearchPeople,
)
from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCreated, ReferralOverdue
from tests.service.intake.helpers import DANIELA, ERASURE_REASON, WILNER, open_case
from tests.service.intake.test_referral_status import FACETS


async def test_the_worklist_follows_each_case(service: IntakeService, repository: IntakeRepository) -> None:
    first = await service.open_case(open_case(DANIELA, "sus_card"))
    second = await service.open_case(open_case(WILNER, "school_enrolment", actor="bob"))
    page = await service.worklist(WorklistQuery(), actor="ana")
    assert [(r.entry.case_id, r.full_name) for r in page.rows] == [(first.case_id, "Daniela Suárez"),
                                                                   (second.case_id, "Wilner Joseph")]
    assert page.total == 2
    listed = [a for a in await repository.accesses_to(first.person_id) if a.action is AccessKind.PERSON_LISTED]
    assert [(a.actor, a.case_id) for a in listed] == [("ana", first.case_id)]

    health = await service.worklist(WorklistQuery(service_area="health"), actor="ana")
    assert [r.entry.case_id for r in health.rows] == [first.case_id]
    await service.add_request(AddRequest(second.case_id, "mental_health", None, actor="bob"))
    health = await service.worklist(WorklistQuery(service_area="health"), actor="ana")
    assert [r.entry.case_id for r in health.rows] == [first.case_id, second.case_id]
    assert [r.entry.case_id for r in (await service.worklist(WorklistQuery(assigned_to="bob"), actor="ana")).rows
            ] == [second.case_id]

    await service.close_case(CloseCase(first.case_id, CaseOutcome.SERVED, expected_version=1, actor="ana"))
    assert [r.entry.case_id for r in (await service.worklist(WorklistQuery(), actor="ana")).rows] == [
        second.case_id]
    assert [r.entry.case_id for r in (await service.worklist(WorklistQuery(status="closed"), actor="ana")).rows
            ] == [first.case_id]


async def test_a_case_with_an_overdue_referral_is_listed_as_overdue_until_it_moves(service: IntakeService) -> None:
    case = await service.open_case(open_case(DANIELA, "sus_card"))
    other = await service.open_case(open_case(WILNER, "sus_card"))
    t0 = datetime(2026, 11, 22, 16, tzinfo=UTC)
    routed = ReferralCreated(referral_id="r1", case_id=case.case_id, request_id=case.requests[0].request_id,
                             category="sus_card", service_area="health", agency_id="ubs-1", municipality="Town",
                             facets=FACETS, producer="referral", occurred_at=t0)
    life = {"referral_id": "r1", "case_id": case.case_id, "service_area": "health", "agency_id": "ubs-1",
            "municipality": "Town", "referral_created_at": t0, "producer": "referral"}
    await service.record_referral_events([routed, ReferralOverdue(**life, occurred_at=t0 + timedelta(days=3),
                                                                  deadline=t0 + timedelta(days=2))])
    overdue = await service.worklist(WorklistQuery(overdue_only=True), actor="ana")
    assert [r.entry.case_id for r in overdue.rows] == [case.case_id]  # not the other one
    assert other.case_id not in {r.entry.case_id for r in overdue.rows}
    await service.record_referral_events([ReferralAccepted(**life, occurred_at=t0 + timedelta(days=4))])
    assert (await service.worklist(WorklistQuery(overdue_only=True), actor="ana")).rows == []


async def test_people_are_found_by_a_misspelt_name_a_document_or_a_phone(service: IntakeService,
                                                                          repository: IntakeRepository) -> None:
    daniela = await service.open_case(open_case(DANIELA, "sus_card"))
    await service.open_case(open_case(WILNER, "sus_card"))
    for text in ("daniela suarez", "Danyela Suares", "V123456-A", "v123456a", "(67) 99999-0000"):
        found = await service.search_people(SearchPeople(text, actor="ana"))
        assert [p.hit.person_id for p in found.people][:1] == [daniela.person_id], text
        assert found.people[0].case_ids == (daniela.case_id,)
    listed = [a for a in await repository.accesses_to(daniela.person_id) if a.action is AccessKind.PERSON_LISTED]
    assert len(listed) == 5 and {a.actor for a in listed} == {"ana"}

    await service.correct_person(CorrectPerson(daniela.person_id, 1, replace(DANIELA, full_name="Marisol Duarte"),
                                               actor="ana"))
    assert [p.hit.person_id for p in (await service.search_people(SearchPeople("marisol duarte", "ana"))).people
            ] == [daniela.person_id]
    assert daniela.person_id not in {
        p.hit.person_id for p in (await service.search_people(SearchPeople("daniela suarez", "ana"))).people}

    await service.erase_person(ErasePerson(daniela.person_id, actor="dpo", reason=ERASURE_REASON))
    for text in ("marisol duarte", "V123456-A"):
        assert daniela.person_id not in {
            p.hit.person_id for p in (await service.search_people(SearchPeople(text, "ana"))).people}
