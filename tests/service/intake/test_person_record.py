"""A person's own record: one for all their visits, corrected in one place over the version shown; an edit of an
older version is refused (409) with the fields changed since, and nothing is overwritten."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.duplicates import PersonRecord, match_keys
from migradesk_intake.service import ChangeConsent, CorrectPerson, ErasePerson, IntakeService, ReadPerson
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import Conflict, NotFound
from tests.service.intake.helpers import DANIELA, ERASURE_REASON, NOT_SHARING, RelayCalls, open_case


async def test_a_correction_changes_the_one_record_every_case_reads(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    first = await service.open_case(open_case())
    second = await service.open_case(replace(open_case(), person=None, existing_person_id=first.person_id))
    relay_calls.calls.clear()
    fixed = replace(DANIELA, full_name="Daniela Suárez Rojas", phone="+5567988880000")
    after = await service.correct_person(CorrectPerson(first.person_id, 1, fixed, actor="bob"))

    assert after.version == 2 and after.person is not None and after.person.full_name == "Daniela Suárez Rojas"
    assert [(c.version, c.by, c.fields) for c in after.changes] == [(2, "bob", ("full_name", "phone"))]
    # The consent on record stays whatever the correction carried.
    assert after.person.consent.recorded_at is not None
    for case_id in (first.case_id, second.case_id):
        case = await repository.get_case(case_id)
        assert case is not None and case.person == after.person
    # The partner network gets the corrected contact (the consent allows sharing), in the record's outbox.
    assert relay_calls.calls == [("persons", first.person_id)]
    profile = (await repository.person_events(first.person_id))[-1].payload
    assert profile is not None and profile["phone"] == "+5567988880000"
    # Found by the new name, no longer by the old one.
    new_keys = match_keys(PersonRecord("", "Daniela Suárez Rojas"))
    old_keys = match_keys(PersonRecord("", "Daniela Suárez"))
    assert [p.person_id for p in await repository.persons_matching(new_keys, limit=5)] == [first.person_id]
    assert await repository.persons_matching(old_keys, limit=5) == []
    read = await service.read_person(ReadPerson(first.person_id, actor="bob"))
    assert read == after
    assert [a.action for a in await repository.accesses_to(first.person_id)] == [AccessKind.PERSON_READ]


async def test_a_stale_correction_is_refused_with_what_changed_and_overwrites_nothing(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    await service.correct_person(CorrectPerson(case.person_id, 1, replace(DANIELA, phone="+5567911112222"),
                                               actor="ana"))
    await service.change_consent(ChangeConsent(case.person_id, LegalBasis.PUBLIC_POLICY, share_with_partners=True,
                                               recorded_by="ana", actor="ana"))
    with pytest.raises(Conflict) as stale:
        await service.correct_person(CorrectPerson(case.person_id, 1, replace(DANIELA, full_name="Dani Suárez"),
                                                   actor="bob"))
    assert stale.value.status_code == 409 and stale.value.field == "version"
    assert stale.value.details == {"current_version": 3, "changed": ["phone", "consent"]}
    kept = await repository.get_person(case.person_id)
    assert kept is not None and kept.person is not None
    assert (kept.version, kept.person.full_name, kept.person.phone) == (3, "Daniela Suárez", "+5567911112222")


async def test_a_correction_that_changes_nothing_writes_nothing(service: IntakeService,
                                                                repository: IntakeRepository,
                                                                relay_calls: RelayCalls) -> None:
    case = await service.open_case(open_case(replace(DANIELA, consent=NOT_SHARING)))
    relay_calls.calls.clear()
    same = await service.correct_person(CorrectPerson(case.person_id, 1, DANIELA, actor="bob"))
    assert same.version == 1 and relay_calls.calls == []
    with pytest.raises(NotFound):
        await service.correct_person(CorrectPerson("no-such-person", 1, DANIELA, actor="bob"))
    await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    with pytest.raises(NotFound):
        await service.correct_person(CorrectPerson(case.person_id, 2, DANIELA, actor="bob"))
