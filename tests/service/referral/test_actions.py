"""An agency's (or the desk's) step on a referral: the state machine decides, the step and its event are stored
together, conditionally on the version read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migradesk_referral.adapters import mappers
from migradesk_referral.domain.record import take_action
from migradesk_referral.domain.referral import Command, IllegalTransition
from migradesk_referral.service import ReferralService
from migradesk_shared.contracts.vocabulary import Action, Outcome
from migradesk_shared.errors import Conflict, NotFound
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import REFERRAL_TOPIC, Repository, agency, open_referrals, routed, step

WORK = ServiceArea.WORK
SINE = agency("sine-dourados")


async def event_types(repository: Repository, rid: str) -> list[str]:
    return [e.event_type for e in await repository.stored_events(rid)]


async def test_an_agency_accepts_its_referral(service: ReferralService, repository: Repository,
                                              relayed: list[tuple[str, Any]]) -> None:
    rid = await routed(service, WORK, "job_search")
    relayed.clear()
    after = await service.act(step(rid, Action.ACCEPT, by=SINE, expected_version=1))
    assert (after.status.value, after.version) == ("accepted", 2)
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("accepted", 2)
    assert stored.state.history[-1].actor == SINE.actor
    accepted = (await repository.stored_events(rid))[-1]
    assert (accepted.topic, accepted.event_type) == (REFERRAL_TOPIC, "ReferralAccepted")
    assert accepted.payload["actor_role"] == "agency" and accepted.payload["agency_id"] == "sine-dourados"
    assert relayed == [("referrals", rid)]
    assert await open_referrals(repository, "sine-dourados") == 1  # still open


async def test_a_stale_version_is_a_conflict_and_stores_nothing(service: ReferralService,
                                                                repository: Repository) -> None:
    rid = await routed(service, WORK, "job_search")
    await service.act(step(rid, Action.ACCEPT, by=SINE, expected_version=1))
    with pytest.raises(Conflict) as refused:
        await service.act(step(rid, Action.SCHEDULE, by=SINE, expected_version=1,
                               scheduled_for=datetime.now(UTC) + timedelta(days=2)))
    assert refused.value.status_code == 409
    assert refused.value.details == {"current_version": 2}
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("accepted", 2)
    assert await event_types(repository, rid) == ["ReferralCreated", "ReferralDispatched", "ReferralAccepted"]


async def test_of_two_steps_on_the_version_read_only_the_first_is_stored(service: ReferralService,
                                                                          repository: Repository) -> None:
    """Two processes read version 1; the second's write no longer matches it (the store checks, not the
    caller), so it is refused as a Conflict instead of overwriting the first step."""
    rid = await routed(service, WORK, "job_search")
    read = await repository.get(rid)
    assert read is not None
    await service.act(step(rid, Action.DECLINE, by=SINE, reason="no_capacity"))
    late = Command(Action.ACCEPT, "someone", datetime.now(UTC))
    after = take_action(read, late)
    with pytest.raises(Conflict, match="changed meanwhile"):
        await repository.save_transition(read, after, mappers.lifecycle_events(after, late, "agency"))
    stored = await repository.get(rid)
    assert stored is not None and stored.status.value == "declined"
    assert "ReferralAccepted" not in await event_types(repository, rid)


async def test_an_illegal_step_is_refused_naming_the_transition(service: ReferralService,
                                                                repository: Repository) -> None:
    rid = await routed(service, WORK, "job_search")
    with pytest.raises(IllegalTransition, match="cannot attend a referral that is pending") as refused:
        await service.act(step(rid, Action.ATTEND, by=SINE))
    assert refused.value.status_code == 422
    with pytest.raises(IllegalTransition, match="a decline needs its reason, one of: "):
        await service.act(step(rid, Action.DECLINE, by=SINE))
    stored = await repository.get(rid)
    assert stored is not None and stored.version == 1
    assert await event_types(repository, rid) == ["ReferralCreated", "ReferralDispatched"]


async def test_another_agencys_referral_does_not_exist_for_an_agency(service: ReferralService) -> None:
    rid = await routed(service, WORK, "job_search")
    with pytest.raises(NotFound) as refused:
        await service.act(step(rid, Action.ACCEPT, by=agency("creas-dourados")))
    assert refused.value.status_code == 404
    with pytest.raises(NotFound):
        await service.act(step("no-such-referral", Action.ACCEPT))


async def test_the_closed_loop_and_a_reopening(service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, WORK, "job_search")
    when = datetime.now(UTC) + timedelta(days=3)
    await service.act(step(rid, Action.ACCEPT, by=SINE))
    await service.act(step(rid, Action.SCHEDULE, by=SINE, scheduled_for=when))
    await service.act(step(rid, Action.ATTEND, by=SINE))
    done = await service.act(step(rid, Action.COMPLETE, by=SINE, outcome=Outcome.COULD_NOT_HELP,
                                  reason="no_vacancy", comment="vagas esgotadas"))
    assert (done.status.value, done.version, done.state.outcome) == ("completed", 5, Outcome.COULD_NOT_HELP)
    assert await open_referrals(repository, "sine-dourados") == 0  # closed
    events = await repository.stored_events(rid)
    assert [e.event_type for e in events][2:] == ["ReferralAccepted", "ReferralScheduled", "ReferralAttended",
                                                  "ReferralCompleted"]
    completed = events[-1].payload
    assert (completed["outcome"], completed["could_not_help_reason"]) == ("could_not_help", "no_vacancy")
    assert "vagas esgotadas" not in str(completed)  # the comment stays in referral's store
    with pytest.raises(IllegalTransition, match="needs a comment"):
        await service.act(step(rid, Action.REOPEN))
    reopened = await service.act(step(rid, Action.REOPEN, comment="closed by mistake"))
    assert (reopened.status.value, reopened.state.outcome) == ("attended", None)
    assert await open_referrals(repository, "sine-dourados") == 1
    last = (await repository.stored_events(rid))[-1]
    assert (last.event_type, last.payload["reopened_to"], last.payload["actor_role"]) == (
        "ReferralReopened", "attended", "staff")
    stored = await repository.get(rid)
    assert stored is not None and stored.state.history[-1].comment == "closed by mistake"
    # Completed again after the reopening: a repeated step, which the rates count once.
    await service.act(step(rid, Action.COMPLETE, by=SINE, outcome=Outcome.GOT_HELP))
    again = (await repository.stored_events(rid))[-1].payload
    assert again["event_type"] == "ReferralCompleted" and again["repeated"] is True
    assert completed["repeated"] is False and events[2].payload["repeated"] is False


async def test_a_decline_closes_the_referral_and_wakes_the_rerouter(
        service: ReferralService, repository: Repository, declines: list[None]) -> None:
    rid = await routed(service, WORK, "job_search")
    declined = await service.act(step(rid, Action.DECLINE, by=SINE, reason="out_of_scope"))
    assert (declined.status.value, declined.reroute_pending, declined.state.decline_reason) == (
        "declined", True, "out_of_scope")
    assert declines == [None]
    stored = await repository.get(rid)
    assert stored is not None and stored.reroute_pending
    event = (await repository.stored_events(rid))[-1]
    assert (event.event_type, event.payload["reason"]) == ("ReferralDeclined", "out_of_scope")
    assert await open_referrals(repository, "sine-dourados") == 0


async def test_the_system_acts_as_system(service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, WORK, "job_search")
    await service.act(step(rid, Action.ACCEPT, by=None, actor="partner-gateway"))
    stored = await repository.get(rid)
    assert stored is not None and stored.state.history[-1].actor == "partner-gateway"
    assert (await repository.stored_events(rid))[-1].payload["actor_role"] == "system"
