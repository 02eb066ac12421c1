"""LGPD erasure: personal data leave the person's record, the free text of every case and the stored events, the
profiles topic gets its tombstone, counts stay, and a write that races the erasure makes it read again rather
than lose anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind, Write
from migradesk_intake.domain.case import CaseEvent, ProfileWithdrawn
from migradesk_intake.domain.person import RegisteredPerson
from migradesk_intake.service import AddNote, ErasePerson, FindDuplicates, IntakeService, ReadCase
from migradesk_shared.errors import NotFound
from tests.service.intake.helpers import DANIELA, ERASURE_REASON, PROFILE_TOPIC, Clock, RelayCalls, open_case


async def test_erasure_removes_the_person_from_their_record_every_case_and_stored_event(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    older = await service.open_case(open_case(DANIELA, "mental_health", "documentation"))
    newer = await service.open_case(replace(open_case(), person=None, existing_person_id=older.person_id))
    await service.add_note(AddNote(newer.case_id, "Daniela said her brother arrives in May", actor="ana"))
    other = await service.open_case(open_case(replace(DANIELA, full_name="Maria Souza", documents=())))
    relay_calls.calls.clear()

    erasure = await service.erase_person(ErasePerson(older.person_id, actor="dpo", reason=ERASURE_REASON))

    assert (erasure.person_id, erasure.erased_from_cases) == (older.person_id, 2)
    # Only the person's record stores new events (their tombstone): only it wakes the relay.
    assert relay_calls.calls == [("persons", older.person_id)]
    for case in (older, newer):
        stored = await service.read_case(ReadCase(case.case_id, actor="dpo"))
        assert stored.person is None and stored.erased_at is not None
        assert [r.category for r in stored.requests] == [r.category for r in case.requests]  # counts stay
        assert all(r.description is None for r in stored.requests)
        assert all(n.text == "" for n in stored.notes)  # free text goes; who wrote when stays
        assert stored.writes[-1].action is AccessKind.PERSON_ERASE
        events = await repository.case_events(case.case_id)
        # The de-identified case events stay as they were.
        assert [e.event_type for e in events] == ["CaseOpened", *["RequestLogged"] * len(case.requests)]
    assert [n.by for n in (await repository.get_case(newer.case_id)).notes] == ["ana"]  # type: ignore[union-attr]
    profile_events = await repository.person_events(older.person_id)
    assert "Daniela" not in str(profile_events) and "V123456" not in str(profile_events)
    # The two profiles stored became tombstones, and a fresh one follows, so the compacted topic forgets them.
    assert [(e.topic, e.event_type, e.payload) for e in profile_events] == [(PROFILE_TOPIC, "Tombstone", None)] * 3
    untouched = await repository.get_case(other.case_id)
    assert untouched is not None and untouched.person is not None

    # Nobody finds, links or reaches the person any more; the erasure itself is in the access log.
    assert await service.find_duplicates(FindDuplicates(full_name=DANIELA.full_name, actor="ana",
                                                        birth_date=DANIELA.birth_date)) == []
    with pytest.raises(NotFound):
        await service.open_case(replace(open_case(), person=None, existing_person_id=older.person_id))
    accesses = await repository.accesses_to(older.person_id)
    assert [(a.action, a.case_id) for a in accesses if a.action is AccessKind.PERSON_ERASE] == [
        (AccessKind.PERSON_ERASE, newer.case_id)]


async def test_erasing_again_erases_again_and_an_unknown_person_is_not_found(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    again = await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    assert again.erased_from_cases == 1
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is None
    assert [e.event_type for e in await repository.person_events(case.person_id)][-2:] == ["Tombstone", "Tombstone"]
    with pytest.raises(NotFound) as unknown:
        await service.erase_person(ErasePerson("no-such-person", actor="dpo", reason=ERASURE_REASON))
    assert unknown.value.field == "person_id"


async def test_a_write_over_a_version_read_before_another_write_is_refused_and_writes_nothing(
        service: IntakeService, repository: IntakeRepository, clock: Clock) -> None:
    case = await service.open_case(open_case())
    read = await repository.get_person(case.person_id)
    assert read is not None
    erased = replace(read, person=None, erased_at=clock(), version=read.version + 1)
    withdrawn = [ProfileWithdrawn(case.person_id)]
    write = Write("dpo", AccessKind.PERSON_ERASE, clock())
    assert await repository.save_person(erased, withdrawn, expected_version=read.version, write=write, scrub=True)
    events = await repository.person_events(case.person_id)
    # Read before the first erasure stored its tombstone: this one would overwrite it, so it is refused.
    assert not await repository.save_person(erased, withdrawn, expected_version=read.version, write=write,
                                            scrub=True)
    assert await repository.person_events(case.person_id) == events
    # The same for a case: a save over the version read is refused once another write made a newer one.
    stored_case = await repository.get_case(case.case_id)
    assert stored_case is not None
    noted = stored_case.add_note("first", by="ana", at=clock())
    assert await repository.save_case(noted, [], expected_version=stored_case.version)
    late = stored_case.add_note("second", by="bob", at=clock())
    assert not await repository.save_case(late, [], expected_version=stored_case.version)
    kept = await repository.get_case(case.case_id)
    assert kept is not None and [n.text for n in kept.notes] == ["first"] and kept.version == 2


class RacedOnce:
    """A repository whose first save of a person's record finds it changed, as if another write came first."""

    def __init__(self, inner: IntakeRepository) -> None:
        self.inner = inner
        self.raced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def save_person(self, registered: RegisteredPerson, events: Sequence[CaseEvent], *,
                          expected_version: int, write: Write, scrub: bool = False) -> bool:
        if not self.raced:
            self.raced = True
            return False
        return await self.inner.save_person(registered, events, expected_version=expected_version, write=write,
                                            scrub=scrub)


async def test_an_erasure_that_lost_a_race_reads_the_record_again(service: IntakeService,
                                                                   repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    raced = RacedOnce(repository)
    erasing = IntakeService(raced, municipality=service.municipality)  # type: ignore[arg-type]
    erased = await erasing.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    assert erased.erased_from_cases == 1
    assert raced.raced
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is None
    assert [e.event_type for e in await repository.person_events(case.person_id)] == ["Tombstone", "Tombstone"]
