from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_referral.domain.referral import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Command,
    IllegalTransition,
    Referral,
    allowed_actions,
    apply,
    new_referral,
)
from migradesk_shared.contracts.vocabulary import Action, Outcome, ReferralStatus

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEFINED = OPEN_STATUSES | CLOSED_STATUSES


def cmd(action: Action, **kw: object) -> Command:
    defaults: dict[str, object] = {"actor": "agency:ubs", "at": T0}
    if action is Action.DECLINE:
        defaults["reason"] = "no_capacity"
    if action is Action.COMPLETE:
        defaults["outcome"] = Outcome.GOT_HELP
    if action in (Action.CANCEL, Action.UNABLE_TO_CONTACT):
        defaults["reason"] = "person moved away"
    if action is Action.SCHEDULE:
        defaults["scheduled_for"] = T0 + timedelta(days=2)
    if action is Action.REOPEN:
        defaults["comment"] = "person came back with new documents"
    return Command(action=action, **{**defaults, **kw})  # type: ignore[arg-type]


def run(*actions: Action) -> Referral:
    referral = new_referral("r1", actor="routing", at=T0)
    for action in actions:
        referral = apply(referral, cmd(action))
    return referral


def test_happy_path_to_completed_with_help() -> None:
    r = run(Action.ACCEPT, Action.SCHEDULE, Action.ATTEND, Action.COMPLETE)
    assert r.status is ReferralStatus.COMPLETED
    assert r.outcome is Outcome.GOT_HELP
    assert [h.status for h in r.history] == ["pending", "accepted", "scheduled", "attended", "completed"]
    assert r.version == 5


def test_decline_needs_a_reason_and_records_it() -> None:
    for missing_or_not_a_code in (None, "", "no vacancy this week"):
        with pytest.raises(IllegalTransition, match=r"a decline needs its reason, one of: .*no_capacity"):
            apply(run(), cmd(Action.DECLINE, reason=missing_or_not_a_code))
    assert run(Action.DECLINE).decline_reason == "no_capacity"


def test_could_not_help_needs_a_reason() -> None:
    accepted = run(Action.ACCEPT)
    with pytest.raises(IllegalTransition, match="could_not_help needs a reason"):
        apply(accepted, cmd(Action.COMPLETE, outcome=Outcome.COULD_NOT_HELP))
    with pytest.raises(IllegalTransition, match="the reason of could_not_help is a code"):
        apply(accepted, cmd(Action.COMPLETE, outcome=Outcome.COULD_NOT_HELP, reason="No vacancy"))
    done = apply(accepted, cmd(Action.COMPLETE, outcome=Outcome.COULD_NOT_HELP, reason="service_unavailable"))
    assert done.outcome is Outcome.COULD_NOT_HELP


def test_illegal_transition_names_the_transition_and_why() -> None:
    with pytest.raises(IllegalTransition) as refused:
        apply(run(), cmd(Action.ATTEND))
    message = str(refused.value)
    assert "cannot attend a referral that is pending" in message
    assert "allowed actions are: accept, cancel, decline, unable_to_contact" in message
    assert refused.value.status_code == 422


def test_closed_referral_refuses_everything_but_reopen() -> None:
    completed = run(Action.ACCEPT, Action.COMPLETE)
    with pytest.raises(IllegalTransition, match="it is closed; reopen it first"):
        apply(completed, cmd(Action.ACCEPT))
    assert allowed_actions(completed) == {Action.REOPEN}


def test_reopen_needs_a_comment_and_returns_to_the_state_it_was_closed_from() -> None:
    cancelled = run(Action.ACCEPT, Action.SCHEDULE, Action.CANCEL)
    with pytest.raises(IllegalTransition, match="needs a comment"):
        apply(cancelled, cmd(Action.REOPEN, comment="  "))
    reopened = apply(cancelled, cmd(Action.REOPEN))
    assert reopened.status is ReferralStatus.SCHEDULED
    assert reopened.history[-1].comment == "person came back with new documents"
    assert reopened.history[-1].action is Action.REOPEN


def test_reopen_of_an_open_referral_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="only a closed referral can be reopened"):
        apply(run(Action.ACCEPT), cmd(Action.REOPEN))


def test_no_show_can_be_rescheduled() -> None:
    assert run(Action.ACCEPT, Action.SCHEDULE, Action.NO_SHOW, Action.SCHEDULE).status is ReferralStatus.SCHEDULED


def test_every_open_state_can_be_cancelled_or_marked_unable_to_contact() -> None:
    paths = {ReferralStatus.PENDING: (), ReferralStatus.ACCEPTED: (Action.ACCEPT,),
             ReferralStatus.SCHEDULED: (Action.ACCEPT, Action.SCHEDULE),
             ReferralStatus.ATTENDED: (Action.ACCEPT, Action.SCHEDULE, Action.ATTEND),
             ReferralStatus.NO_SHOW: (Action.ACCEPT, Action.SCHEDULE, Action.NO_SHOW)}
    assert set(paths) == OPEN_STATUSES
    for status, path in paths.items():
        assert run(*path).status is status
        assert run(*path, Action.CANCEL).status is ReferralStatus.CANCELLED
        assert run(*path, Action.UNABLE_TO_CONTACT).status is ReferralStatus.UNABLE_TO_CONTACT


def test_every_closed_state_is_reachable_from_pending() -> None:
    reached, queue = {ReferralStatus.PENDING}, deque([new_referral("r", actor="x", at=T0)])
    while queue:
        current = queue.popleft()
        for action in allowed_actions(current):
            nxt = apply(current, cmd(action))
            if nxt.status not in reached:
                reached.add(nxt.status)
                queue.append(nxt)
    assert CLOSED_STATUSES <= reached
    assert reached == DEFINED


@settings(max_examples=300)
@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_no_sequence_of_commands_leaves_the_defined_states(actions: list[Action]) -> None:
    referral = new_referral("r", actor="x", at=T0)
    for action in actions:
        try:
            nxt = apply(referral, cmd(action))
        except IllegalTransition:
            assert action not in allowed_actions(referral)
            continue
        assert action in allowed_actions(referral)
        assert nxt.status in DEFINED
        assert nxt.version == referral.version + 1
        assert len(nxt.history) == len(referral.history) + 1
        referral = nxt
    assert referral.status in DEFINED
