"""One request never has two open referrals, whatever agencies and the desk do to its referrals (pure domain).

A request's referrals are driven by random sequences of commands: agencies' steps (on their own referrals, and
cancel/reopen, which they may not take), the desk's cancel/reopen/redirect/manual routing, and the re-router
sending declined requests on (as ReferralService.reroute_declined does: next_attempt, routed). After every
command at most one referral is live (open, or waiting for manual routing); a refused command changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_referral.domain.readdressing import IllegalRouting, is_live, redirected, routed_manually
from migradesk_referral.domain.record import (
    ReferralRecord,
    RequestToRoute,
    next_attempt,
    referral_id_for,
    routed,
    take_action,
)
from migradesk_referral.domain.referral import (
    AGENCY_ACTIONS,
    DESK_ACTIONS,
    Command,
    IllegalTransition,
    allowed_actions,
    authorize,
)
from migradesk_referral.domain.routing import AgencyCandidate, choose_agency
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import Action, Outcome, ReferralStatus, Role
from migradesk_shared.errors import Forbidden
from migradesk_shared.topics import ServiceArea

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HEALTH = ServiceArea.HEALTH
AGENCIES = {
    "ubs-a": AgencyCandidate("ubs-a", frozenset({HEALTH}), frozenset({"pt"}), True),
    "ubs-b": AgencyCandidate("ubs-b", frozenset({HEALTH}), frozenset({"es"}), True),
    "ubs-closed": AgencyCandidate("ubs-closed", frozenset({HEALTH}), frozenset({"es"}), False),
    "cras": AgencyCandidate("cras", frozenset({ServiceArea.SOCIAL_ASSISTANCE}), frozenset({"es"}), True),
}
REQUEST = RequestToRoute(case_id="case-1", request_id="req-1", category="sus_card", area=HEALTH,
                         municipality="Dourados-MS", facets=PersonFacets(language="es"), correlation_id="case-1")

Refused = (IllegalTransition, IllegalRouting, Forbidden)


def command(action: Action, actor: str, at: datetime) -> Command:
    extra: dict[str, object] = {}
    if action is Action.DECLINE:
        extra["reason"] = "no_capacity"
    if action is Action.COMPLETE:
        extra["outcome"] = Outcome.GOT_HELP
    if action in (Action.CANCEL, Action.UNABLE_TO_CONTACT):
        extra["reason"] = "person moved away"
    if action is Action.SCHEDULE:
        extra["scheduled_for"] = at + timedelta(days=2)
    if action is Action.REOPEN:
        extra["comment"] = "person came back"
    return Command(action=action, actor=actor, at=at, **extra)  # type: ignore[arg-type]


def first_routing(at: datetime) -> list[ReferralRecord]:
    return [routed(REQUEST, choose_agency(HEALTH, "es", AGENCIES.values(), category="sus_card"), at=at)]


def reroute(referrals: list[ReferralRecord], at: datetime) -> list[ReferralRecord]:
    """What the re-router does to the declined referrals awaiting it (idempotent ids, marked rerouted)."""
    out = list(referrals)
    for i, declined in enumerate(referrals):
        if not declined.reroute_pending:
            continue
        attempt, declined_by = next_attempt(declined)
        if referral_id_for(REQUEST.request_id, attempt) not in {r.referral_id for r in out}:
            decision = choose_agency(HEALTH, "es", AGENCIES.values(), declined_by=declined_by, category="sus_card")
            out.append(routed(REQUEST, decision, at=at, attempt=attempt, declined_by=declined_by))
        out[i] = replace(declined, reroute_pending=False, rerouted_to=referral_id_for(REQUEST.request_id, attempt))
    return out


Step = tuple[str, object, int]
# Which referral a command is about: an index into the request's referrals (modulo their number), so earlier
# attempts (declined ones) are hit as often as the latest.
WHICH = st.integers(0, 3)
steps = st.one_of(
    st.tuples(st.just("agency"), st.sampled_from(list(Action)), WHICH),
    st.tuples(st.just("agency"), st.just(Action.DECLINE), WHICH),
    st.tuples(st.just("desk"), st.sampled_from([Action.CANCEL, Action.REOPEN, Action.REOPEN, Action.ACCEPT]), WHICH),
    st.tuples(st.just("redirect"), st.sampled_from(sorted(AGENCIES)), WHICH),
    st.tuples(st.just("route"), st.sampled_from(sorted(AGENCIES)), WHICH),
    st.tuples(st.just("reroute"), st.none(), st.just(0)),
)


def run_step(referrals: list[ReferralRecord], step: Step, at: datetime) -> list[ReferralRecord]:
    """The request's referrals after one command; the refusal (as raised) if it is refused."""
    kind, what, index = step
    if kind == "reroute":
        return reroute(referrals, at)
    i = index % len(referrals)
    target = referrals[i]
    if kind in ("agency", "desk"):
        assert isinstance(what, Action)
        role = Role.AGENCY if kind == "agency" else Role.STAFF
        authorize(role, what)
        after = take_action(target, command(what, f"{role.value}:x", at))
    else:
        assert isinstance(what, str)
        decide = redirected if kind == "redirect" else routed_manually
        after = decide(target, AGENCIES[what], actor="staff:ana", at=at, reason="the desk knows better")
    return [*referrals[:i], after, *referrals[i + 1:]]


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, max_size=40))
def test_never_two_open_referrals_for_one_request(program: list[Step]) -> None:
    referrals = first_routing(T0)
    for n, step in enumerate(program, start=1):
        at = T0 + timedelta(minutes=n)
        before = list(referrals)
        try:
            referrals = run_step(referrals, step, at)
        except Refused as refused:
            assert referrals == before  # a refused command changes nothing
            kind, what, _ = step
            if kind == "agency" and what in DESK_ACTIONS:
                assert isinstance(refused, Forbidden) and refused.status_code == 403
                assert str(what) in refused.message  # names the action
        assert sum(is_live(r) for r in referrals) <= 1, [(r.attempt, r.status.value) for r in referrals]
        # Only the last routing attempt may be anything but declined (it is the one the request went on to).
        assert all(r.status is ReferralStatus.DECLINED for r in referrals[:-1])
    # Once the re-router has run, a request whose last referral was declined has its next one live.
    referrals = reroute(referrals, T0 + timedelta(days=1))
    last = referrals[-1]
    assert sum(is_live(r) for r in referrals) == (0 if not is_live(last) else 1)
    assert last.status is not ReferralStatus.DECLINED


