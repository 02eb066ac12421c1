"""LGPD erasure: personal data leave every case and the stored events, the profiles topic gets its tombstone,
counts stay, and a write that races the erasure makes it read again rather than lose anything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.case import Case, ProfileWithdrawn
from migradesk_intake.service import ErasePerson, FindDuplicates, IntakeService, ReadCase
from migradesk_shared.errors import NotFound
from tests.service.intake.helpers import CASE_TOPIC, DANIELA, PROFILE_TOPIC, Clock, RelayCalls, open_case


async def test_erasure_removes_the_person_from_every_case_and_stored_event(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    older = await service.open_case(open_case(DANIELA, "mental_health", "documentation"))
    newer = await service.open_case(open_case(existing_person_id=older.person_id))
    other = await service.open_case(open_case(replace(DANIELA, full_name="Maria Souza", documents=())))
    relay_calls.calls.clear()

    erasure = await service.erase_person(ErasePerson(older.person_id, actor="dpo"))

    assert (erasure.person_id, erasure.erased_from_cases) == (older.person_id, 2)
    assert sorted(relay_calls.calls) == sorted([("cases", older.case_id), ("cases", newer.case_id)])
    for case in (older, newer):
        stored = await service.read_case(ReadCase(case.case_id, actor="dpo"))
        assert stored.person is None and stored.erased_at is not None
        assert [r.category for r in stored.requests] == [r.category for r in case.requests]  # counts stay
        assert all(r.description is None for r in stored.requests)
        events = await repository.case_events(case.case_id)
        assert "Daniela" not in str(events) and "V123456" not in str(events)
        # The de-identified case events stay as they were; the profile event became a tombstone.
        assert [e.event_type for e in events if e.topic == CASE_TOPIC] == [
            "CaseOpened", *["RequestLogged"] * len(case.requests)]
        profile_events = [e for e in events if e.topic == PROFILE_TOPIC]
        assert all(e.payload is None and e.event_type == "Tombstone" and e.key == case.person_id
                   for e in profile_events)
        # The newest case also gets a fresh tombstone, so the compacted topic forgets the person for sure.
        assert len(profile_events) == (2 if case is newer else 1)
    untouched = await repository.get_case(other.case_id)
    assert untouched is not None and untouched.person is not None

    # Nobody finds, links or reaches the person any more; the erasure itself is in the access log.
    assert await service.find_duplicates(FindDuplicates(full_name=DANIELA.full_name, actor="ana",
                                                        birth_date=DANIELA.birth_date)) == []
    with pytest.raises(NotFound):
        await service.open_case(open_case(existing_person_id=older.person_id))
    accesses = await repository.accesses_to(older.person_id)
    assert [(a.action, a.case_id) for a in accesses if a.action is AccessKind.PERSON_ERASE] == [
        (AccessKind.PERSON_ERASE, newer.case_id)]


async def test_erasing_again_erases_again_and_an_unknown_person_is_not_found(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    await service.erase_person(ErasePerson(case.person_id, actor="dpo"))
    again = await service.erase_person(ErasePerson(case.person_id, actor="dpo"))
    assert again.erased_from_cases == 1
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is None
    assert [e.event_type for e in await repository.case_events(case.case_id)][-2:] == ["Tombstone", "Tombstone"]
    with pytest.raises(NotFound) as unknown:
        await service.erase_person(ErasePerson("no-such-person", actor="dpo"))
    assert unknown.value.field == "person_id"


async def test_an_erasure_read_before_another_write_is_refused_and_writes_nothing(
        service: IntakeService, repository: IntakeRepository, clock: Clock) -> None:
    case = await service.open_case(open_case())
    read = await repository.get_case(case.case_id)
    assert read is not None
    withdrawn = [ProfileWithdrawn(case.person_id)]
    assert await repository.save_erasure(read.erase_personal_data(clock()), withdrawn, actor="dpo")
    events = await repository.case_events(case.case_id)
    # Read before the first erasure stored its tombstone: this one would overwrite it, so it is refused.
    assert not await repository.save_erasure(read.erase_personal_data(clock()), withdrawn, actor="dpo")
    assert await repository.case_events(case.case_id) == events


class RacedOnce:
    """A repository whose first read of a case comes back stale, as if the case stored an event right after."""

    def __init__(self, inner: IntakeRepository) -> None:
        self.inner = inner
        self.raced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get_case(self, case_id: str) -> Case | None:
        case = await self.inner.get_case(case_id)
        if case is not None and not self.raced:
            self.raced = True
            return replace(case, events_stored=case.events_stored - 1)
        return case


async def test_an_erasure_that_lost_a_race_reads_the_case_again(service: IntakeService,
                                                                 repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    raced = RacedOnce(repository)
    erasing = IntakeService(raced, municipality=service.municipality)  # type: ignore[arg-type]
    assert (await erasing.erase_person(ErasePerson(case.person_id, actor="dpo"))).erased_from_cases == 1
    assert raced.raced
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is None
    assert [e.event_type for e in await repository.case_events(case.case_id)].count("Tombstone") == 2
