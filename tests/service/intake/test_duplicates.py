"""Duplicate candidates at the desk, found through the look-up keys; each candidate shown is an audited read."""

from __future__ import annotations

from dataclasses import replace

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.duplicates import Strength
from migradesk_intake.domain.person import Document
from migradesk_intake.service import FindDuplicates, IntakeService
from migradesk_shared.contracts.vocabulary import DocumentType
from tests.service.intake.helpers import DANIELA, open_case


async def test_a_spelling_variant_with_the_same_birth_date_is_a_probable_candidate(
        service: IntakeService, repository: IntakeRepository) -> None:
    first = await service.open_case(open_case())
    second = await service.open_case(open_case(existing_person_id=first.person_id))
    await service.open_case(open_case(replace(DANIELA, full_name="Maria Souza", documents=())))
    found = await service.find_duplicates(FindDuplicates(full_name="DANIELA  SUAREZ", actor="bob",
                                                         birth_date=DANIELA.birth_date, nationality="VEN"))
    [candidate] = found
    assert candidate.person.person_id == first.person_id and candidate.person.full_name == "Daniela Suárez"
    assert candidate.candidate.strength is Strength.PROBABLE
    assert "same birth date" in candidate.candidate.reasons and "same nationality" in candidate.candidate.reasons
    assert sorted(candidate.case_ids) == sorted([first.case_id, second.case_id])
    [access] = await repository.accesses_to(first.person_id)
    assert (access.actor, access.action) == ("bob", AccessKind.DUPLICATE_CANDIDATE)
    assert access.case_id in candidate.case_ids


async def test_a_shared_document_number_is_strong_whatever_the_name(service: IntakeService) -> None:
    first = await service.open_case(open_case())
    found = await service.find_duplicates(FindDuplicates(
        full_name="Outra Pessoa", actor="bob", documents=(Document(DocumentType.RNM, "v123456a"),)))
    assert [(c.person.person_id, c.candidate.strength) for c in found] == [(first.person_id, Strength.STRONG)]


async def test_nobody_alike_is_no_candidate_and_no_read(service: IntakeService,
                                                        repository: IntakeRepository) -> None:
    first = await service.open_case(open_case())
    assert await service.find_duplicates(FindDuplicates(full_name="Jean-Baptiste Pierre", actor="bob")) == []
    assert await repository.accesses_to(first.person_id) == []
