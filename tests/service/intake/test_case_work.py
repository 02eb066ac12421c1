"""The work on a case after the visit: notes, follow-ups, another request, closing and reopening; each write is
an entry of the case's timeline, and an edit over a version someone else changed since is refused (409)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.case import CaseOutcome, CaseStatus
from migradesk_intake.service import (
    AddFollowUp,
    AddNote,
    AddRequest,
    CloseCase,
    CompleteFollowUp,
    ErasePerson,
    IntakeService,
    ReadCase,
    ReopenCase,
)
from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCompleted, ReferralDeclined
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound
from tests.service.intake.helpers import CASE_TOPIC, DANIELA, ERASURE_REASON, Clock, RelayCalls, open_case
from tests.service.intake.test_referral_status import created, life


async def test_notes_and_follow_ups_are_kept_in_order_with_who_and_when(
        service: IntakeService, repository: IntakeRepository, clock: Clock, relay_calls: RelayCalls) -> None:
    case = await service.open_case(open_case())
    relay_calls.calls.clear()
    await service.add_note(AddNote(case.case_id, "  Brought the rental contract.  ", actor="ana"))
    await service.add_note(AddNote(case.case_id, "Asked about Portuguese classes.", actor="bob"))
    due = clock.now.date() + timedelta(days=7)
    with_follow_up = await service.add_follow_up(AddFollowUp(case.case_id, "Call about the CRAS visit", due,
                                                             actor="ana"))
    [follow_up] = with_follow_up.follow_ups
    done = await service.complete_follow_up(CompleteFollowUp(case.case_id, follow_up.follow_up_id, actor="bob"))
    # Completing it twice changes nothing.
    again = await service.complete_follow_up(CompleteFollowUp(case.case_id, follow_up.follow_up_id, actor="bob"))
    assert again.version == done.version

    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.version == 5
    assert [(n.text, n.by) for n in stored.notes] == [("Brought the rental contract.", "ana"),
                                                     ("Asked about Portuguese classes.", "bob")]
    [kept] = stored.follow_ups
    assert (kept.text, kept.due_on, kept.by, kept.done_by) == ("Call about the CRAS visit", due, "ana", "bob")
    assert kept.done_at is not None
    assert [(w.actor, w.action) for w in stored.writes] == [
        ("ana", AccessKind.CASE_OPEN), ("ana", AccessKind.CASE_NOTE), ("bob", AccessKind.CASE_NOTE),
        ("ana", AccessKind.CASE_FOLLOW_UP), ("bob", AccessKind.CASE_FOLLOW_UP_DONE)]
    assert [w.subject for w in stored.writes][1:3] == [n.note_id for n in stored.notes]
    # Free text never leaves intake: no event was stored, the relay was never woken.
    assert relay_calls.calls == [] and len(await repository.case_events(case.case_id)) == 2


async def test_bad_notes_and_follow_ups_are_refused_naming_the_field(service: IntakeService, clock: Clock) -> None:
    case = await service.open_case(open_case())
    with pytest.raises(DomainRuleViolation) as empty:
        await service.add_note(AddNote(case.case_id, "   ", actor="ana"))
    assert empty.value.field == "text"
    with pytest.raises(DomainRuleViolation) as past:
        await service.add_follow_up(AddFollowUp(case.case_id, "Call", clock.now.date() - timedelta(days=1),
                                                actor="ana"))
    assert past.value.field == "due_on"
    with pytest.raises(NotFound) as unknown:
        await service.complete_follow_up(CompleteFollowUp(case.case_id, "no-such", actor="ana"))
    assert unknown.value.field == "follow_up_id"
    with pytest.raises(NotFound):
        await service.add_note(AddNote("no-such-case", "text", actor="ana"))
    assert (await service.read_case(ReadCase(case.case_id, actor="ana"))).version == 1  # nothing written


async def test_a_request_added_to_an_open_case_is_announced_like_the_visits(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    case = await service.open_case(open_case())
    relay_calls.calls.clear()
    added = await service.add_request(AddRequest(case.case_id, "school_enrolment", "6th grade", actor="bob"))
    assert [(r.category, r.service_area) for r in added.requests] == [
        ("sus_card", ServiceArea.HEALTH), ("school_enrolment", ServiceArea.EDUCATION)]
    events = await repository.case_events(case.case_id)
    assert [(e.topic, e.event_type) for e in events][-1] == (CASE_TOPIC, "RequestLogged")
    logged = events[-1].payload
    assert logged is not None and logged["request_id"] == added.requests[-1].request_id
    assert logged["facets"]["nationality"] == "VEN" and "6th grade" not in str(logged)
    assert relay_calls.calls == [("cases", case.case_id)]
    with pytest.raises(DomainRuleViolation) as unknown:
        await service.add_request(AddRequest(case.case_id, "teleportation", None, actor="bob"))
    assert unknown.value.field == "category"


async def test_closing_and_reopening_over_the_version_shown(service: IntakeService,
                                                             repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    closed = await service.close_case(CloseCase(case.case_id, CaseOutcome.SERVED, expected_version=1, actor="ana"))
    assert (closed.status, closed.outcome, closed.version) == (CaseStatus.CLOSED, CaseOutcome.SERVED, 2)
    assert closed.closed_at is not None
    with pytest.raises(DomainRuleViolation) as shut:
        await service.add_request(AddRequest(case.case_id, "sus_card", None, actor="ana"))
    assert shut.value.field == "status"
    with pytest.raises(DomainRuleViolation):
        await service.close_case(CloseCase(case.case_id, CaseOutcome.SERVED, expected_version=2, actor="ana"))
    # A note is still welcome on a closed case (what happened afterwards).
    await service.add_note(AddNote(case.case_id, "Came back to say thanks.", actor="ana"))
    reopened = await service.reopen_case(ReopenCase(case.case_id, expected_version=3, actor="bob"))
    assert (reopened.status, reopened.outcome, reopened.closed_at) == (CaseStatus.OPEN, None, None)
    stored = await repository.get_case(case.case_id)
    assert stored is not None and [w.action for w in stored.writes][-3:] == [
        AccessKind.CASE_CLOSE, AccessKind.CASE_NOTE, AccessKind.CASE_REOPEN]
    assert stored.writes[-3].subject == "served"


async def test_a_stale_close_is_refused_with_what_changed_and_writes_nothing(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    await service.add_request(AddRequest(case.case_id, "school_enrolment", None, actor="bob"))
    with pytest.raises(Conflict) as stale:
        await service.close_case(CloseCase(case.case_id, CaseOutcome.SERVED, expected_version=1, actor="ana"))
    assert stale.value.status_code == 409 and stale.value.field == "version"
    assert stale.value.details == {"current_version": 2, "changed": ["case.request"]}
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.status is CaseStatus.OPEN and stored.version == 2


async def test_the_case_file_suggests_an_outcome_once_every_referral_ended(service: IntakeService) -> None:
    case = await service.open_case(open_case(DANIELA, "sus_card", "school_enrolment"))
    [health, school] = case.requests
    await service.record_referral_events([created("r1", case.case_id, health.request_id),
                                          created("r2", case.case_id, school.request_id),
                                          ReferralAccepted(**life("r1", case.case_id, 5))])
    assert (await service.case_file(ReadCase(case.case_id, actor="ana"))).suggested_outcome is None
    await service.record_referral_events([ReferralCompleted(**life("r1", case.case_id, 9), outcome="got_help"),
                                          ReferralDeclined(**life("r2", case.case_id, 9), reason="out_of_scope")])
    file = await service.case_file(ReadCase(case.case_id, actor="ana"))
    assert file.suggested_outcome is CaseOutcome.PARTLY_SERVED
    assert sorted(r.referral_id for r in file.referrals) == ["r1", "r2"] and file.person_version == 1


async def test_an_erased_persons_case_takes_no_more_work(service: IntakeService) -> None:
    case = await service.open_case(open_case())
    await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    with pytest.raises(DomainRuleViolation) as erased:
        await service.add_note(AddNote(case.case_id, "text", actor="ana"))
    assert erased.value.field == "case_id"
