"""Response deadlines in the municipality's working hours: Mon–Fri 08:00–17:00 in America/Campo_Grande
(Dourados-MS), skipping national and MS holidays; protection around the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_referral.domain.record import RequestToRoute, escalated, routed
from migradesk_referral.domain.routing import RoutingDecision
from migradesk_referral.domain.sla import (
    DEFAULT_POLICY,
    DEFAULT_RESPONSE_SLA,
    BrazilianHolidays,
    SlaPolicy,
    add_working_time,
    check_response_sla,
    response_deadline,
)
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import ReferralStatus
from migradesk_shared.topics import ServiceArea

CG = ZoneInfo("America/Campo_Grande")
H, P, E = ServiceArea.HEALTH, ServiceArea.PROTECTION, ServiceArea.EDUCATION
PENDING = ReferralStatus.PENDING
TICK = timedelta(microseconds=1)
BUSINESS_AREAS = [a for a in ServiceArea if a is not P]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: tzinfo = CG) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def test_the_default_policy_is_dourados_and_the_slas_are_in_working_hours() -> None:
    assert DEFAULT_POLICY.timezone == CG
    assert (DEFAULT_POLICY.opens, DEFAULT_POLICY.closes) == (time(8), time(17))
    assert DEFAULT_POLICY.working_days == {1, 2, 3, 4, 5}
    assert DEFAULT_POLICY.around_the_clock == {P}
    day = timedelta(hours=9)
    assert DEFAULT_RESPONSE_SLA[H] == DEFAULT_RESPONSE_SLA[ServiceArea.SOCIAL_ASSISTANCE] == 3 * day
    assert DEFAULT_RESPONSE_SLA[E] == DEFAULT_RESPONSE_SLA[ServiceArea.WORK] == 5 * day
    assert DEFAULT_RESPONSE_SLA[P] == timedelta(hours=24)


def test_a_friday_evening_health_referral_is_due_at_the_close_of_its_third_working_day() -> None:
    created = at(2026, 11, 27, 18)  # a Friday, after closing
    deadline = response_deadline(H, created)
    # Monday, Tuesday and Wednesday, 9 working hours each: due at Wednesday's closing time.
    assert deadline == at(2026, 12, 2, 17)
    assert not check_response_sla(H, PENDING, created, at(2026, 11, 28, 18)).overdue  # Saturday: not overdue
    assert not check_response_sla(H, PENDING, created, at(2026, 12, 1, 16, 59)).overdue
    assert not check_response_sla(H, PENDING, created, deadline).overdue
    late = check_response_sla(H, PENDING, created, deadline + TICK)
    assert late.overdue and late.overdue_by == TICK and late.deadline == deadline
    assert not check_response_sla(H, ReferralStatus.ACCEPTED, created, deadline + timedelta(days=9)).overdue


def test_a_referral_made_on_a_national_holiday_starts_counting_on_the_next_working_day() -> None:
    # Consciência Negra (20 November) is a national holiday since 2024, in the package's national calendar.
    assert date(2026, 11, 20) in holidays.country_holidays("BR", years=2026)
    created = at(2026, 11, 20, 9)  # a Friday, but a holiday
    assert response_deadline(H, created) == at(2026, 11, 25, 17)  # Mon 23, Tue 24, Wed 25
    # Made on the Thursday before, the holiday is skipped in the middle: 7 h Thu, 9 Mon, 9 Tue, 2 Wed.
    assert response_deadline(H, at(2026, 11, 19, 10)) == at(2026, 11, 25, 10)
    no_holidays = SlaPolicy(is_holiday=lambda _: False)
    assert response_deadline(H, at(2026, 11, 19, 10), no_holidays) == at(2026, 11, 24, 10)


def test_the_states_holidays_are_skipped_and_another_states_are_not() -> None:
    # 11 October, Criação do Estado de Mato Grosso do Sul: MS's holiday only; 12 October is national.
    assert date(2027, 10, 11) in holidays.country_holidays("BR", subdiv="MS", years=2027)
    assert date(2027, 10, 11) not in holidays.country_holidays("BR", years=2027)
    created = at(2027, 10, 8, 18)  # the Friday before; Mon 11 (MS) and Tue 12 (national) are closed
    assert response_deadline(H, created) == at(2027, 10, 15, 17)  # Wed 13, Thu 14, Fri 15
    sao_paulo_state = SlaPolicy(is_holiday=BrazilianHolidays("SP"))
    assert response_deadline(H, created, sao_paulo_state) == at(2027, 10, 14, 17)  # Mon 11, Wed 13, Thu 14
    # Made on the state holiday itself (a Friday in 2024): counting starts on Monday.
    assert response_deadline(H, at(2024, 10, 11, 10)) == at(2024, 10, 16, 17)


def test_municipal_holidays_are_skipped_too() -> None:
    anniversary = date(2026, 12, 21)  # a Monday the municipality closes
    policy = SlaPolicy(is_holiday=BrazilianHolidays("MS", frozenset({anniversary})))
    assert response_deadline(H, at(2026, 12, 18, 18), policy) == at(2026, 12, 24, 17)  # Tue 22, Wed 23, Thu 24
    assert response_deadline(H, at(2026, 12, 18, 18)) == at(2026, 12, 23, 17)


def test_protection_counts_calendar_hours_across_a_weekend_and_holidays() -> None:
    created = at(2026, 11, 27, 18)  # Friday evening
    deadline = response_deadline(P, created)
    assert deadline == at(2026, 11, 28, 18)  # Saturday, the same hour
    assert check_response_sla(P, PENDING, created, deadline + TICK).overdue
    assert response_deadline(P, at(2026, 11, 19, 22)) == at(2026, 11, 20, 22)  # into a holiday
    assert response_deadline(P, at(2026, 11, 27, 21, tz=UTC)) == at(2026, 11, 28, 21, tz=UTC)


def test_a_referral_made_before_opening_starts_counting_at_opening() -> None:
    monday_early = at(2026, 11, 30, 7)
    assert add_working_time(monday_early, timedelta(hours=1)) == at(2026, 11, 30, 9)
    assert add_working_time(monday_early, timedelta(0)) == at(2026, 11, 30, 8)
    assert response_deadline(H, monday_early) == response_deadline(H, at(2026, 11, 30, 8)) == at(2026, 12, 2, 17)
    # Lunch is not carved out: 08:00–17:00 counts 9 hours.
    assert add_working_time(at(2026, 11, 30, 11, 30), timedelta(hours=2)) == at(2026, 11, 30, 13, 30)


def test_a_deadline_that_uses_up_a_window_lands_at_its_closing_time() -> None:
    monday = at(2026, 11, 30, 8)
    assert add_working_time(monday, timedelta(hours=9)) == at(2026, 11, 30, 17)  # not Tuesday 08:00
    assert add_working_time(monday, timedelta(hours=9) + TICK) == at(2026, 12, 1, 8) + TICK
    assert response_deadline(E, monday) == at(2026, 12, 4, 17)  # Friday's closing
    # Made at closing time exactly: nothing is left of that window.
    assert add_working_time(at(2026, 11, 30, 17), timedelta(hours=1)) == at(2026, 12, 1, 9)


def test_time_zone_arithmetic_is_right_without_daylight_saving_and_across_a_former_change() -> None:
    # Campo Grande is UTC-4 all year since 2019: 17:00 there is 21:00 UTC, in November as in July.
    created = at(2026, 11, 27, 22, tz=UTC)  # Friday 18:00 in Campo Grande
    deadline = response_deadline(H, created)
    assert deadline.tzinfo is UTC and deadline == at(2026, 12, 2, 21, tz=UTC)
    assert response_deadline(H, at(2026, 7, 3, 22, tz=UTC)) == at(2026, 7, 8, 21, tz=UTC)
    # Brasília time is an hour ahead: the same wall-clock deadline is an hour earlier.
    brasilia = SlaPolicy(timezone=ZoneInfo("America/Sao_Paulo"))
    assert response_deadline(H, created, brasilia) == at(2026, 12, 2, 20, tz=UTC)
    # In 2018 Campo Grande still changed to UTC-3 at midnight on 4 November: the wall clock keeps its
    # hours (08:00–17:00 local) and the absolute deadline follows the new offset.
    before_change = at(2018, 11, 2, 18)  # Finados, a Friday, UTC-4
    assert before_change.utcoffset() == timedelta(hours=-4)
    deadline = response_deadline(H, before_change)
    assert deadline.astimezone(CG).replace(tzinfo=None) == datetime(2018, 11, 7, 17)
    assert deadline.astimezone(UTC) == at(2018, 11, 7, 20, tz=UTC)
    assert response_deadline(P, before_change) - before_change == timedelta(hours=24)


def test_naive_times_and_impossible_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        response_deadline(H, datetime(2026, 11, 30, 9))
    with pytest.raises(ValueError, match="open before they close"):
        SlaPolicy(opens=time(17), closes=time(8))
    with pytest.raises(ValueError, match="ISO weekdays"):
        SlaPolicy(working_days=frozenset({0, 1}))
    with pytest.raises(ValueError, match="unknown Brazilian state"):
        BrazilianHolidays("XX")
    with pytest.raises(ValueError, match="unknown time zone"):
        SlaPolicy.for_municipality(timezone="America/Nowhere", state="MS")
    with pytest.raises(ValueError, match="no working day"):
        response_deadline(H, at(2026, 11, 30, 9), SlaPolicy(is_holiday=lambda _: True))


def test_a_policy_from_configuration_values() -> None:
    policy = SlaPolicy.for_municipality(timezone="America/Campo_Grande", state="MS", opens=time(7),
                                        closes=time(13), working_days=frozenset({1, 2, 3, 4, 5, 6}),
                                        municipal_holidays=frozenset({date(2026, 12, 1)}))
    # Six-hour days (07:00–13:00), Saturdays open, 1 December closed: 27 h from Friday 18:00 are
    # Sat 6, Mon 6, Wed 6, Thu 6, Fri 3.
    assert response_deadline(H, at(2026, 11, 27, 18), policy) == at(2026, 12, 4, 10)
    assert policy.is_working_day(date(2026, 11, 28)) and not policy.is_working_day(date(2026, 12, 1))


def test_counting_steps_by_days_not_minutes() -> None:
    asked: list[date] = []

    def is_holiday(day: date) -> bool:
        asked.append(day)
        return False

    policy = SlaPolicy(is_holiday=is_holiday, sla={**DEFAULT_RESPONSE_SLA, E: timedelta(hours=9 * 200)})
    assert response_deadline(E, at(2026, 1, 5, 8), policy) == at(2026, 10, 9, 17)  # 200 working days later
    assert len(asked) <= 200  # one question per weekday, once


def _record(area: ServiceArea, created: datetime) -> tuple[RequestToRoute, RoutingDecision]:
    request = RequestToRoute(case_id="c1", request_id="r1", category="sus_card", area=area,
                             municipality="Dourados-MS", facets=PersonFacets(), correlation_id="x")
    return request, RoutingDecision(agency_id="ubs-centro", reason="test")


def test_escalation_counts_with_the_policy_it_is_given() -> None:
    created = at(2026, 11, 27, 18)  # Friday evening
    record = routed(*_record(H, created), at=created)
    assert escalated(record, at(2026, 12, 2, 17)) is None
    found = escalated(record, at(2026, 12, 2, 17) + TICK)
    assert found is not None and found[1] == at(2026, 12, 2, 17) and found[0].escalated_to == "coordinator"
    # A municipality open every day of the week, without holidays: Saturday, Sunday, Monday.
    every_day = SlaPolicy(working_days=frozenset(range(1, 8)), is_holiday=lambda _: False)
    found = escalated(record, at(2026, 11, 30, 17) + TICK, every_day)
    assert found is not None and found[1] == at(2026, 11, 30, 17)


@settings(max_examples=300, deadline=None)
@given(created=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
       area=st.sampled_from(BUSINESS_AREAS))
def test_a_deadline_is_never_before_the_sla_in_calendar_time_and_falls_in_working_hours(
        created: datetime, area: ServiceArea) -> None:
    deadline = response_deadline(area, created)
    assert deadline >= created + DEFAULT_RESPONSE_SLA[area]
    local = deadline.astimezone(CG)
    assert DEFAULT_POLICY.is_working_day(local.date())
    assert local.isoweekday() <= 5 and local.date() not in holidays.country_holidays("BR", subdiv="MS",
                                                                                       years=local.year)
    assert time(8) < local.time() <= time(17)


@settings(max_examples=200, deadline=None)
@given(created=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
       hours=st.integers(min_value=1, max_value=200), opens=st.integers(min_value=0, max_value=12),
       length=st.integers(min_value=1, max_value=11),
       days=st.frozensets(st.integers(min_value=1, max_value=7), min_size=1))
def test_working_time_adds_up_whatever_the_policy(created: datetime, hours: int, opens: int, length: int,
                                                  days: frozenset[int]) -> None:
    policy = SlaPolicy(opens=time(opens), closes=time(opens + length), working_days=days)
    amount = timedelta(hours=hours)
    deadline = add_working_time(created, amount, policy)
    assert deadline >= created + amount
    local = deadline.astimezone(CG)
    assert policy.is_working_day(local.date()) and time(opens) < local.time() <= time(opens + length)
    # Splitting the time in two adds up to the same deadline.
    assert add_working_time(add_working_time(created, amount / 3, policy), amount - amount / 3, policy) == deadline
