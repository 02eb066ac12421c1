"""The desk's routing decisions: route by hand a referral no agency could take, redirect an open one to another
agency. Pure: the rules, not the storage.

One request never has two live referrals (open, or waiting for manual routing): routing makes its first; only a
decline makes the next routing attempt, and a declined referral is never reopened (domain.referral); these two
re-address the referral in place, so they never add one. A re-addressing is a new addressing: the referral is
pending at the chosen agency, whose response deadline (and the times metrics measure from `created_at`) start
then; the history keeps where it was, who moved it and why.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from migradesk_referral.domain.record import ReferralRecord
from migradesk_referral.domain.referral import HistoryEntry
from migradesk_referral.domain.routing import AgencyCandidate, RoutingDecision
from migradesk_referral.domain.sla import DEFAULT_POLICY, SlaPolicy, response_deadline
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.errors import DomainRuleViolation


class IllegalRouting(DomainRuleViolation):
    """A manual routing or a redirect the rules refuse (422), saying why."""

    code = "illegal_routing"


def is_live(record: ReferralRecord) -> bool:
    """Open, or waiting for the desk to route it: a referral of its request someone still has to act on."""
    return record.is_open or record.status is ReferralStatus.NEEDS_MANUAL_ROUTING


def routed_manually(record: ReferralRecord, agency: AgencyCandidate, *, actor: str, at: datetime, reason: str,
                    policy: SlaPolicy = DEFAULT_POLICY) -> ReferralRecord:
    """The desk routes a referral that needs manual routing to `agency`: it becomes pending there. The agency must
    be active and take the request's area and category; one that declined the request before may be chosen (the
    desk's call, e.g. after a decline by mistake)."""
    if record.status is not ReferralStatus.NEEDS_MANUAL_ROUTING:
        raise IllegalRouting(f"referral {record.referral_id} is {record.status.value}: only a referral that needs "
                             "manual routing is routed by hand; redirect an open one", field="referral_id",
                             status=record.status.value)
    return _readdressed(record, agency, actor=actor, at=at, reason=reason,
                        comment=f"routed manually to {agency.agency_id}", policy=policy)


def redirected(record: ReferralRecord, agency: AgencyCandidate, *, actor: str, at: datetime, reason: str,
               policy: SlaPolicy = DEFAULT_POLICY) -> ReferralRecord:
    """The desk moves an open referral (in any open state) to another agency: it starts over, pending there."""
    if not record.is_open:
        raise IllegalRouting(f"referral {record.referral_id} is {record.status.value}: only an open referral can be "
                             "redirected", field="referral_id", status=record.status.value)
    if agency.agency_id == record.agency_id:
        raise IllegalRouting(f"referral {record.referral_id} is addressed to {agency.agency_id} already",
                             field="agency_id")
    return _readdressed(record, agency, actor=actor, at=at, reason=reason,
                        comment=f"redirected from {record.agency_id} to {agency.agency_id}", policy=policy)


# What an agency's deactivation records in each referral it moves.
AGENCY_DEACTIVATED = "agency deactivated"
# The open states whose referrals move when their agency is deactivated: the person has not been served yet
# (waiting for an answer, accepted, an appointment scheduled, or a missed one to reschedule). An attended referral
# stays: the person was served there, only its completion is left (the desk records it).
MOVED_ON_DEACTIVATION = frozenset({ReferralStatus.PENDING, ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED,
                                   ReferralStatus.NO_SHOW})


def moved_off_deactivated(record: ReferralRecord, decision: RoutingDecision, *, actor: str, at: datetime,
                          policy: SlaPolicy = DEFAULT_POLICY) -> ReferralRecord:
    """A referral of an agency that was deactivated, re-addressed in place as a routing decides it: pending at the
    next eligible agency (its response deadline starting now), or waiting for manual routing when none is."""
    if record.status not in MOVED_ON_DEACTIVATION:
        raise IllegalRouting(f"referral {record.referral_id} is {record.status.value}: it stays where it is",
                             field="referral_id", status=record.status.value)
    status = ReferralStatus.NEEDS_MANUAL_ROUTING if decision.needs_manual_routing else ReferralStatus.PENDING
    comment = (f"re-routed from {record.agency_id} to {decision.agency_id} ({decision.reason})"
               if decision.agency_id else f"re-routed from {record.agency_id}: {decision.reason}")
    entry = HistoryEntry(status, None, actor, at, reason=AGENCY_DEACTIVATED, comment=comment)
    state = replace(record.state, status=status, outcome=None, decline_reason=None, scheduled_for=None,
                    history=(*record.state.history, entry), version=record.version + 1)
    return replace(record, state=state, agency_id=decision.agency_id,
                   routing_reason=f"{AGENCY_DEACTIVATED}: {decision.reason}", created_at=at, updated_at=at,
                   response_due_at=response_deadline(record.request.area, at, policy), overdue=False,
                   escalated_to=None, reroute_pending=False)


def _readdressed(record: ReferralRecord, agency: AgencyCandidate, *, actor: str, at: datetime, reason: str,
                 comment: str, policy: SlaPolicy) -> ReferralRecord:
    if not reason.strip():
        raise IllegalRouting("routing by hand needs a reason", field="reason")
    request = record.request
    if not agency.active:
        raise IllegalRouting(f"agency {agency.agency_id} is not active", field="agency_id")
    if not agency.takes(request.area, request.category):
        raise IllegalRouting(f"agency {agency.agency_id} does not serve {request.area.value} ({request.category})",
                             field="agency_id")
    entry = HistoryEntry(ReferralStatus.PENDING, None, actor, at, reason=reason, comment=comment)
    state = replace(record.state, status=ReferralStatus.PENDING, outcome=None, decline_reason=None,
                    scheduled_for=None, history=(*record.state.history, entry), version=record.version + 1)
    return replace(record, state=state, agency_id=agency.agency_id, routing_reason=f"{comment}: {reason}",
                   created_at=at, updated_at=at, response_due_at=response_deadline(request.area, at, policy),
                   overdue=False, escalated_to=None, reroute_pending=False)
