"""What callers see: a case's referrals, an agency's inbox, one referral, the directory."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from migradesk_referral.adapters.views import agency_view, referral_view
from migradesk_referral.service import ListReferrals, ReferralService
from migradesk_shared.contracts.vocabulary import Action
from migradesk_shared.errors import Forbidden, NotFound
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import STAFF, Repository, agency, routed, step, unique

PROTECTION = ServiceArea.PROTECTION


@pytest.fixture
def ticking(repository: Repository) -> ReferralService:
    """The service on a clock that moves a second at every reading, so newest-first orders are certain."""
    start = datetime.now(UTC)
    times = (start + timedelta(seconds=i) for i in itertools.count())
    return ReferralService(repository, clock=lambda: next(times))


async def test_a_case_lists_its_referrals_for_the_desk_and_each_agency_its_own(ticking: ReferralService) -> None:
    service, case_id = ticking, unique("case")
    protection = await routed(service, PROTECTION, "trafficking", case_id=case_id)
    health = await routed(service, ServiceArea.HEALTH, "sus_card", case_id=case_id)
    await routed(service, PROTECTION, "trafficking")  # another case
    everything = await service.list_referrals(ListReferrals(STAFF, case_id=case_id))
    assert [r.referral_id for r in everything] == [health, protection]  # newest first
    serving = everything[1].agency_id
    assert serving is not None
    theirs = await service.list_referrals(ListReferrals(STAFF, case_id=case_id, agency_id=serving))
    assert [r.referral_id for r in theirs] == [protection]
    own = await service.list_referrals(ListReferrals(agency(serving), case_id=case_id))
    assert [r.referral_id for r in own] == [protection]
    assert await service.list_referrals(ListReferrals(agency("sine-dourados"), case_id=case_id)) == []
    pending = await service.list_referrals(ListReferrals(STAFF, case_id=case_id, status="pending"))
    assert len(pending) == 2
    assert await service.list_referrals(ListReferrals(STAFF, case_id=case_id, status="accepted")) == []
    assert await service.list_referrals(ListReferrals(STAFF, case_id=case_id, status="no-such-status")) == []


async def test_an_agency_may_not_peek_at_another_agencys_inbox(service: ReferralService) -> None:
    with pytest.raises(Forbidden) as refused:
        await service.list_referrals(ListReferrals(agency("creas-dourados"), agency_id="sine-dourados"))
    assert refused.value.status_code == 403
    assert await service.list_referrals(ListReferrals(agency("creas-dourados"), agency_id="creas-dourados")) == []


async def test_an_inbox_shows_open_referrals_newest_first_and_closed_ones_by_status(
        ticking: ReferralService) -> None:
    service, creas = ticking, agency("creas-dourados")
    # Spanish-speaking protection requests alternate between CREAS and the Casa da Mulher Brasileira.
    mine = [r for r in [await routed(service, PROTECTION, "trafficking") for _ in range(6)]
            if (await service.show(r, None)).referral.agency_id == "creas-dourados"]
    assert len(mine) == 3
    await service.act(step(mine[0], Action.ACCEPT, by=creas))
    await service.act(step(mine[1], Action.DECLINE, by=creas, reason="no_capacity"))
    inbox = await service.list_referrals(ListReferrals(creas))
    assert [r.referral_id for r in inbox] == [mine[2], mine[0]]  # open ones, newest first
    assert [r.referral_id for r in await service.list_referrals(ListReferrals(creas, limit=1))] == [mine[2]]
    declined = await service.list_referrals(ListReferrals(creas, status="declined"))
    assert [r.referral_id for r in declined] == [mine[1]]
    everyones = await service.list_referrals(ListReferrals(STAFF, status="pending"))
    assert mine[2] in [r.referral_id for r in everyones] and mine[0] not in [r.referral_id for r in everyones]


async def test_show_hides_other_agencies_referrals(service: ReferralService) -> None:
    rid = await routed(service, ServiceArea.WORK, "job_search")
    detail = await service.show(rid, STAFF)
    view = referral_view(detail.referral)
    assert (view["referral_id"], view["status"], view["allowed_actions"]) == (
        rid, "pending", ["accept", "cancel", "decline", "unable_to_contact"])
    assert "facets" not in view and "outcome" not in view  # the fields appear once a step set them
    assert (await service.show(rid, agency("sine-dourados"))).referral.referral_id == rid
    with pytest.raises(NotFound):
        await service.show(rid, agency("creas-dourados"))
    with pytest.raises(NotFound):
        await service.show("no-such-referral", STAFF)


async def test_the_directory_lists_agencies_by_id_with_their_load(service: ReferralService) -> None:
    await routed(service, ServiceArea.WORK, "job_search")
    views = [agency_view(a) for a in await service.directory()]
    assert [v["agency_id"] for v in views] == sorted(v["agency_id"] for v in views)
    [sine] = [v for v in views if v["agency_id"] == "sine-dourados"]
    assert sine == {"agency_id": "sine-dourados", "name": sine["name"], "type": sine["type"], "areas": ["work"],
                    "languages": ["pt", "es"], "address": sine["address"], "capacity": sine["capacity"],
                    "active": True, "open_referrals": 1}
    [caps] = [v for v in views if v["agency_id"] == "caps-ii-dourados"]
    assert caps["categories"] == ["mental_health"]
