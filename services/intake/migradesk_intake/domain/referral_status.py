"""What intake knows of each referral of its cases: the live status as referral's events report it.

A read model, fed only by the referral-events topic (intake never reads referral's store). Events of one
referral share a partition key, yet a redelivery, a replay or a rebalance may hand them over again or out of
order, so each status remembers the event it came from and only a later event replaces it: folding the same
events in any order, any number of times, gives the same status. The events are de-identified; so is this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralAttended,
    ReferralCancelled,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
    ReferralLifecycleEvent,
    ReferralNeedsManualRouting,
    ReferralNoShow,
    ReferralOverdue,
    ReferralReopened,
    ReferralScheduled,
    ReferralUnableToContact,
    RoutedRequest,
)
from migradesk_shared.contracts.vocabulary import ReferralStatus

# The guard of a status not known yet (only an overdue flag was seen): older than any event.
UNKNOWN = datetime(1970, 1, 1, tzinfo=UTC)

# The status each lifecycle event leaves a referral in (referral's state machine); a reopening names its own.
LIFECYCLE_STATUSES: dict[type[ReferralLifecycleEvent], ReferralStatus] = {
    ReferralAccepted: ReferralStatus.ACCEPTED,
    ReferralDeclined: ReferralStatus.DECLINED,
    ReferralScheduled: ReferralStatus.SCHEDULED,
    ReferralAttended: ReferralStatus.ATTENDED,
    ReferralNoShow: ReferralStatus.NO_SHOW,
    ReferralCompleted: ReferralStatus.COMPLETED,
    ReferralCancelled: ReferralStatus.CANCELLED,
    ReferralUnableToContact: ReferralStatus.UNABLE_TO_CONTACT,
}


@dataclass(frozen=True)
class StatusChange:
    """One event's word on a referral's status, at the time it happened."""

    referral_id: str
    case_id: str
    service_area: str
    status: ReferralStatus
    at: datetime
    event_id: str
    # Only the routing events name the request; the lifecycle events do not carry it.
    request_id: str | None = None
    # None when no agency could be chosen (needs manual routing).
    agency_id: str | None = None
    # An overdue flag, not a status: the referral keeps its status and is overdue until a newer change.
    overdue: bool = False

    @property
    def order(self) -> tuple[datetime, str]:
        # The event id breaks a tie of times, so the newest event is the same whatever order they came in.
        return self.at, self.event_id


@dataclass(frozen=True)
class ReferralStatusView:
    referral_id: str
    case_id: str
    request_id: str | None
    agency_id: str | None
    service_area: str
    status: ReferralStatus
    status_at: datetime
    # The event the status came from: the guard that keeps an older event from overwriting a newer status.
    last_event_at: datetime
    last_event_id: str
    # When referral last reported it past the deadline set for its agency (None: never). Kept apart from the
    # status's own guard, so folding in any order gives the same flag.
    overdue_at: datetime | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        return self.last_event_at, self.last_event_id

    @property
    def overdue(self) -> bool:
        """Reported overdue after its last change of status."""
        return self.overdue_at is not None and self.overdue_at > self.last_event_at


def status_change(event: object) -> StatusChange | None:
    """The status an event reports (an overdue flag keeps the status and marks it overdue), or None for an event
    that says nothing of a status."""
    if isinstance(event, RoutedRequest):
        if isinstance(event, ReferralCreated):
            status, agency_id = ReferralStatus.PENDING, event.agency_id
        elif isinstance(event, ReferralNeedsManualRouting):
            status, agency_id = ReferralStatus.NEEDS_MANUAL_ROUTING, None
        else:
            return None
        return StatusChange(referral_id=event.referral_id, case_id=event.case_id,
                            service_area=str(event.service_area), status=status, at=event.occurred_at,
                            event_id=event.event_id, request_id=event.request_id, agency_id=agency_id)
    if isinstance(event, ReferralOverdue):
        return StatusChange(referral_id=event.referral_id, case_id=event.case_id,
                            service_area=str(event.service_area), status=ReferralStatus.PENDING,
                            at=event.occurred_at, event_id=event.event_id, agency_id=event.agency_id, overdue=True)
    if isinstance(event, ReferralReopened):
        status = event.reopened_to
    elif isinstance(event, ReferralLifecycleEvent) and type(event) in LIFECYCLE_STATUSES:
        status = LIFECYCLE_STATUSES[type(event)]
    else:
        return None
    return StatusChange(referral_id=event.referral_id, case_id=event.case_id, service_area=str(event.service_area),
                        status=status, at=event.occurred_at, event_id=event.event_id, agency_id=event.agency_id)


def apply_change(current: ReferralStatusView | None, change: StatusChange) -> ReferralStatusView:
    """The status after `change`: a change older than (or the same as) the one held leaves the status as it is,
    though it may still fill in the request the held status did not know. An overdue flag only moves the time
    the referral was last reported overdue."""
    if change.overdue:
        if current is None:
            # Its status is not known yet: pending until an event says otherwise (any real one is newer).
            return ReferralStatusView(referral_id=change.referral_id, case_id=change.case_id, request_id=None,
                                      agency_id=change.agency_id, service_area=change.service_area,
                                      status=ReferralStatus.PENDING, status_at=change.at, last_event_at=UNKNOWN,
                                      last_event_id="", overdue_at=change.at)
        if current.overdue_at is not None and current.overdue_at >= change.at:
            return current
        return replace(current, overdue_at=change.at)
    if current is not None and change.order <= current.order:
        if current.request_id is None and change.request_id is not None:
            return replace(current, request_id=change.request_id)
        return current
    return ReferralStatusView(
        referral_id=change.referral_id, case_id=change.case_id,
        request_id=change.request_id if change.request_id is not None
        else current.request_id if current is not None else None,
        agency_id=change.agency_id, service_area=change.service_area, status=change.status, status_at=change.at,
        last_event_at=change.at, last_event_id=change.event_id,
        overdue_at=current.overdue_at if current is not None else None)


def fold_changes(held: Mapping[str, ReferralStatusView], changes: Iterable[StatusChange]
                 ) -> dict[str, ReferralStatusView]:
    """The statuses the changes alter, by referral id (the ones left as they were are not returned)."""
    now: dict[str, ReferralStatusView] = {}
    for change in changes:
        before = now.get(change.referral_id) or held.get(change.referral_id)
        after = apply_change(before, change)
        if after != before:
            now[change.referral_id] = after
    return now
