"""Rollups: which counters an event increments. Pure; the metrics service applies them idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from migradesk_shared.contracts.case_events import CaseOpened, RequestLogged
from migradesk_shared.contracts.referral_events import ReferralCreated, ReferralNeedsManualRouting

ALL_AREAS = "_all"
AT_DESK = "desk"


@dataclass(frozen=True)
class Increment:
    """+1 on `counter` in the bucket (municipality, period, area)."""

    municipality: str
    period: str  # YYYY-MM in the municipality's time zone
    area: str
    counter: str

    @property
    def bucket_id(self) -> str:
        return f"{self.municipality}|{self.period}|{self.area}"


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


RollupEvent = CaseOpened | RequestLogged | ReferralCreated | ReferralNeedsManualRouting


def increments_for(event: RollupEvent, tz: ZoneInfo) -> list[Increment]:
    period = period_of(event.occurred_at, tz)
    m = event.municipality
    if isinstance(event, CaseOpened):
        return [Increment(m, period, ALL_AREAS, "cases_opened")]
    if isinstance(event, RequestLogged):
        area = event.service_area.value if event.service_area else AT_DESK
        incs = [Increment(m, period, area, "requests_logged"), Increment(m, period, ALL_AREAS, "requests_logged")]
        if event.service_area is None:
            incs.append(Increment(m, period, ALL_AREAS, "requests_resolved_at_desk"))
        return incs
    if isinstance(event, ReferralCreated):
        return [Increment(m, period, event.service_area.value, "referrals_created"),
                Increment(m, period, ALL_AREAS, "referrals_created")]
    if isinstance(event, ReferralNeedsManualRouting):
        return [Increment(m, period, event.service_area.value, "referrals_needing_manual_routing")]
    return []
