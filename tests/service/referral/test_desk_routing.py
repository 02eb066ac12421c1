"""The desk's decisions on referrals: only the desk cancels and reopens, a declined referral is not reopened (its
request went on), the manual-routing queue, routing by hand and redirecting; and, over random sequences of
commands on one request, never two open referrals for it and no trace of a refused command."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from migradesk_referral.adapters.views import referral_view
from migradesk_referral.domain.readdressing import IllegalRouting, is_live
from migradesk_referral.domain.referral import IllegalTransition
from migradesk_referral.domain.routing import Agency
from migradesk_referral.service import ManualRoutingQueue, Redirect, ReferralService, RouteManually
from migradesk_shared.auth import Principal, Role
from migradesk_shared.contracts.vocabulary import Action, Outcome
from migradesk_shared.errors import Conflict, DomainRuleViolation, Forbidden, NotFound
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import (
    REFERRAL_TOPIC,
    STAFF,
    Repository,
    agency,
    dispatch_topic,
    open_referrals,
    routed,
    step,
    to_route,
)

WORK, HEALTH = ServiceArea.WORK, ServiceArea.HEALTH
COORDINATOR = Principal("cora", Role.COORDINATOR)


@pytest.fixture
def ticking(repository: Repository) -> ReferralService:
    """The service on a clock that moves a second at every reading, so orders by time are certain."""
    start = datetime.now(UTC)
    times = (start + timedelta(seconds=i) for i in itertools.count())
    return ReferralService(repository, clock=lambda: next(times))


async def event_types(repository: Repository, rid: str) -> list[str]:
    return [e.event_type for e in await repository.stored_events(rid)]


async def needing_manual_routing(service: ReferralService, area: ServiceArea = WORK) -> str:
    every_agency = tuple(a.agency_id for a in await service.directory())
    rid = await service.route(to_route(area, "job_search" if area is WORK else "sus_card", declined_by=every_agency))
    assert rid is not None
    return rid


# -- who may cancel and reopen ----------------------------------------------------------------------------------

async def test_an_agency_may_not_cancel_or_reopen_and_is_not_offered_to(service: ReferralService,
                                                                        repository: Repository) -> None:
    rid = await routed(service, WORK, "job_search")
    sine = agency("sine-dourados")
    for action in (Action.CANCEL, Action.REOPEN):
        with pytest.raises(Forbidden, match=f"may not {action.value}") as refused:
            await service.act(step(rid, action, by=sine, reason="moved away", comment="x"))
        assert refused.value.status_code == 403 and refused.value.details == {"action": action.value}
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("pending", 1)
    assert await event_types(repository, rid) == ["ReferralCreated", "ReferralDispatched"]
    assert referral_view(stored, Role.AGENCY)["allowed_actions"] == ["accept", "decline", "unable_to_contact"]
    assert referral_view(stored, Role.STAFF)["allowed_actions"] == ["accept", "cancel", "decline",
                                                                     "unable_to_contact"]
    await service.act(step(rid, Action.ACCEPT, by=sine))
    done = await service.act(step(rid, Action.COMPLETE, by=sine, outcome=Outcome.GOT_HELP))
    assert referral_view(done, Role.AGENCY)["allowed_actions"] == []
    reopened = await service.act(step(rid, Action.REOPEN, by=COORDINATOR, comment="closed too early"))
    assert reopened.status.value == "accepted"
    with pytest.raises(Forbidden, match="coordinator role may not schedule"):
        await service.act(step(rid, Action.SCHEDULE, by=COORDINATOR, scheduled_for=datetime.now(UTC)))
    cancelled = await service.act(step(rid, Action.CANCEL, by=STAFF, reason="person moved away"))
    assert cancelled.status.value == "cancelled"


async def test_a_declined_and_rerouted_referral_is_not_reopened(service: ReferralService,
                                                                repository: Repository) -> None:
    rid = await routed(service, ServiceArea.SOCIAL_ASSISTANCE, "cadunico")
    first = await repository.get(rid)
    assert first is not None and first.agency_id is not None
    await service.act(step(rid, Action.DECLINE, by=agency(first.agency_id), reason="no_capacity"))
    assert await service.reroute_declined() == 1
    with pytest.raises(IllegalTransition, match="act on the referral it went on to"):
        await service.act(step(rid, Action.REOPEN, comment="the agency declined by mistake"))
    referrals = await repository.for_case(first.case_id)
    assert [r.status.value for r in sorted(referrals, key=lambda r: r.attempt)] == ["declined", "pending"]
    # The way back: the desk redirects the open successor to the agency that declined.
    successor = max(referrals, key=lambda r: r.attempt)
    back = await service.redirect(Redirect(successor.referral_id, first.agency_id, "declined by mistake", STAFF,
                                           expected_version=successor.version))
    assert back.agency_id == first.agency_id
    assert sum(is_live(r) for r in await repository.for_case(first.case_id)) == 1


# -- the manual-routing queue and routing by hand ---------------------------------------------------------------

async def test_the_queue_lists_what_needs_manual_routing_oldest_first_page_by_page(ticking: ReferralService) -> None:
    service = ticking
    queued = [await needing_manual_routing(service) for _ in range(5)]
    await routed(service, WORK, "job_search")  # pending: not in the queue
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await service.manual_routing_queue(ManualRoutingQueue(STAFF, limit=2, cursor=cursor))
        seen += [r.referral_id for r in page.referrals]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert (seen, pages) == (queued, 3)
    # Routing the head meanwhile makes a page neither skip nor repeat a referral.
    first = await service.manual_routing_queue(ManualRoutingQueue(STAFF, limit=2))
    await service.route_manually(RouteManually(queued[0], "sine-dourados", "they have a vacancy", STAFF))
    second = await service.manual_routing_queue(ManualRoutingQueue(STAFF, limit=2, cursor=first.next_cursor))
    assert [r.referral_id for r in second.referrals] == queued[2:4]
    again = await service.manual_routing_queue(ManualRoutingQueue(COORDINATOR, limit=10))
    assert [r.referral_id for r in again.referrals] == queued[1:] and again.next_cursor is None
    with pytest.raises(Forbidden):
        await service.manual_routing_queue(ManualRoutingQueue(agency("sine-dourados")))
    with pytest.raises(DomainRuleViolation, match="not a cursor"):
        await service.manual_routing_queue(ManualRoutingQueue(STAFF, cursor="garbage"))


async def test_the_desk_routes_a_referral_no_agency_could_take(service: ReferralService,
                                                               repository: Repository) -> None:
    rid = await needing_manual_routing(service)
    before = await repository.get(rid)
    assert before is not None
    after = await service.route_manually(RouteManually(rid, "sine-dourados", "they have a vacancy", STAFF))
    assert (after.status.value, after.agency_id, after.version) == ("pending", "sine-dourados", 2)
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.agency_id) == ("pending", "sine-dourados")
    entry = stored.state.history[-1]
    assert (entry.actor, entry.reason, entry.comment) == (STAFF.actor, "they have a vacancy",
                                                          "routed manually to sine-dourados")
    events = await repository.stored_events(rid)
    assert [(e.topic, e.event_type) for e in events] == [
        (REFERRAL_TOPIC, "ReferralNeedsManualRouting"), (REFERRAL_TOPIC, "ReferralCreated"),
        (dispatch_topic(WORK), "ReferralDispatched")]
    created, dispatched = events[1].payload, events[2].payload
    assert (created["referral_id"], created["agency_id"], created["request_id"]) == (
        rid, "sine-dourados", before.request.request_id)
    assert dispatched["agency_id"] == "sine-dourados"
    assert await open_referrals(repository, "sine-dourados") == 1
    # The agency sees it and takes it as any other.
    accepted = await service.act(step(rid, Action.ACCEPT, by=agency("sine-dourados"), expected_version=2))
    assert accepted.status.value == "accepted"
    with pytest.raises(IllegalRouting, match="only a referral that needs manual routing"):
        await service.route_manually(RouteManually(rid, "sala-empreendedor", "again", STAFF))


async def test_routing_by_hand_refuses_what_cannot_serve_it(service: ReferralService,
                                                            repository: Repository) -> None:
    await repository.add_agencies([Agency("sine-closed", "SINE (closed)", "sine", (WORK,), active=False)])
    rid = await needing_manual_routing(service)
    with pytest.raises(NotFound, match="agency no-such-agency does not exist"):
        await service.route_manually(RouteManually(rid, "no-such-agency", "x", STAFF))
    with pytest.raises(IllegalRouting, match="is not active"):
        await service.route_manually(RouteManually(rid, "sine-closed", "x", STAFF))
    with pytest.raises(IllegalRouting, match="does not serve work"):
        await service.route_manually(RouteManually(rid, "ubs-jardim-climax", "x", STAFF))
    with pytest.raises(Forbidden):
        await service.route_manually(RouteManually(rid, "sine-dourados", "x", agency("sine-dourados")))
    with pytest.raises(NotFound):
        await service.route_manually(RouteManually("no-such-referral", "sine-dourados", "x", STAFF))
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("needs_manual_routing", 1)
    assert await event_types(repository, rid) == ["ReferralNeedsManualRouting"]


# -- redirecting ------------------------------------------------------------------------------------------------

async def test_the_desk_redirects_an_open_referral(service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, HEALTH, "sus_card")  # the Spanish-speaking UBS
    ubs = agency("ubs-jardim-climax")
    await service.act(step(rid, Action.ACCEPT, by=ubs))
    await service.act(step(rid, Action.SCHEDULE, by=ubs, scheduled_for=datetime.now(UTC) + timedelta(days=1)))
    with pytest.raises(Conflict) as stale:
        await service.redirect(Redirect(rid, "ubs-vila-industrial", "closer to home", STAFF, expected_version=2))
    assert stale.value.status_code == 409 and stale.value.details == {"current_version": 3}
    moved = await service.redirect(Redirect(rid, "ubs-vila-industrial", "closer to home", STAFF,
                                            expected_version=3))
    assert (moved.status.value, moved.agency_id, moved.version, moved.state.scheduled_for) == (
        "pending", "ubs-vila-industrial", 4, None)
    stored = await repository.get(rid)
    assert stored is not None and stored.agency_id == "ubs-vila-industrial"
    assert [h.status.value for h in stored.state.history] == ["pending", "accepted", "scheduled", "pending"]
    assert (stored.state.history[-1].reason, stored.state.history[-1].comment) == (
        "closer to home", "redirected from ubs-jardim-climax to ubs-vila-industrial")
    assert stored.response_due_at > stored.created_at and not stored.overdue
    events = await repository.stored_events(rid)
    assert [(e.topic, e.event_type) for e in events[-2:]] == [(REFERRAL_TOPIC, "ReferralCreated"),
                                                              (dispatch_topic(HEALTH), "ReferralDispatched")]
    assert events[-1].payload["agency_id"] == "ubs-vila-industrial"
    assert (await open_referrals(repository, "ubs-jardim-climax"), await open_referrals(
        repository, "ubs-vila-industrial")) == (0, 1)
    with pytest.raises(NotFound):  # the old agency no longer sees it
        await service.show(rid, ubs)
    assert (await service.show(rid, agency("ubs-vila-industrial"))).referral.referral_id == rid
    with pytest.raises(IllegalRouting, match="addressed to ubs-vila-industrial already"):
        await service.redirect(Redirect(rid, "ubs-vila-industrial", "x", STAFF, expected_version=4))
    await service.act(step(rid, Action.CANCEL, reason="person moved away"))
    with pytest.raises(IllegalRouting, match="only an open referral"):
        await service.redirect(Redirect(rid, "ubs-jardim-climax", "x", STAFF, expected_version=5))
    with pytest.raises(Forbidden):
        await service.redirect(Redirect(rid, "ubs-jardim-climax", "x", agency("ubs-vila-industrial"),
                                        expected_version=5))


# -- the invariant, over random sequences of commands -----------------------------------------------------------

AGENCY_STEPS = [Action.ACCEPT, Action.DECLINE, Action.SCHEDULE, Action.ATTEND, Action.NO_SHOW, Action.COMPLETE,
                Action.UNABLE_TO_CONTACT, Action.CANCEL, Action.REOPEN]
WORK_AGENCIES = ["sine-dourados", "sala-empreendedor", "ubs-jardim-climax"]


def fields_for(action: Action) -> dict[str, object]:
    return {Action.DECLINE: {"reason": "no_capacity"}, Action.COMPLETE: {"outcome": Outcome.GOT_HELP},
            Action.CANCEL: {"reason": "moved away"}, Action.UNABLE_TO_CONTACT: {"reason": "no answer"},
            Action.SCHEDULE: {"scheduled_for": datetime.now(UTC) + timedelta(days=1)},
            Action.REOPEN: {"comment": "came back"}}.get(action, {})


@pytest.mark.parametrize("seed", range(12))
async def test_random_commands_never_leave_two_open_referrals_for_a_request(
        service: ReferralService, repository: Repository, seed: int) -> None:
    """Random (seeded) sequences of agencies' steps, the desk's cancel/reopen/redirect/routing by hand, declines
    and the re-router on one request, through the service and the repository: never two live referrals, and a
    refused command leaves every referral and its stored events as they were."""
    rng = random.Random(seed)
    rid = await routed(service, WORK, "job_search")
    first = await repository.get(rid)
    assert first is not None
    case_id = first.case_id
    for _ in range(30):
        referrals = await repository.for_case(case_id)
        target = rng.choice(referrals)
        snapshot = {r.referral_id: (r, await event_types(repository, r.referral_id)) for r in referrals}
        kind = rng.choice(["agency", "agency", "agency", "desk", "redirect", "route", "reroute"])
        try:
            if kind == "agency":
                by = agency(target.agency_id or "sine-dourados")
                action = rng.choice(AGENCY_STEPS)
                await service.act(step(target.referral_id, action, by=by, **fields_for(action)))
            elif kind == "desk":
                action = rng.choice([Action.CANCEL, Action.REOPEN, Action.ACCEPT, Action.DECLINE])
                await service.act(step(target.referral_id, action, by=STAFF, expected_version=target.version,
                                       **fields_for(action)))
            elif kind == "redirect":
                await service.redirect(Redirect(target.referral_id, rng.choice(WORK_AGENCIES), "desk's call",
                                                STAFF, expected_version=rng.choice([target.version, 1])))
            elif kind == "route":
                await service.route_manually(RouteManually(target.referral_id, rng.choice(WORK_AGENCIES),
                                                           "desk's call", STAFF))
            else:
                await service.reroute_declined()
        except (DomainRuleViolation, Forbidden, Conflict, NotFound):
            # Refused: nothing changed, no event was stored.
            assert {r.referral_id: (r, await event_types(repository, r.referral_id))
                    for r in await repository.for_case(case_id)} == snapshot
        live = [r for r in await repository.for_case(case_id) if is_live(r)]
        assert len(live) <= 1, [(r.attempt, r.status.value) for r in live]
    await service.reroute_declined()
    referrals = sorted(await repository.for_case(case_id), key=lambda r: r.attempt)
    assert all(r.status.value == "declined" for r in referrals[:-1])
    assert sum(is_live(r) for r in referrals) == int(is_live(referrals[-1]))
