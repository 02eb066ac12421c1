"""Responses from an agency's own system (referral.partner-responses.v1): the same state machine, role rules and
events as the API's steps, refused with a reason naming what is wrong, and applied once however often delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migradesk_referral.partner_client import build_response
from migradesk_referral.service import PartnerResponseRefused, ReferralService
from migradesk_shared.contracts.referral_events import PartnerResponse
from migradesk_shared.contracts.vocabulary import Action, Outcome
from migradesk_shared.topics import ServiceArea
from tests.service.referral.helpers import REFERRAL_TOPIC, Repository, routed, step

WORK = ServiceArea.WORK
SINE = "sine-dourados"


def response(referral_id: str, action: Action, *, agency_id: str = SINE, **fields: Any) -> PartnerResponse:
    return build_response(agency_id=agency_id, referral_id=referral_id, action=action, **fields)


async def lifecycle(repository: Repository, rid: str) -> list[dict[str, Any]]:
    return [e.payload for e in await repository.stored_events(rid) if e.topic == REFERRAL_TOPIC
            and e.event_type not in ("ReferralCreated", "ReferralNeedsManualRouting")]


async def test_accept_schedule_complete_from_the_agencys_system(service: ReferralService,
                                                                 repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    accept = response(rid, Action.ACCEPT, expected_version=1)
    after = await service.respond(accept)
    assert (after.status.value, after.version) == ("accepted", 2)
    await service.respond(response(rid, Action.SCHEDULE, scheduled_for=datetime.now(UTC) + timedelta(days=2)))
    await service.respond(response(rid, Action.ATTEND))  # the machine completes a scheduled referral once attended
    done = await service.respond(response(rid, Action.COMPLETE, outcome=Outcome.GOT_HELP))
    assert (done.status.value, done.state.outcome) == ("completed", Outcome.GOT_HELP)

    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("completed", 5)
    assert stored.state.history[-1].actor == f"partner_system:{SINE}-partner-client@{SINE}"
    assert len(stored.partner_responses) == 4 and stored.partner_responses[0] == accept.event_id
    events = await lifecycle(repository, rid)
    assert [e["event_type"] for e in events] == ["ReferralAccepted", "ReferralScheduled", "ReferralAttended",
                                                  "ReferralCompleted"]
    assert {e["actor_role"] for e in events} == {"partner_system"}
    assert events[0]["causation_id"] == accept.event_id and events[3]["outcome"] == "got_help"


async def test_a_response_delivered_again_changes_nothing(service: ReferralService, repository: Repository,
                                                          relayed: list[tuple[str, Any]]) -> None:
    rid = await routed(service, WORK, "job_placement")
    accept = response(rid, Action.ACCEPT)
    await service.respond(accept)
    relayed.clear()
    again = await service.respond(accept)  # the same event id, e.g. redelivered after a crash before the commit
    assert (again.status.value, again.version) == ("accepted", 2)
    stored = await repository.get(rid)
    assert stored is not None and stored.version == 2 and stored.partner_responses == (accept.event_id,)
    assert [e["event_type"] for e in await lifecycle(repository, rid)] == ["ReferralAccepted"]
    assert relayed == []


async def test_a_response_from_another_agency_is_refused_naming_both(service: ReferralService,
                                                                      repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    with pytest.raises(PartnerResponseRefused) as refused:
        await service.respond(response(rid, Action.ACCEPT, agency_id="ubs-vila-industrial"))
    assert refused.value.message == f"agency ubs-vila-industrial is not the agency of referral {rid} ({SINE})"
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("pending", 1)
    assert await lifecycle(repository, rid) == []


async def test_an_illegal_transition_is_refused_naming_it(service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    await service.respond(response(rid, Action.ACCEPT))
    await service.respond(response(rid, Action.COMPLETE, outcome=Outcome.GOT_HELP))
    with pytest.raises(PartnerResponseRefused, match=r"^illegal transition: completed -> accept \(cannot accept"):
        await service.respond(response(rid, Action.ACCEPT))
    with pytest.raises(PartnerResponseRefused, match="illegal transition: pending -> attend"):
        await service.respond(response(await routed(service, WORK, "job_placement"), Action.ATTEND))
    stored = await repository.get(rid)
    assert stored is not None and (stored.status.value, stored.version) == ("completed", 3)


async def test_the_desks_decisions_and_missing_details_are_refused(service: ReferralService) -> None:
    rid = await routed(service, WORK, "job_placement")
    with pytest.raises(PartnerResponseRefused, match=r"action not allowed to a partner system: .*cancel is a desk"):
        await service.respond(response(rid, Action.CANCEL, comment="duplicate"))
    with pytest.raises(PartnerResponseRefused, match="a decline needs its reason, one of: "):
        await service.respond(response(rid, Action.DECLINE))
    # Not taken from could_not_help_reason: a decline's reason is a DeclineReason, or the response is refused.
    with pytest.raises(PartnerResponseRefused, match="a decline needs its reason, one of: "):
        await service.respond(PartnerResponse(producer="ubs-system", referral_id=rid, agency_id=SINE,
                                              action=Action.DECLINE, could_not_help_reason="sem vaga"))
    with pytest.raises(PartnerResponseRefused, match="referral nope does not exist"):
        await service.respond(response("nope", Action.ACCEPT))


async def test_a_stale_version_is_refused(service: ReferralService, repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    await service.act(step(rid, Action.ACCEPT))  # the desk, on the agency's behalf, through the API
    with pytest.raises(PartnerResponseRefused, match=f"stale response: referral {rid} is at version 2, not 1"):
        await service.respond(response(rid, Action.SCHEDULE, expected_version=1,
                                       scheduled_for=datetime.now(UTC) + timedelta(days=1)))


async def test_a_decline_goes_on_to_the_next_agency_as_through_the_api(service: ReferralService,
                                                                        repository: Repository,
                                                                        declines: list[None]) -> None:
    rid = await routed(service, WORK, "job_placement")
    after = await service.respond(response(rid, Action.DECLINE, reason="no_capacity"))
    assert after.status.value == "declined" and after.reroute_pending and declines == [None]
    [declined] = await lifecycle(repository, rid)
    assert (declined["event_type"], declined["reason"], declined["actor_role"]) == (
        "ReferralDeclined", "no_capacity", "partner_system")
    assert await service.reroute_declined() == 1


async def test_a_partner_systems_could_not_help_text_stays_in_the_history(service: ReferralService,
                                                                          repository: Repository) -> None:
    rid = await routed(service, WORK, "job_placement")
    await service.respond(response(rid, Action.ACCEPT))
    done = await service.respond(response(rid, Action.COMPLETE, outcome=Outcome.COULD_NOT_HELP,
                                          reason="Sem vaga até março", comment="Ligar em fevereiro"))
    assert done.state.history[-1].reason == "described_in_comment"
    assert done.state.history[-1].comment == "Sem vaga até março\nLigar em fevereiro"
    completed = (await lifecycle(repository, rid))[-1]
    assert (completed["event_type"], completed["could_not_help_reason"]) == ("ReferralCompleted",
                                                                            "described_in_comment")
    # A code is taken as it is.
    other = await routed(service, WORK, "job_placement")
    await service.respond(response(other, Action.ACCEPT))
    coded = await service.respond(response(other, Action.COMPLETE, outcome=Outcome.COULD_NOT_HELP,
                                           reason="no_vacancy"))
    assert (coded.state.history[-1].reason, coded.state.history[-1].comment) == ("no_vacancy", None)
