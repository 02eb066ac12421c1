"""A referral as the service keeps it: the state machine's state, plus what was asked, where it was routed and
the follow-ups (SLA escalation, re-routing after a decline). Pure: the rules, not the storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from migradesk_referral.domain.notifications import Notice
from migradesk_referral.domain.referral import OPEN_STATUSES, Command, HistoryEntry, Referral, apply
from migradesk_referral.domain.routing import RoutingDecision
from migradesk_referral.domain.sla import DEFAULT_POLICY, SlaPolicy, check_response_sla, response_deadline
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea

# Who routing decisions are recorded as, and who an unanswered referral is escalated to.
ROUTING_ACTOR = "routing"
ESCALATED_TO = "coordinator"


@dataclass(frozen=True)
class RequestToRoute:
    """What routing needs to know about a request; from RequestLogged, or from a declined referral."""

    case_id: str
    request_id: str
    category: str
    area: ServiceArea
    municipality: str
    facets: PersonFacets
    correlation_id: str
    # When the desk logged the request (None for referrals stored before it was kept).
    logged_at: datetime | None = None


@dataclass(frozen=True)
class ReferralRecord:
    """One routing attempt of one request."""

    state: Referral
    request: RequestToRoute
    attempt: int
    agency_id: str | None  # None: no eligible agency, it needs manual routing
    declined_by: tuple[str, ...]
    routing_reason: str
    created_at: datetime
    updated_at: datetime
    response_due_at: datetime
    overdue: bool = False
    escalated_to: str | None = None
    # Declined and not yet sent on to the next agency (the re-router does it, crash-safe).
    reroute_pending: bool = False
    rerouted_to: str | None = None
    # The event ids of the agencies' systems' responses (PartnerResponse) applied to it, stored in the same write
    # as their step, so a response delivered again is recognised whatever the consumer's inbox remembers.
    partner_responses: tuple[str, ...] = ()
    # The e-mail notices of its escalations, oldest first; only ever appended to (and each marked sent).
    notices: tuple[Notice, ...] = ()

    @property
    def referral_id(self) -> str:
        return self.state.referral_id

    @property
    def status(self) -> ReferralStatus:
        return self.state.status

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def case_id(self) -> str:
        return self.request.case_id

    @property
    def is_open(self) -> bool:
        return self.state.status in OPEN_STATUSES

    @property
    def notices_pending(self) -> int:
        return sum(1 for notice in self.notices if notice.pending)

    @property
    def acted_on(self) -> bool:
        """Whether anyone took a step on it since routing (routing writes the first history entry)."""
        return len(self.state.history) > 1


def referral_id_for(request_id: str, attempt: int) -> str:
    # Deterministic, so a replayed event (or a re-run of re-routing) maps onto the same referral.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"migradesk:referral:{request_id}:{attempt}"))


def routed(request: RequestToRoute, decision: RoutingDecision, *, at: datetime, attempt: int = 1,
           declined_by: tuple[str, ...] = (), policy: SlaPolicy = DEFAULT_POLICY) -> ReferralRecord:
    """The referral of one routing attempt: pending at the chosen agency, or waiting for manual routing."""
    status = ReferralStatus.NEEDS_MANUAL_ROUTING if decision.needs_manual_routing else ReferralStatus.PENDING
    state = Referral(referral_id=referral_id_for(request.request_id, attempt), status=status,
                     history=(HistoryEntry(status, None, ROUTING_ACTOR, at, comment=decision.reason),))
    return ReferralRecord(state=state, request=request, attempt=attempt, agency_id=decision.agency_id,
                          declined_by=declined_by, routing_reason=decision.reason, created_at=at, updated_at=at,
                          response_due_at=response_deadline(request.area, at, policy))


def take_action(record: ReferralRecord, command: Command) -> ReferralRecord:
    """The referral after one lifecycle step (IllegalTransition if the machine refuses it)."""
    state = apply(record.state, command)
    # A declined request goes on to the next eligible agency.
    return replace(record, state=state, updated_at=command.at,
                   reroute_pending=state.status is ReferralStatus.DECLINED)


def escalated(record: ReferralRecord, now: datetime,
              policy: SlaPolicy = DEFAULT_POLICY) -> tuple[ReferralRecord, datetime] | None:
    """The referral escalated to the coordinator, with the deadline it missed (counted by `policy`: working
    hours, or around the clock for protection); None if it is not overdue, or was escalated already (once, not
    at every check)."""
    if record.overdue:
        return None
    verdict = check_response_sla(record.request.area, record.status, record.created_at, now, policy)
    if not verdict.overdue:
        return None
    return replace(record, overdue=True, escalated_to=ESCALATED_TO), verdict.deadline


def next_attempt(record: ReferralRecord) -> tuple[int, tuple[str, ...]]:
    """The attempt number of the routing that follows a decline, and the agencies it must not go to."""
    declined_by = (*record.declined_by, *([record.agency_id] if record.agency_id else []))
    return record.attempt + 1, declined_by
