"""The local copies of the profiles intake shares: kept for the serving agency, erased on a tombstone."""

from __future__ import annotations

import pytest

from migradesk_referral.adapters.views import person_view
from migradesk_referral.service import ReferralService
from migradesk_shared.errors import NotFound
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import Repository, agency, profile, routed, unique

HEALTH = ServiceArea.HEALTH


async def test_the_serving_agency_sees_the_shared_contact(service: ReferralService) -> None:
    case_id, person_id = unique("case"), unique("person")
    rid = await routed(service, HEALTH, "sus_card", case_id=case_id)
    assert (await service.show(rid, agency("ubs-jardim-climax"))).person is None  # nothing shared yet
    event = profile(person_id, case_id)
    await service.keep_person_profile(event)
    await service.keep_person_profile(event)  # redelivered
    detail = await service.show(rid, agency("ubs-jardim-climax"))
    assert detail.referral.referral_id == rid
    view = person_view(detail.person)
    assert view is not None
    assert {k: v for k, v in view.items() if k != "updated_at"} == {
        "full_name": "María Gómez", "phone": "+5567999990000", "languages": ["es", "pt"],
        "birth_date": "1990-05-17"}
    with pytest.raises(NotFound):
        await service.show(rid, agency("ubs-vila-industrial"))  # another agency's referral


async def test_the_latest_profile_wins_and_a_returning_person_keeps_one_copy(
        service: ReferralService, repository: Repository) -> None:
    person_id, first_case, second_case = unique("person"), unique("case"), unique("case")
    await service.keep_person_profile(profile(person_id, first_case, phone=None))
    await service.keep_person_profile(profile(person_id, second_case, full_name="María Gómez Ruiz"))
    for case_id in (first_case, second_case):
        contact = await repository.person_for_case(case_id)
        assert contact is not None and (contact.full_name, contact.phone) == ("María Gómez Ruiz", "+5567999990000")


async def test_an_erasure_removes_the_copy_from_every_case(service: ReferralService, repository: Repository) -> None:
    person_id, first_case, second_case = unique("person"), unique("case"), unique("case")
    other_case = unique("case")
    await service.keep_person_profile(profile(person_id, first_case))
    await service.keep_person_profile(profile(person_id, second_case))
    await service.keep_person_profile(profile(unique("person"), other_case, full_name="Jean Pierre"))
    await service.erase_person(person_id)
    await service.erase_person(person_id)  # a redelivered tombstone
    await service.erase_person(unique("person"))  # a tombstone for a person never shared
    assert await repository.person_for_case(first_case) is None
    assert await repository.person_for_case(second_case) is None
    rid = await routed(service, HEALTH, "sus_card", case_id=first_case)
    assert (await service.show(rid, None)).person is None
    someone_else = await repository.person_for_case(other_case)
    assert someone_else is not None and someone_else.full_name == "Jean Pierre"  # only that person's copy goes


async def test_a_batch_of_profiles_is_kept_in_order(service: ReferralService, repository: Repository) -> None:
    """The consumer keeps a run of profiles in one command per collection: the later profile of a person in
    the batch wins, every case links to it, and a redelivered batch changes nothing."""
    person_id, first_case, second_case, other_case = unique("person"), unique("case"), unique("case"), unique("case")
    batch = [profile(person_id, first_case, phone=None), profile(unique("person"), other_case, full_name="Jean Pierre"),
             profile(person_id, second_case, full_name="María Gómez Ruiz")]
    await service.keep_person_profiles(batch)
    await service.keep_person_profiles(batch)  # redelivered
    for case_id in (first_case, second_case):
        contact = await repository.person_for_case(case_id)
        assert contact is not None and (contact.full_name, contact.phone) == ("María Gómez Ruiz", "+5567999990000")
    other = await repository.person_for_case(other_case)
    assert other is not None and other.full_name == "Jean Pierre"
