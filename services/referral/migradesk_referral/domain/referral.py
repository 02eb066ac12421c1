"""The referral lifecycle as an explicit state machine (closed loop).

    pending ──accept──▶ accepted ──schedule──▶ scheduled ──attend──▶ attended ──complete──▶ completed
       │                   │  ▲                   │  ▲                                       (got_help |
       └──decline──▶ declined │                   │  └──schedule── no_show ◀──no_show──┘      could_not_help)
                           └──complete────────────┴────────────────────────────────────────▶
    any open state ──cancel──▶ cancelled        any open state ──unable_to_contact──▶ unable_to_contact
    a closed state but declined ──reopen(comment)──▶ the open state it was closed from

Illegal transitions raise IllegalTransition, naming the transition and why it was refused.

Reopening never leaves two open referrals for one request. A decline always sends the request on to the next
eligible agency (the re-router stores the next routing attempt, or one that needs manual routing), so a declined
referral is never reopened: the referral the request went on to is the one to act on, and if the declining agency
should serve it after all, the desk redirects that one to it (or routes it there, when it needs manual routing).
Every other closed referral is the last routing attempt of its request (only a decline makes a next attempt, and a
desk's routing or redirect re-addresses the referral in place), so reopening it cannot meet another open one.

Who may take which step (`actions_of`): an agency the steps of its own work (accept, decline, schedule, attend,
no_show, complete, unable_to_contact); cancelling and reopening are desk decisions (staff, coordinator, admin). A
coordinator takes only those; staff and admins may also record an agency's step on its behalf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome, ReferralStatus, Role
from migradesk_shared.errors import DomainRuleViolation, Forbidden

OPEN_STATUSES = frozenset({ReferralStatus.PENDING, ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED,
                           ReferralStatus.ATTENDED, ReferralStatus.NO_SHOW})
CLOSED_STATUSES = frozenset({ReferralStatus.DECLINED, ReferralStatus.COMPLETED, ReferralStatus.CANCELLED,
                             ReferralStatus.UNABLE_TO_CONTACT})


# The transitions of the machine other than the ones every open state shares (cancel, unable_to_contact) and
# reopen, which depends on the state a referral was closed from.
TRANSITIONS: dict[tuple[ReferralStatus, Action], ReferralStatus] = {
    (ReferralStatus.PENDING, Action.ACCEPT): ReferralStatus.ACCEPTED,
    (ReferralStatus.PENDING, Action.DECLINE): ReferralStatus.DECLINED,
    (ReferralStatus.ACCEPTED, Action.SCHEDULE): ReferralStatus.SCHEDULED,
    (ReferralStatus.SCHEDULED, Action.SCHEDULE): ReferralStatus.SCHEDULED,  # rescheduled
    (ReferralStatus.NO_SHOW, Action.SCHEDULE): ReferralStatus.SCHEDULED,  # a new appointment after a no-show
    (ReferralStatus.SCHEDULED, Action.ATTEND): ReferralStatus.ATTENDED,
    (ReferralStatus.SCHEDULED, Action.NO_SHOW): ReferralStatus.NO_SHOW,
    (ReferralStatus.ACCEPTED, Action.COMPLETE): ReferralStatus.COMPLETED,  # served without an appointment
    (ReferralStatus.ATTENDED, Action.COMPLETE): ReferralStatus.COMPLETED,
    (ReferralStatus.NO_SHOW, Action.COMPLETE): ReferralStatus.COMPLETED,
}
for _open in OPEN_STATUSES:
    TRANSITIONS[(_open, Action.CANCEL)] = ReferralStatus.CANCELLED
    TRANSITIONS[(_open, Action.UNABLE_TO_CONTACT)] = ReferralStatus.UNABLE_TO_CONTACT


# The steps of an agency's own work, and the desk's decisions about a referral.
AGENCY_ACTIONS = frozenset({Action.ACCEPT, Action.DECLINE, Action.SCHEDULE, Action.ATTEND, Action.NO_SHOW,
                            Action.COMPLETE, Action.UNABLE_TO_CONTACT})
DESK_ACTIONS = frozenset({Action.CANCEL, Action.REOPEN})
# The roles that make the desk's decisions (cancel, reopen, route manually, redirect).
DESK_ROLES = frozenset({Role.STAFF, Role.COORDINATOR, Role.ADMIN})


def actions_of(role: Role | None) -> frozenset[Action]:
    """The steps a role may take (None: the system itself, which may take any)."""
    if role is Role.AGENCY:
        return AGENCY_ACTIONS
    if role is Role.COORDINATOR:
        return DESK_ACTIONS
    return frozenset(Action)


def authorize(role: Role | None, action: Action) -> None:
    """Forbidden (403), naming the action, unless `role` may take it."""
    if action not in actions_of(role):
        who = role.value if role is not None else "system"
        why = (f"{action.value} is a desk decision (staff, coordinator, admin)" if action in DESK_ACTIONS
               else f"the {who} role takes only: {', '.join(sorted(a.value for a in actions_of(role)))}")
        raise Forbidden(f"the {who} role may not {action.value} a referral: {why}", field="action",
                        action=action.value)


# Why an agency could not help leaves referral in the de-identified ReferralCompleted, so it is a code (the
# contract's 80 characters): lower-case letters, digits and _. Free text (typed on the inbox page, or sent by a
# partner's system) stays in the step's comment, in the referral's history, and the code says so.
COULD_NOT_HELP_REASON_MAX = 80
COULD_NOT_HELP_DESCRIBED = "described_in_comment"
_REASON_CODE = re.compile(rf"[a-z][a-z0-9_]{{0,{COULD_NOT_HELP_REASON_MAX - 1}}}")


def is_reason_code(value: str | None) -> bool:
    return value is not None and _REASON_CODE.fullmatch(value) is not None


def could_not_help_reason(reason: str | None, comment: str | None) -> tuple[str | None, str | None]:
    """(the reason code, the comment) for a could-not-help step: a code as it is; free text moved to the head
    of the comment, the code saying it is described there."""
    if reason is None or is_reason_code(reason):
        return reason, comment
    return COULD_NOT_HELP_DESCRIBED, "\n".join(part for part in (reason, comment) if part)


class IllegalTransition(DomainRuleViolation):
    code = "illegal_transition"

    def __init__(self, status: ReferralStatus, action: Action, why: str) -> None:
        super().__init__(f"cannot {action.value} a referral that is {status.value}: {why}",
                         field="action", status=status.value, action=action.value)
        self.status = status
        self.action = action


@dataclass(frozen=True)
class Command:
    action: Action
    actor: str
    at: datetime
    reason: str | None = None  # decline reason (DeclineReason), cancel reason, or could_not_help reason
    outcome: Outcome | None = None
    comment: str | None = None
    scheduled_for: datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    status: ReferralStatus
    action: Action | None
    actor: str
    at: datetime
    reason: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Referral:
    referral_id: str
    status: ReferralStatus = ReferralStatus.PENDING
    outcome: Outcome | None = None
    decline_reason: str | None = None
    scheduled_for: datetime | None = None
    history: tuple[HistoryEntry, ...] = field(default=())
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def status_before_closing(self) -> ReferralStatus:
        """The open state a closed referral was closed from (pending if history says nothing)."""
        for earlier in reversed(self.history[:-1]):
            if earlier.status in OPEN_STATUSES:
                return earlier.status
        return ReferralStatus.PENDING


def allowed_actions(referral: Referral, role: Role | None = None) -> frozenset[Action]:
    """The steps the machine allows from the referral's state; of them, those `role` may take, if given."""
    actions = {action for (status, action) in TRANSITIONS if status is referral.status}
    if referral.status in CLOSED_STATUSES and referral.status is not ReferralStatus.DECLINED:
        actions.add(Action.REOPEN)
    return frozenset(actions) & actions_of(role)


