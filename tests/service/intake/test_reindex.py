"""`python -m migradesk_intake reindex` rebuilds the worklist, the person search and the duplicate look-up keys
from the cases and the persons: whatever the indexes held (lost, or in an older layout), the desk lists, finds
and matches exactly what it did, an erased person included (found by nobody), and overdue flags kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.repository import MongoIntakeRepository
from migradesk_intake.domain.case import CaseOutcome
from migradesk_intake.domain.worklist import WorklistQuery
from migradesk_intake.reindex import INDEX_COLLECTIONS, reindex
from migradesk_intake.service import CloseCase, ErasePerson, FindDuplicates, IntakeService, SearchPeople
from migradesk_shared.contracts.referral_events import ReferralCreated, ReferralOverdue
from tests.service.intake.helpers import DANIELA, ERASURE_REASON, TOWN, WILNER, Clock, open_case
from tests.service.intake.test_referral_status import FACETS

pytestmark = pytest.mark.infra

QUERIES = [WorklistQuery(page_size=100), WorklistQuery(status="closed", page_size=100),
           WorklistQuery(service_area="health", page_size=100), WorklistQuery(overdue_only=True, page_size=100),
           WorklistQuery(assigned_to="bob", oldest_first=False, page_size=100)]
SEARCHES = ["daniela suarez", "Danyela Suares", "wilner joseph", "V123456-A", "(67) 99999-0000", "maria"]


async def what_the_desk_sees(service: IntakeService) -> dict[str, Any]:
    listed = {repr(q): [(r.entry.case_id, r.entry.overdue, r.full_name)
                        for r in (await service.worklist(q, actor="ana")).rows] for q in QUERIES}
    found = {text: [p.hit.person_id for p in (await service.search_people(SearchPeople(text, actor="ana"))).people]
             for text in SEARCHES}
    twins = [c.person.person_id for c in await service.find_duplicates(FindDuplicates(
        DANIELA.full_name, actor="ana", birth_date=DANIELA.birth_date, nationality=DANIELA.nationality))]
    return {"listed": listed, "found": found, "twins": twins}


async def test_the_rebuilt_indexes_give_the_desk_what_it_saw(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    repository = MongoIntakeRepository(intake_db)
    await repository.ensure_indexes()
    clock = Clock()
    service = IntakeService(repository, municipality=TOWN, clock=clock)
    daniela = await service.open_case(open_case(DANIELA, "sus_card"))
    wilner = await service.open_case(open_case(WILNER, "school_enrolment", actor="bob", assigned_to="bob"))
    clock.now += timedelta(hours=2)  # another hour: another bucket
    again = await service.open_case(replace(open_case(DANIELA, "job_placement"), person=None,
                                            existing_person_id=daniela.person_id))
    maria = await service.open_case(open_case(replace(DANIELA, full_name="María Gómez", documents=(), phone=None),
                                              "cadunico"))
    await service.close_case(CloseCase(wilner.case_id, CaseOutcome.SERVED, expected_version=1, actor="bob"))
    t0 = datetime(2026, 11, 22, 16, tzinfo=UTC)
    life = {"referral_id": "r1", "case_id": again.case_id, "service_area": "work", "agency_id": "sine",
            "municipality": TOWN, "referral_created_at": t0, "producer": "referral"}
    await service.record_referral_events([
        ReferralCreated(referral_id="r1", case_id=again.case_id, request_id=again.requests[0].request_id,
                        category="job_placement", service_area="work", agency_id="sine", municipality=TOWN,
                        facets=FACETS, producer="referral", occurred_at=t0),
        ReferralOverdue(**life, occurred_at=t0 + timedelta(days=3), deadline=t0 + timedelta(days=2))])
    await service.erase_person(ErasePerson(maria.person_id, actor="dpo", reason=ERASURE_REASON))
    before = await what_the_desk_sees(service)
    assert before["listed"][repr(QUERIES[3])] == [(again.case_id, True, "Daniela Suárez")]
    assert before["found"]["daniela suarez"][:1] == [daniela.person_id] and before["twins"] == [daniela.person_id]

    # Lost, and in a layout the pages do not read (a day's bucket where an hour's is expected).
    for name in INDEX_COLLECTIONS:
        await intake_db.drop_collection(name)
    await intake_db["worklist_keys"].insert_one({"_id": "open|2026-11-22", "e": ["stale|case"]})
    assert (await service.worklist(QUERIES[0], actor="ana")).rows == []

    lines: list[str] = []
    report = await reindex(intake_db, batch=2, progress=lines.append)
    assert (report.persons, report.cases) == (3, 4)
    assert lines[-1] == "cases listed: 4" and "people indexed: 3" in lines
    assert await what_the_desk_sees(service) == before
    assert await intake_db["worklist_keys"].find_one({"_id": "open|2026-11-22"}) is None
    # The erased person is in no index.
    for name in ("person_search", "match_keys"):
        assert await intake_db[name].find_one({"$or": [{"_id": maria.person_id}, {"person_id": maria.person_id}]}) \
            is None
