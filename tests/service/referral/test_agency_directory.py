"""The agency directory's administration, over the in-memory repository and the real store: administrators add and
edit agencies over the version they saw (a stale edit is a Conflict), every write audited in the agency; bad
details are refused naming the field; routing honours capacity and language and never chooses an inactive agency;
deactivating an agency moves its not-yet-served referrals (pending, accepted, scheduled, no_show) to the next
eligible agency or to manual routing, with "agency deactivated" in their history and the events of a routing,
and repeating it changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migradesk_referral.domain.directory import AgencyDetails, AgencyInvalid, AgencyType, check_details
from migradesk_referral.domain.readdressing import AGENCY_DEACTIVATED
from migradesk_referral.domain.routing import AgencyCandidate, choose_agency
from migradesk_referral.service import ReferralService
from migradesk_shared.auth import Principal, Role
from migradesk_shared.contracts.vocabulary import Action, ReferralStatus
from migradesk_shared.errors import Conflict, Forbidden, NotFound
from migradesk_shared.topics import ServiceArea
from migradesk_shared.web.names import is_language_code
from tests.service.referral.helpers import (
    REFERRAL_TOPIC,
    Repository,
    agency,
    dispatch_topic,
    open_referrals,
    routed,
    step,
    to_route,
)

ADMIN = Principal("alice", Role.ADMIN)
COORDINATOR = Principal("cora", Role.COORDINATOR)
STAFF = Principal("ana", Role.STAFF)
HEALTH, WORK = ServiceArea.HEALTH, ServiceArea.WORK
CLIMAX, VILA, CAPS, SINE = "ubs-jardim-climax", "ubs-vila-industrial", "caps-ii-dourados", "sine-dourados"


def details(**overrides: Any) -> AgencyDetails:
    fields: dict[str, Any] = {"name": "CRAS Água Boa", "type": "CRAS", "areas": ["social_assistance"],
                              "categories": None, "languages": ["pt", "es"], "address": "Rua A, Dourados-MS",
                              "capacity": 10, "opening_hours": {"mon": ["08:00-12:00", "13:00-17:00"],
                                                                "fri": ["08:00-12:00"]}}
    fields.update(overrides)
    return check_details(**fields, known_language=is_language_code)


def problems(**overrides: Any) -> dict[str, str]:
    with pytest.raises(AgencyInvalid) as refused:
        details(**overrides)
    return refused.value.problems


# -- the rules of an agency's details ---------------------------------------------------------------------------

def test_details_are_validated_naming_each_field() -> None:
    good = details()
    assert good.type is AgencyType.CRAS and good.capacity == 10
    assert good.opening_hours == (("mon", ("08:00-12:00", "13:00-17:00")), ("fri", ("08:00-12:00",)))
    assert problems(capacity=0) == {"capacity": "too_small"}
    assert problems(capacity=None) == {"capacity": "missing"}
    assert problems(type="hospital") == {"type": "unknown"}
    assert problems(name="  ") == {"name": "missing"}
    assert problems(areas=[]) == {"areas": "missing"}
    assert problems(areas=["space"]) == {"areas": "unknown"}
    assert problems(categories=["no_such_category"]) == {"categories": "unknown"}
    # A category of an area the agency does not serve, or one the desk resolves itself: never routed to it.
    assert problems(categories=["mental_health"]) == {"categories": "invalid"}
    assert problems(categories=["documentation"]) == {"categories": "invalid"}
    assert problems(languages=["xx1"]) == {"languages": "unknown"}
    assert problems(languages=["zz"]) == {"languages": "unknown"}
    assert problems(languages=[]) == {"languages": "missing"}
    assert problems(opening_hours={"mon": ["17:00-08:00"]}) == {"opening_hours.mon": "invalid"}
    assert problems(opening_hours={"mon": ["08:00-12:00", "11:00-13:00"]}) == {"opening_hours.mon": "invalid"}
    assert problems(opening_hours={"funday": ["08:00-12:00"]}) == {"opening_hours.funday": "unknown"}
    # Every problem at once; the error names the first.
    with pytest.raises(AgencyInvalid) as refused:
        details(name="", capacity=-1)
    assert refused.value.field == "name" and set(refused.value.problems) == {"name", "capacity"}
    assert refused.value.status_code == 422
    assert details(categories=["cadunico", "cadunico"], languages=["es", "pt", "es"]).categories == ("cadunico",)
    assert details(languages=["fa-AF", "ht"]).languages == ("fa-AF", "ht")


# -- routing: capacity and language -----------------------------------------------------------------------------

def candidate(agency_id: str, *, languages: tuple[str, ...] = ("pt",), open_referrals: int = 0,
              capacity: int | None = None, active: bool = True) -> AgencyCandidate:
    return AgencyCandidate(agency_id=agency_id, areas=frozenset({HEALTH}), languages=frozenset(languages),
                           active=active, open_referrals=open_referrals, capacity=capacity)


def test_routing_skips_full_and_inactive_agencies_and_prefers_the_persons_language() -> None:
    # The Spanish-speaking agency is full: the next eligible one, though it speaks only Portuguese.
    decision = choose_agency(HEALTH, "es", [candidate("speaks", languages=("es",), open_referrals=5, capacity=5),
                                            candidate("other", open_referrals=9, capacity=10)])
    assert decision.agency_id == "other"
    # Below its capacity by one, it is still chosen (and language beats load).
    decision = choose_agency(HEALTH, "es", [candidate("speaks", languages=("es",), open_referrals=4, capacity=5),
                                            candidate("other")])
    assert decision.agency_id == "speaks" and "speaks es" in decision.reason
    # No capacity recorded: never full.
    assert choose_agency(HEALTH, "pt", [candidate("a", open_referrals=1000)]).agency_id == "a"
    # Every one full: manual routing, saying why.
    full = choose_agency(HEALTH, "pt", [candidate("a", open_referrals=3, capacity=3),
                                        candidate("b", open_referrals=4, capacity=3)])
    assert full.needs_manual_routing and "is full" in full.reason
    # Inactive: never chosen, even when it is the only one speaking the language and empty.
    assert choose_agency(HEALTH, "es", [candidate("gone", languages=("es",), active=False),
                                        candidate("busy", open_referrals=30)]).agency_id == "busy"
    nobody = choose_agency(HEALTH, "es", [candidate("gone", active=False)])
    assert nobody.needs_manual_routing and "no active agency" in nobody.reason


async def test_routing_over_the_directory_honours_capacity_and_deactivation(service: ReferralService) -> None:
    vila = await service.agency_detail(VILA, ADMIN)
    climax = await service.agency_detail(CLIMAX, ADMIN)
    # Jardim Clímax speaks Spanish: a Spanish speaker's request goes there, until it is full.
    first = await service.referrals.get(await routed(service, HEALTH, "primary_care", language="es"))
    assert first is not None and first.agency_id == CLIMAX
    fields = {**_fields(climax), "capacity": 1}
    await service.edit_agency(ADMIN, CLIMAX, check_details(**fields), climax.version)
    second = await service.referrals.get(await routed(service, HEALTH, "primary_care", language="es"))
    assert second is not None and second.agency_id == VILA
    # Vila Industrial deactivated: nobody left with room; the request waits for manual routing.
    await service.deactivate_agency(ADMIN, VILA, vila.version)
    third = await service.referrals.get(await routed(service, HEALTH, "primary_care", language="es"))
    assert third is not None and third.status is ReferralStatus.NEEDS_MANUAL_ROUTING
    assert "full" in third.routing_reason


def _fields(agency: Any) -> dict[str, Any]:
    return {"name": agency.name, "type": agency.type, "areas": [a.value for a in agency.areas],
            "categories": list(agency.categories) if agency.categories else None,
            "languages": list(agency.languages), "address": agency.address, "capacity": agency.capacity,
            "opening_hours": {d: list(h) for d, h in agency.opening_hours}}


# -- create, edit, stale, audit ---------------------------------------------------------------------------------

async def test_an_administrator_adds_and_edits_an_agency_audited(service: ReferralService) -> None:
    created = await service.create_agency(ADMIN, details())
    assert created.agency_id == "cras-agua-boa" and created.version == 1 and created.active
    assert created.open_referrals == 0 and created.capacity == 10
    [entry] = created.audit
    assert entry["actor"] == "admin:alice" and entry["action"] == "created" and entry["version"] == 1
    assert entry["changes"]["capacity"] == {"from": None, "to": 10}
    # The same name again: the next free id.
    twin = await service.create_agency(ADMIN, details())
    assert twin.agency_id == "cras-agua-boa-2"
    # A given id that is taken: Conflict.
    with pytest.raises(Conflict):
        await service.create_agency(ADMIN, details(), agency_id="cras-agua-boa")
    with pytest.raises(AgencyInvalid) as refused:
        await service.create_agency(ADMIN, details(), agency_id="Not An Id!")
    assert refused.value.field == "agency_id"

    edited = await service.edit_agency(ADMIN, created.agency_id, details(capacity=25, languages=["pt", "ht"],
                                                                         opening_hours={}), expected_version=1)
    assert edited.version == 2 and edited.capacity == 25 and edited.languages == ("pt", "ht")
    assert edited.opening_hours == ()
    last = edited.audit[-1]
    assert last["action"] == "edited" and last["actor"] == "admin:alice" and last["version"] == 2
    assert last["changes"] == {"languages": {"from": ["pt", "es"], "to": ["pt", "ht"]},
                               "capacity": {"from": 10, "to": 25},
                               "opening_hours": {"from": {"mon": ["08:00-12:00", "13:00-17:00"],
                                                          "fri": ["08:00-12:00"]}, "to": {}}}
    assert isinstance(last["at"], datetime)
    # Over the version someone else already edited: refused, nothing overwritten.
    with pytest.raises(Conflict) as stale:
        await service.edit_agency(ADMIN, created.agency_id, details(capacity=99), expected_version=1)
    assert stale.value.status_code == 409 and stale.value.details["current_version"] == 2
    kept = await service.agency_detail(created.agency_id, COORDINATOR)  # the coordination reads it
    assert kept.capacity == 25 and len(kept.audit) == 2
    # The same details again: nothing written.
    same = await service.edit_agency(ADMIN, created.agency_id, details(capacity=25, languages=["pt", "ht"],
                                                                       opening_hours={}), expected_version=2)
    assert same.version == 2 and len(same.audit) == 2
    # New agencies are routed to like the seeded ones.
    rid = await routed(service, ServiceArea.SOCIAL_ASSISTANCE, "cadunico", language="ht")
    referral = await service.referrals.get(rid)
    assert referral is not None and referral.agency_id == created.agency_id


async def test_a_seeded_agency_is_edited_from_version_1(service: ReferralService) -> None:
    sine = await service.agency_detail(SINE, ADMIN)
    assert sine.version == 1 and sine.audit == ()
    edited = await service.edit_agency(ADMIN, SINE, check_details(**{**_fields(sine), "type": "SINE",
                                                                       "capacity": 81}), expected_version=1)
    assert edited.version == 2 and edited.capacity == 81 and edited.open_referrals == 0


async def test_only_administrators_write_the_directory(service: ReferralService) -> None:
    for caller in (STAFF, COORDINATOR, agency(SINE)):
        with pytest.raises(Forbidden):
            await service.create_agency(caller, details())
        with pytest.raises(Forbidden):
            await service.edit_agency(caller, SINE, details(), expected_version=1)
        with pytest.raises(Forbidden):
            await service.deactivate_agency(caller, SINE)
        with pytest.raises(Forbidden):
            await service.activate_agency(caller, SINE)
    with pytest.raises(Forbidden):
        await service.agency_detail(SINE, STAFF)
    with pytest.raises(NotFound):
        await service.edit_agency(ADMIN, "no-such-agency", details(), expected_version=1)
    with pytest.raises(NotFound):
        await service.deactivate_agency(ADMIN, "no-such-agency")


# -- deactivation re-routes -------------------------------------------------------------------------------------

async def test_deactivating_moves_the_referrals_not_yet_served(service: ReferralService,
                                                              repository: Repository) -> None:
    pending = await routed(service, HEALTH, "primary_care", language="es")
    accepted = await routed(service, HEALTH, "primary_care", language="es")
    scheduled = await routed(service, HEALTH, "primary_care", language="es")
    attended = await routed(service, HEALTH, "primary_care", language="es")
    by = agency(CLIMAX)
    when = datetime.now(UTC) + timedelta(days=3)
    await service.act(step(accepted, Action.ACCEPT, by=by))
    for rid in (scheduled, attended):
        await service.act(step(rid, Action.ACCEPT, by=by))
        await service.act(step(rid, Action.SCHEDULE, by=by, scheduled_for=when))
    await service.act(step(attended, Action.ATTEND, by=by))
    assert await open_referrals(repository, CLIMAX) == 4
    events_before = {rid: len(await repository.stored_events(rid)) for rid in (pending, accepted, scheduled)}

    climax = await service.agency_detail(CLIMAX, ADMIN)
    done = await service.deactivate_agency(ADMIN, CLIMAX, expected_version=climax.version)
    assert sorted(done.rerouted) == sorted([pending, accepted, scheduled])
    assert done.to_manual_routing == [] and done.left == []
    assert not done.agency.active and done.agency.version == 2
    assert done.agency.audit[-1]["action"] == "deactivated"
    assert done.agency.audit[-1]["changes"] == {"active": {"from": True, "to": False}}

    for rid in (pending, accepted, scheduled):
        moved = await repository.get(rid)
        assert moved is not None and moved.agency_id == VILA and moved.status is ReferralStatus.PENDING
        last = moved.state.history[-1]
        assert last.reason == AGENCY_DEACTIVATED and last.actor == "admin:alice"
        assert CLIMAX in (last.comment or "") and VILA in (last.comment or "")
        assert moved.state.scheduled_for is None
        # The events of a routing: ReferralCreated at the new agency, and its dispatch.
        new = (await repository.stored_events(rid))[events_before[rid]:]
        assert [(e.topic, e.event_type) for e in new] == [(REFERRAL_TOPIC, "ReferralCreated"),
                                                          (dispatch_topic(HEALTH), "ReferralDispatched")]
        assert all(e.payload["agency_id"] == VILA for e in new)
    # The attended one stays: the person was served there.
    stays = await repository.get(attended)
    assert stays is not None and stays.agency_id == CLIMAX and stays.status is ReferralStatus.ATTENDED
    assert await open_referrals(repository, CLIMAX) == 1
    assert await open_referrals(repository, VILA) == 3

    # Repeated: nothing written, nothing published again.
    audit = len(done.agency.audit)
    events_after = {rid: len(await repository.stored_events(rid)) for rid in (pending, accepted, scheduled)}
    again = await service.deactivate_agency(ADMIN, CLIMAX, expected_version=1)  # a retry with the old version
    assert again.rerouted == again.to_manual_routing == [] and len(again.agency.audit) == audit
    assert {rid: len(await repository.stored_events(rid)) for rid in events_after} == events_after

    # Routing never chooses it now, even for a Spanish speaker.
    later = await repository.get(await routed(service, HEALTH, "primary_care", language="es"))
    assert later is not None and later.agency_id == VILA


async def test_referrals_with_no_eligible_agency_go_to_manual_routing(service: ReferralService,
                                                                      repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    # Declined elsewhere before: that agency is not chosen either.
    other = await service.route(to_route(HEALTH, "primary_care", declined_by=(CLIMAX,)))
    assert other is not None
    before = len(await repository.stored_events(rid))
    done = await service.deactivate_agency(ADMIN, SINE)
    assert done.to_manual_routing == [rid] and done.rerouted == []
    moved = await repository.get(rid)
    assert moved is not None and moved.status is ReferralStatus.NEEDS_MANUAL_ROUTING and moved.agency_id is None
    assert moved.state.history[-1].reason == AGENCY_DEACTIVATED
    assert [e.event_type for e in (await repository.stored_events(rid))[before:]] == ["ReferralNeedsManualRouting"]
    assert await open_referrals(repository, SINE) == 0

    # The declining agency is skipped when its referral moves.
    other_record = await repository.get(other)
    assert other_record is not None and other_record.agency_id == VILA
    done = await service.deactivate_agency(ADMIN, VILA)
    assert done.to_manual_routing == [other]  # Clímax declined it; CAPS does not take primary care

    # Activated again: routed to once more (its former referrals stay where they went), audited.
    activated = await service.activate_agency(ADMIN, SINE, expected_version=2)
    assert activated.active and activated.version == 3 and activated.audit[-1]["action"] == "activated"
    assert (await service.activate_agency(ADMIN, SINE, expected_version=1)).version == 3  # already: nothing
    again = await repository.get(await routed(service, WORK, "job_placement"))
    assert again is not None and again.agency_id == SINE
    still = await repository.get(rid)
    assert still is not None and still.status is ReferralStatus.NEEDS_MANUAL_ROUTING


async def test_a_stale_deactivation_is_refused(service: ReferralService) -> None:
    sine = await service.agency_detail(SINE, ADMIN)
    await service.edit_agency(ADMIN, SINE, check_details(**{**_fields(sine), "type": "SINE", "capacity": 70}),
                              expected_version=1)
    with pytest.raises(Conflict):
        await service.deactivate_agency(ADMIN, SINE, expected_version=1)
    assert (await service.agency_detail(SINE, ADMIN)).active
