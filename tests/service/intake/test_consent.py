"""A consent changed after the visit: recorded once, in the person's record, with its history and audit;
sharing withdrawn removes the partners' copy (scrubbed profiles, a tombstone on the compacted topic, as an erasure
does); sharing given shares the profile under each of their cases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.person import ConsentGiven
from migradesk_intake.service import ChangeConsent, ErasePerson, IntakeService
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import NotFound
from tests.service.intake.helpers import (
    CASE_TOPIC,
    DANIELA,
    ERASURE_REASON,
    NOT_SHARING,
    PROFILE_TOPIC,
    RelayCalls,
    as_registered,
    open_case,
)
from tests.service.intake.test_erasure import RacedOnce


def change(person_id: str, basis: LegalBasis = LegalBasis.CONSENT, *, share: bool) -> ChangeConsent:
    return ChangeConsent(person_id, basis, share_with_partners=share, recorded_by="bia", actor="bia")


async def test_withdrawing_the_sharing_scrubs_every_profile_and_tombstones_the_partners_copy(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    older = await service.open_case(open_case(DANIELA, "mental_health"))
    newer = await service.open_case(replace(open_case(), person=None, existing_person_id=older.person_id))
    relay_calls.calls.clear()

    result = await service.change_consent(change(older.person_id, share=False))

    assert (result.shared, result.cases_updated, result.consent.recorded_by) == (False, 2, "bia")
    assert result.consent.recorded_at is not None
    # One record holds the person: only it is written, and only it wakes the relay.
    assert relay_calls.calls == [("persons", older.person_id)]
    for case in (older, newer):
        stored = await repository.get_case(case.case_id)
        assert stored is not None and stored.person is not None
        assert stored.person.consent == result.consent
        assert stored.person.consent_history == (as_registered(DANIELA, older.opened_at).consent,)
        assert [e.event_type for e in await repository.case_events(case.case_id)] == ["CaseOpened",
                                                                                     "RequestLogged"]
    events = await repository.person_events(older.person_id)
    # No profile can go out any more: the two stored became tombstones, and a new one follows.
    assert [(e.topic, e.event_type, e.payload, e.key) for e in events] == [
        (PROFILE_TOPIC, "Tombstone", None, older.person_id)] * 3
    assert "Daniela" not in str(events)
    registered = await repository.get_person(older.person_id)
    assert registered is not None and registered.version == 2 and registered.changes[-1].fields == ("consent",)
    [access] = [a for a in await repository.accesses_to(older.person_id) if a.action is AccessKind.CONSENT_CHANGE]
    assert (access.actor, access.case_id) == ("bia", newer.case_id)


async def test_giving_the_sharing_later_shares_the_profile_under_every_case(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    private = replace(DANIELA, consent=NOT_SHARING, phone="+5567988887777")
    first = await service.open_case(open_case(private))
    second = await service.open_case(replace(open_case(), person=None, existing_person_id=first.person_id))
    assert await repository.person_events(first.person_id) == []
    relay_calls.calls.clear()

    result = await service.change_consent(change(first.person_id, LegalBasis.PUBLIC_POLICY, share=True))

    assert result.shared and result.cases_updated == 2
    assert relay_calls.calls == [("persons", first.person_id)]
    profiles = [e.payload for e in await repository.person_events(first.person_id)]
    assert [p["case_id"] for p in profiles if p] == [first.case_id, second.case_id]
    for profile in profiles:
        assert profile is not None and profile["phone"] == "+5567988887777"
        assert profile["consent"]["legal_basis"] == "public_policy" and profile["consent"]["recorded_by"] == "bia"
    assert {e.topic for e in await repository.case_events(first.case_id)} == {CASE_TOPIC}


async def test_changing_the_basis_keeps_the_history_in_order(service: IntakeService,
                                                             repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    first = await service.change_consent(change(case.person_id, LegalBasis.PUBLIC_POLICY, share=True))
    second = await service.change_consent(change(case.person_id, LegalBasis.LIFE_PROTECTION, share=False))
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is not None
    assert stored.person.consent == second.consent
    assert stored.person.consent_history == (as_registered(DANIELA, case.opened_at).consent, first.consent)
    assert isinstance(stored.person.consent_history[1], ConsentGiven)


async def test_an_unknown_or_erased_person_has_no_consent_to_change(service: IntakeService,
                                                                    relay_calls: RelayCalls) -> None:
    with pytest.raises(NotFound) as unknown:
        await service.change_consent(change("no-such-person", share=False))
    assert unknown.value.field == "person_id"
    case = await service.open_case(open_case())
    await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    relay_calls.calls.clear()
    with pytest.raises(NotFound):
        await service.change_consent(change(case.person_id, share=True))
    assert relay_calls.calls == []  # nothing shared again


async def test_a_change_that_lost_a_race_reads_the_record_again(service: IntakeService,
                                                                repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    raced = RacedOnce(repository)
    changing = IntakeService(raced, municipality=service.municipality)  # type: ignore[arg-type]
    result = await changing.change_consent(change(case.person_id, share=False))
    assert raced.raced and result.cases_updated == 1
    events = await repository.person_events(case.person_id)
    assert [e.event_type for e in events] == ["Tombstone", "Tombstone"]  # written once: the scrubbed one and the new
    registered = await repository.get_person(case.person_id)
    assert registered is not None and registered.version == 2
