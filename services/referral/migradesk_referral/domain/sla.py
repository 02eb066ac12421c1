"""Service-level deadlines: how long an agency has to answer a referral, per service area.

The partner agencies (UBS, CRAS, schools, SINE) answer in the municipality's working hours, so a deadline is
counted in working time: the hours the offices are open (Mon–Fri 08:00–17:00 unless configured otherwise, in the
municipality's time zone), on working days, skipping Brazil's national holidays and the state's (from the
maintained `holidays` package) and any municipal holiday configured. A referral made on Friday evening starts
counting at Monday's opening, and is not overdue on Saturday.

Protection is urgent (violence, trafficking, child protection): a day around the clock, in calendar hours,
weekends and holidays included (the protection network keeps an on-call duty).

Working-time SLAs, with a working day of 9 hours (08:00–17:00):
- health, social assistance: 27 working hours = 3 working days;
- education, work: 45 working hours = 5 working days.
They are hours, not days: a municipality that opens 6 hours a day gets 4.5 and 7.5 of its working days.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea

# Working hours for every area but those answered around the clock (protection: calendar hours).
DEFAULT_RESPONSE_SLA: Mapping[ServiceArea, timedelta] = {
    ServiceArea.PROTECTION: timedelta(hours=24),
    ServiceArea.HEALTH: timedelta(hours=27),
    ServiceArea.SOCIAL_ASSISTANCE: timedelta(hours=27),
    ServiceArea.EDUCATION: timedelta(hours=45),
    ServiceArea.WORK: timedelta(hours=45),
}
AROUND_THE_CLOCK: frozenset[ServiceArea] = frozenset({ServiceArea.PROTECTION})
MONDAY_TO_FRIDAY: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekdays: 1 is Monday, 7 is Sunday
# Dourados-MS, the default municipality (the settings' `municipality`).
DEFAULT_TIMEZONE = "America/Campo_Grande"
DEFAULT_ZONE: tzinfo = ZoneInfo(DEFAULT_TIMEZONE)
DEFAULT_STATE = "MS"
# A calendar that keeps every day closed for this long has no working window at all: a configuration error.
MAX_CLOSED_DAYS = 366


@functools.lru_cache(maxsize=512)
def _holidays_of(state: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("BR", subdiv=state, years=year))


@dataclass(frozen=True)
class BrazilianHolidays:
    """`is_holiday` for a municipality: Brazil's national public holidays, its state's (UF, e.g. "MS": 11 October,
    Criação do Estado), and the municipal ones given as dates. Computed a year at a time, once."""

    state: str | None = DEFAULT_STATE
    municipal: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in holidays.country_holidays("BR").subdivisions:
            raise ValueError(f"unknown Brazilian state (UF) {self.state!r}")

    def __call__(self, day: date) -> bool:
        return day in self.municipal or day in _holidays_of(self.state, day.year)


def _default_sla() -> Mapping[ServiceArea, timedelta]:
    return DEFAULT_RESPONSE_SLA


@dataclass(frozen=True)
class SlaPolicy:
    """How response deadlines are counted. The defaults are Dourados-MS's: Mon–Fri 08:00–17:00 in
    America/Campo_Grande, national and MS holidays."""

    timezone: tzinfo = DEFAULT_ZONE
    opens: time = time(8)
    closes: time = time(17)
    working_days: frozenset[int] = MONDAY_TO_FRIDAY
    is_holiday: Callable[[date], bool] = BrazilianHolidays()
    sla: Mapping[ServiceArea, timedelta] = field(default_factory=_default_sla)
    around_the_clock: frozenset[ServiceArea] = AROUND_THE_CLOCK

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("working hours are wall-clock times of the policy's time zone, without a tzinfo")
        if not self.opens < self.closes:
            raise ValueError(f"working hours must open before they close, not {self.opens}–{self.closes}")
        if not self.working_days or not self.working_days <= set(range(1, 8)):
            raise ValueError(f"working days are ISO weekdays 1 (Monday) to 7 (Sunday), not {set(self.working_days)}")
        if any(amount < timedelta(0) for amount in self.sla.values()):
            raise ValueError("an SLA cannot be negative")

    @classmethod
    def for_municipality(cls, *, timezone: str, state: str | None, opens: time = time(8), closes: time = time(17),
                         working_days: frozenset[int] = MONDAY_TO_FRIDAY,
                         municipal_holidays: frozenset[date] = frozenset()) -> SlaPolicy:
        """A policy from configuration values: a time zone name (IANA), the state's UF for its holidays."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {timezone!r}") from error
        return cls(timezone=zone, opens=opens, closes=closes, working_days=frozenset(working_days),
                   is_holiday=BrazilianHolidays(state, frozenset(municipal_holidays)))

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.working_days and not self.is_holiday(day)


DEFAULT_POLICY = SlaPolicy()


@dataclass(frozen=True)
class SlaVerdict:
    deadline: datetime
    overdue: bool
    overdue_by: timedelta


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("SLA times must be timezone-aware")


def add_working_time(start: datetime, amount: timedelta, policy: SlaPolicy = DEFAULT_POLICY) -> datetime:
    """The moment `amount` of working time after `start` (in start's time zone). Time outside the working
    windows does not count: from outside one, counting starts at the next window's opening. A deadline that
    uses up a window exactly lands at its closing time, not at the next opening.

    Counted on the municipality's wall clock, a day at a time (never minute by minute); the result is converted
    back to an absolute time with the zone's offset on that date, so zones with no daylight saving (Brazil's
    since 2019) and the hours of a former one both come out right."""
    _require_aware(start)
    if amount < timedelta(0):
        raise ValueError("working time to add cannot be negative")
    wall = start.astimezone(policy.timezone).replace(tzinfo=None)
    day, remaining, closed_days = wall.date(), amount, 0
    while True:
        if policy.is_working_day(day):
            closed_days = 0
            opening, closing = datetime.combine(day, policy.opens), datetime.combine(day, policy.closes)
            begin = max(wall, opening)
            if begin < closing:
                if remaining <= closing - begin:
                    return (begin + remaining).replace(tzinfo=policy.timezone).astimezone(start.tzinfo)
                remaining -= closing - begin
        else:
            closed_days += 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(f"no working day within {MAX_CLOSED_DAYS} days of {day}: check the SLA policy")
        day += timedelta(days=1)
        wall = datetime.combine(day, time.min)


def response_deadline(area: ServiceArea, created_at: datetime, policy: SlaPolicy = DEFAULT_POLICY) -> datetime:
    """When an answer to a referral of `area` made at `created_at` is due: its SLA in working time, or in
    calendar time for the areas answered around the clock (protection)."""
    _require_aware(created_at)
    allowed = policy.sla[area]
    if area in policy.around_the_clock:
        # Absolute hours, whatever the offset of created_at's zone does meanwhile.
        return (created_at.astimezone(UTC) + allowed).astimezone(created_at.tzinfo)
    return add_working_time(created_at, allowed, policy)


def check_response_sla(area: ServiceArea, status: ReferralStatus, created_at: datetime, now: datetime,
                       policy: SlaPolicy = DEFAULT_POLICY) -> SlaVerdict:
    """A referral is overdue when it is still pending (unanswered) after its area's deadline."""
    deadline = response_deadline(area, created_at, policy)
    late = now - deadline
    overdue = status is ReferralStatus.PENDING and late > timedelta(0)
    return SlaVerdict(deadline=deadline, overdue=overdue, overdue_by=late if overdue else timedelta(0))