def test_a_declined_referral_is_not_reopened_and_its_successor_is_the_one_to_act_on() -> None:
    referrals = first_routing(T0)
    declined = take_action(referrals[0], command(Action.DECLINE, "agency:x", T0))
    with pytest.raises(IllegalTransition, match="act on the referral it went on to"):
        take_action(declined, command(Action.REOPEN, "staff:ana", T0))
    assert Action.REOPEN not in allowed_actions(declined.state)
    [_, successor] = reroute([declined], T0)
    assert successor.agency_id is not None and successor.agency_id != declined.agency_id
    # The desk sends it back to the agency that declined, if it should serve it after all.
    back = redirected(successor, AGENCIES[declined.agency_id or ""], actor="staff:ana", at=T0, reason="by mistake")
    assert (back.status, back.agency_id) == (ReferralStatus.PENDING, declined.agency_id)


@pytest.mark.parametrize("role", [Role.STAFF, Role.COORDINATOR, Role.ADMIN])
def test_cancel_and_reopen_are_desk_decisions(role: Role) -> None:
    for action in DESK_ACTIONS:
        authorize(role, action)
        with pytest.raises(Forbidden, match=f"may not {action.value} a referral"):
            authorize(Role.AGENCY, action)
    for action in AGENCY_ACTIONS:
        authorize(Role.AGENCY, action)
    pending = first_routing(T0)[0].state
    assert allowed_actions(pending, Role.AGENCY) == {Action.ACCEPT, Action.DECLINE, Action.UNABLE_TO_CONTACT}
    assert Action.CANCEL in allowed_actions(pending, role)


def test_routing_by_hand_and_redirecting_check_the_agency_and_the_state() -> None:
    [first] = first_routing(T0)
    with pytest.raises(IllegalRouting, match="only a referral that needs manual routing"):
        routed_manually(first, AGENCIES["ubs-a"], actor="staff:ana", at=T0, reason="x")
    with pytest.raises(IllegalRouting, match="is not active"):
        redirected(first, AGENCIES["ubs-closed"], actor="staff:ana", at=T0, reason="x")
    with pytest.raises(IllegalRouting, match="does not serve health"):
        redirected(first, AGENCIES["cras"], actor="staff:ana", at=T0, reason="x")
    with pytest.raises(IllegalRouting, match="addressed to"):
        redirected(first, AGENCIES[first.agency_id or ""], actor="staff:ana", at=T0, reason="x")
    with pytest.raises(IllegalRouting, match="needs a reason"):
        redirected(first, AGENCIES["ubs-a"], actor="staff:ana", at=T0, reason="  ")
    later = T0 + timedelta(hours=5)
    accepted = take_action(first, command(Action.ACCEPT, "agency:x", T0))
    moved = redirected(accepted, AGENCIES["ubs-a"], actor="staff:ana", at=later, reason="closer to home")
    assert (moved.status, moved.agency_id, moved.version, moved.created_at) == (
        ReferralStatus.PENDING, "ubs-a", accepted.version + 1, later)
    assert moved.response_due_at > later and not moved.overdue
    entry = moved.state.history[-1]
    assert (entry.actor, entry.reason, entry.comment) == ("staff:ana", "closer to home",
                                                          f"redirected from {first.agency_id} to ubs-a")
    nobody = routed(REQUEST, choose_agency(HEALTH, "es", []), at=T0)
    assert nobody.status is ReferralStatus.NEEDS_MANUAL_ROUTING
    taken = routed_manually(nobody, AGENCIES["ubs-b"], actor="staff:ana", at=later, reason="called them")
    assert (taken.status, taken.agency_id, taken.attempt) == (ReferralStatus.PENDING, "ubs-b", 1)
