"""Service-level deadlines: how long an agency has to answer a referral, per service area.

Protection is urgent (violence, trafficking, child protection): a day, not days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea

DEFAULT_RESPONSE_SLA: Mapping[ServiceArea, timedelta] = {
    ServiceArea.PROTECTION: timedelta(hours=24),
    ServiceArea.HEALTH: timedelta(hours=72),
    ServiceArea.SOCIAL_ASSISTANCE: timedelta(hours=72),
    ServiceArea.EDUCATION: timedelta(days=5),
    ServiceArea.WORK: timedelta(days=5),
}


@dataclass(frozen=True)
class SlaVerdict:
    deadline: datetime
    overdue: bool
    overdue_by: timedelta


def response_deadline(area: ServiceArea, created_at: datetime,
                      sla: Mapping[ServiceArea, timedelta] = DEFAULT_RESPONSE_SLA) -> datetime:
    return created_at + sla[area]


def check_response_sla(area: ServiceArea, status: ReferralStatus, created_at: datetime, now: datetime,
                       sla: Mapping[ServiceArea, timedelta] = DEFAULT_RESPONSE_SLA) -> SlaVerdict:
    """A referral is overdue when it is still pending (unanswered) after its area's deadline."""
    deadline = response_deadline(area, created_at, sla)
    late = now - deadline
    overdue = status is ReferralStatus.PENDING and late > timedelta(0)
    return SlaVerdict(deadline=deadline, overdue=overdue, overdue_by=late if overdue else timedelta(0))
