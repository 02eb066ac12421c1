"""A consent changed after the visit: recorded in every case of the person with its history and audit; sharing
withdrawn removes the partners' copy (scrubbed profiles, a tombstone on the compacted topic, as an erasure does);
sharing given shares the newest profile under each case."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.person import ConsentGiven
from migradesk_intake.service import ChangeConsent, ErasePerson, IntakeService
from migradesk_shared.contracts.vocabulary import LegalBasis
from migradesk_shared.errors import NotFound
from tests.service.intake.helpers import CASE_TOPIC, DANIELA, NOT_SHARING, PROFILE_TOPIC, RelayCalls, open_case
from tests.service.intake.test_erasure import RacedOnce


def change(person_id: str, basis: LegalBasis = LegalBasis.CONSENT, *, share: bool) -> ChangeConsent:
    return ChangeConsent(person_id, basis, share_with_partners=share, recorded_by="bia", actor="bia")


async def test_withdrawing_the_sharing_scrubs_every_profile_and_tombstones_the_partners_copy(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    older = await service.open_case(open_case(DANIELA, "mental_health"))
    newer = await service.open_case(open_case(existing_person_id=older.person_id))
    relay_calls.calls.clear()

    result = await service.change_consent(change(older.person_id, share=False))

    assert (result.shared, result.cases_updated, result.consent.recorded_by) == (False, 2, "bia")
    assert result.consent.recorded_at is not None
    # Only the newest case stores new events (its tombstone): only it wakes the relay.
    assert relay_calls.calls == [("cases", newer.case_id)]
    for case in (older, newer):
        stored = await repository.get_case(case.case_id)
        assert stored is not None and stored.person is not None
        assert stored.person.consent == result.consent
        assert stored.person.consent_history == (DANIELA.consent,)
        events = await repository.case_events(case.case_id)
        assert [e.event_type for e in events if e.topic == CASE_TOPIC] == ["CaseOpened", "RequestLogged"]
        profiles = [e for e in events if e.topic == PROFILE_TOPIC]
        # No profile can go out any more: what was stored became tombstones, none carries the person's data.
        assert all(e.event_type == "Tombstone" and e.payload is None and e.key == case.person_id for e in profiles)
        assert "Daniela" not in str(events)
        assert len(profiles) == (2 if case is newer else 1)
    [access] = [a for a in await repository.accesses_to(older.person_id) if a.action is AccessKind.CONSENT_CHANGE]
    assert (access.actor, access.case_id) == ("bia", newer.case_id)


async def test_giving_the_sharing_later_shares_the_newest_profile_under_every_case(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    private = replace(DANIELA, consent=NOT_SHARING)
    first = await service.open_case(open_case(private))
    second = await service.open_case(open_case(replace(private, phone="+5567988887777"),
                                               existing_person_id=first.person_id))
    assert PROFILE_TOPIC not in {e.topic for e in await repository.case_events(first.case_id)}
    relay_calls.calls.clear()

    result = await service.change_consent(change(first.person_id, LegalBasis.PUBLIC_POLICY, share=True))

    assert result.shared and result.cases_updated == 2
    assert sorted(relay_calls.calls) == sorted([("cases", first.case_id), ("cases", second.case_id)])
    for case in (first, second):
        [profile] = [e.payload for e in await repository.case_events(case.case_id) if e.topic == PROFILE_TOPIC]
        assert profile is not None and profile["case_id"] == case.case_id
        assert profile["phone"] == "+5567988887777"  # the newest data, whichever case it goes under
        assert profile["consent"]["legal_basis"] == "public_policy" and profile["consent"]["recorded_by"] == "bia"


async def test_changing_the_basis_keeps_the_history_in_order(service: IntakeService,
                                                             repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    first = await service.change_consent(change(case.person_id, LegalBasis.PUBLIC_POLICY, share=True))
    second = await service.change_consent(change(case.person_id, LegalBasis.LIFE_PROTECTION, share=False))
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person is not None
    assert stored.person.consent == second.consent
    assert stored.person.consent_history == (DANIELA.consent, first.consent)
    assert isinstance(stored.person.consent_history[1], ConsentGiven)


async def test_an_unknown_or_erased_person_has_no_consent_to_change(service: IntakeService,
                                                                    relay_calls: RelayCalls) -> None:
    with pytest.raises(NotFound) as unknown:
        await service.change_consent(change("no-such-person", share=False))
    assert unknown.value.field == "person_id"
    case = await service.open_case(open_case())
    await service.erase_person(ErasePerson(case.person_id, actor="dpo"))
    relay_calls.calls.clear()
    with pytest.raises(NotFound):
        await service.change_consent(change(case.person_id, share=True))
    assert relay_calls.calls == []  # nothing shared again


async def test_a_change_that_lost_a_race_reads_the_case_again(service: IntakeService,
                                                              repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    raced = RacedOnce(repository)
    changing = IntakeService(raced, municipality=service.municipality)  # type: ignore[arg-type]
    result = await changing.change_consent(change(case.person_id, share=False))
    assert raced.raced and result.cases_updated == 1
    events = await repository.case_events(case.case_id)
    assert [e.event_type for e in events].count("Tombstone") == 2  # written once: the scrubbed one and the new one