def _require(condition: bool, referral: Referral, command: Command, why: str) -> None:
    if not condition:
        raise IllegalTransition(referral.status, command.action, why)


def apply(referral: Referral, command: Command) -> Referral:
    """The referral after `command`, or IllegalTransition naming the refused transition and why."""
    status, action = referral.status, command.action
    if action is Action.REOPEN:
        _require(status in CLOSED_STATUSES, referral, command, "only a closed referral can be reopened")
        _require(status is not ReferralStatus.DECLINED, referral, command,
                 "a declined request goes on to the next eligible agency; act on the referral it went on to "
                 "(the desk can redirect that one to this agency)")
        _require(bool(command.comment and command.comment.strip()), referral, command,
                 "reopening needs a comment for the audit trail")
        return _moved(referral, command, referral.status_before_closing(), outcome=None, decline_reason=None)
    target = TRANSITIONS.get((status, action))
    if target is None:
        if status is ReferralStatus.DECLINED:
            why = "it was declined; its request went on to the next eligible agency"
        elif status in CLOSED_STATUSES:
            why = "it is closed; reopen it first, with a comment"
        elif status is ReferralStatus.NEEDS_MANUAL_ROUTING:
            why = "it has no agency yet; route it manually first"
        else:
            allowed = ", ".join(sorted(a.value for a in allowed_actions(referral)))
            why = f"from {status.value} the allowed actions are: {allowed}"
        raise IllegalTransition(status, action, why)
    outcome, decline_reason = referral.outcome, referral.decline_reason
    if action is Action.DECLINE:
        _require(command.reason in set(DeclineReason), referral, command,
                 f"a decline needs its reason, one of: {', '.join(r.value for r in DeclineReason)}")
        decline_reason = command.reason
    if action is Action.COMPLETE:
        _require(command.outcome is not None, referral, command, "completing needs an outcome (got_help or "
                 "could_not_help)")
        _require(command.outcome is Outcome.GOT_HELP or bool(command.reason), referral, command,
                 "could_not_help needs a reason")
        _require(command.outcome is Outcome.GOT_HELP or is_reason_code(command.reason), referral, command,
                 "the reason of could_not_help is a code (lower-case letters, digits and _, at most "
                 f"{COULD_NOT_HELP_REASON_MAX} characters); the rest goes in the comment")
        outcome = command.outcome
    if action in (Action.CANCEL, Action.UNABLE_TO_CONTACT):
        _require(bool(command.reason or command.comment), referral, command,
                 f"{action.value} needs a reason or a comment")
    if action is Action.SCHEDULE:
        _require(command.scheduled_for is not None, referral, command, "scheduling needs a date and time")
    return _moved(referral, command, target, outcome=outcome, decline_reason=decline_reason)


def _moved(referral: Referral, command: Command, target: ReferralStatus, *, outcome: Outcome | None,
           decline_reason: str | None) -> Referral:
    entry = HistoryEntry(status=target, action=command.action, actor=command.actor, at=command.at,
                         reason=command.reason, comment=command.comment)
    scheduled_for = command.scheduled_for if command.action is Action.SCHEDULE else referral.scheduled_for
    return replace(referral, status=target, outcome=outcome, decline_reason=decline_reason,
                   scheduled_for=scheduled_for, history=(*referral.history, entry), version=referral.version + 1)


def new_referral(referral_id: str, *, actor: str, at: datetime) -> Referral:
    return Referral(referral_id=referral_id,
                    history=(HistoryEntry(ReferralStatus.PENDING, None, actor, at),))
