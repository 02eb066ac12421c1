"""The worklist's pure parts: keys of an entry, choice of key, totals, order within a day, cursors, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from migradesk_intake.domain.worklist import (
    WorklistEntry,
    WorklistQuery,
    choose_key,
    day_member,
    days_in_order,
    decode_cursor,
    encode_cursor,
    entry_keys,
    key_pairs,
    member_position,
    plan_total,
    select_in_day,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def entry(case_id: str = "c1", *, at: datetime = T0, status: str = "open", areas: tuple[str, ...] = ("health",),
          staff: str = "ana", overdue: bool = False) -> WorklistEntry:
    return WorklistEntry(case_id=case_id, person_id=f"p-{case_id}", opened_at=at, status=status,
                         service_areas=frozenset(areas), assigned_to=staff, overdue=overdue)


def test_an_entry_is_listed_under_its_status_each_area_its_staff_and_overdue() -> None:
    assert entry_keys(entry(areas=("health", "desk"), overdue=True)) == [
        "open", "open|area:desk", "open|area:health", "open|overdue", "open|staff:ana"]
    assert entry_keys(entry(status="closed", areas=())) == ["closed", "closed|staff:ana"]


def test_opened_at_is_kept_in_utc_so_the_same_instant_gives_the_same_keys() -> None:
    local = T0.astimezone(timezone(timedelta(hours=-3)))
    assert entry(at=local) == entry()
    assert day_member(entry(at=local)) == "2026-11-23T10:00:00.000000+00:00|c1"
    assert member_position("2026-11-23T10", day_member(entry(at=local))) == entry().position


def test_entries_are_bucketed_by_their_utc_hour_and_a_bucket_is_before_a_date_when_its_day_is() -> None:
    """An hour, so a bucket's document (rewritten whole at each registration) stays as small as a desk's hour."""
    late = entry(at=datetime(2026, 11, 22, 23, 59, tzinfo=UTC))
    assert (entry().bucket, late.bucket) == ("2026-11-23T10", "2026-11-22T23")
    assert key_pairs(late) == {(key, "2026-11-22T23") for key in entry_keys(late)}
    query = WorklistQuery(opened_before=date(2026, 11, 23))
    assert query.matches(late) and not query.matches(entry())
    assert query.day_allowed("2026-11-22T23") and not query.day_allowed("2026-11-23T00")


@pytest.mark.parametrize(("field", "kwargs"), [
    ("opened_at", {"opened_at": datetime(2026, 1, 1)}),
    ("status", {"status": "pending"}),
])
def test_an_entry_is_validated(field: str, kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"case_id": "c", "person_id": "p", "opened_at": T0, "status": "open",
                               "service_areas": frozenset(), "assigned_to": "ana"}
    with pytest.raises(ValueError, match=field):
        WorklistEntry(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 101, -1])
def test_page_size_is_validated_naming_the_field(size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        WorklistQuery(page_size=size)


def test_a_bad_cursor_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="after"):
        WorklistQuery(after="not-a-cursor")
    with pytest.raises(ValueError, match="status"):
        WorklistQuery(status="all")


def test_the_cursor_round_trips_and_is_opaque() -> None:
    position = entry("case-9").position
    cursor = encode_cursor(position)
    assert "case-9" not in cursor
    assert decode_cursor(cursor) == position


def test_the_query_reads_the_key_that_counts_fewest_entries() -> None:
    query = WorklistQuery(service_area="health", assigned_to="ana", overdue_only=True)
    assert query.candidate_keys() == ["open", "open|area:health", "open|staff:ana", "open|overdue"]
    counts = {"open": 1000, "open|area:health": 300, "open|staff:ana": 90, "open|overdue": 40}
    assert choose_key(query, counts) == "open|overdue"
    assert choose_key(query, {**counts, "open|staff:ana": 10}) == "open|staff:ana"
    # no directory for a key: nothing is listed under it, the cheapest of all
    assert choose_key(WorklistQuery(status="closed", assigned_to="bia"), {"closed": 5}) == "closed|staff:bia"
    # a tie prefers the narrower condition over the status alone
    assert choose_key(WorklistQuery(service_area="work"), {"open": 4, "open|area:work": 4}) == "open|area:work"


def test_total_is_exact_with_one_condition_and_an_upper_bound_with_more() -> None:
    counts = {"open": 1000, "open|area:health": 300, "open|staff:ana": 90}
    assert plan_total(WorklistQuery(), counts) == (1000, True)
    assert plan_total(WorklistQuery(service_area="health"), counts) == (300, True)
    assert plan_total(WorklistQuery(service_area="health", assigned_to="ana"), counts) == (90, False)


def test_days_are_walked_in_order_skipping_empty_ones_before_the_bound_and_the_cursor() -> None:
    days = {"2026-11-20": 2, "2026-11-21": 0, "2026-11-22": 1, "2026-11-23": 3}
    assert days_in_order(days, WorklistQuery(), None) == ["2026-11-20", "2026-11-22", "2026-11-23"]
    assert days_in_order(days, WorklistQuery(oldest_first=False), None) == ["2026-11-23", "2026-11-22", "2026-11-20"]
    # opened_before is exclusive
    assert days_in_order(days, WorklistQuery(opened_before=date(2026, 11, 23)), None) == ["2026-11-20", "2026-11-22"]
    cursor = ("2026-11-22", "2026-11-22T09:00:00.000000+00:00", "c")
    assert days_in_order(days, WorklistQuery(), cursor) == ["2026-11-22", "2026-11-23"]
    assert days_in_order(days, WorklistQuery(oldest_first=False), cursor) == ["2026-11-22", "2026-11-20"]


def test_a_day_is_sorted_filtered_and_cut_at_the_cursor() -> None:
    a = entry("a", at=T0)
    b = entry("b", at=T0 + timedelta(hours=1), staff="bia")
    c = entry("c", at=T0 + timedelta(hours=2))
    d = entry("d", at=T0 + timedelta(hours=2))  # same instant as c: the case id orders them
    assert select_in_day([d, b, c, a], WorklistQuery(), None) == [a, b, c, d]
    assert select_in_day([d, b, c, a], WorklistQuery(oldest_first=False), None) == [d, c, b, a]
    assert select_in_day([d, b, c, a], WorklistQuery(assigned_to="ana"), None) == [a, c, d]
    assert select_in_day([d, b, c, a], WorklistQuery(), b.position) == [c, d]
    assert select_in_day([d, b, c, a], WorklistQuery(oldest_first=False), c.position) == [b, a]


def test_the_end_of_a_bucket_cursor_skips_the_whole_bucket_in_either_order() -> None:
    bucket = [entry("a", at=T0.replace(minute=0)), entry("b", at=T0.replace(minute=59, second=59))]
    for oldest_first in (True, False):
        query = WorklistQuery(oldest_first=oldest_first)
        assert select_in_day(bucket, query, query.end_of_day("2026-11-23T10")) == []
        before, after = "2026-11-23T09", "2026-11-23T11"
        assert len(select_in_day(bucket, query, query.end_of_day(before if oldest_first else after))) == 2


def test_matches_checks_every_condition() -> None:
    e = entry(areas=("health",), staff="ana", overdue=False)
    assert WorklistQuery(service_area="health", assigned_to="ana").matches(e)
    assert not WorklistQuery(service_area="work").matches(e)
    assert not WorklistQuery(assigned_to="bia").matches(e)
    assert not WorklistQuery(overdue_only=True).matches(e)
    assert not WorklistQuery(status="closed").matches(e)
    assert not WorklistQuery(opened_before=date(2026, 11, 23)).matches(e)
    assert WorklistQuery(opened_before=date(2026, 11, 24)).matches(e)
