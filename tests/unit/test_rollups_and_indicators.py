from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_metrics.domain.indicators import governance_indicators, histogram_key, histogram_quantile
from migradesk_metrics.domain.reports import BucketCounts, area_totals, by_period
from migradesk_metrics.domain.rollups import (
    DISAGGREGATIONS,
    BucketKey,
    RollupFold,
    batch_by_bucket,
    increments_for,
    period_of,
    plan_bucket_write,
)
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.referral_events import ReferralCreated
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.kafka import Delivery

TZ = ZoneInfo("America/Sao_Paulo")
FACETS = PersonFacets(nationality="VEN", sex="female", age_band="30-59", migratory_status="refugiado",
                      language="es")


def logged(area: ServiceArea | None, when: datetime, category: str = "sus_card") -> RequestLogged:
    return RequestLogged(producer="t", occurred_at=when, case_id="c", request_id="r", category=category,
                         service_area=area, municipality="Dourados-MS", facets=FACETS)


def test_month_is_the_municipality_local_month() -> None:
    # 02:00 UTC on 1 December is still 30 November in Dourados (UTC-4 / Brasília UTC-3).
    assert period_of(datetime(2026, 12, 1, 2, 0, tzinfo=UTC), TZ) == "2026-11"
    assert period_of(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), TZ) == "2026-12"


def test_a_request_counts_in_its_area_overall_and_by_every_disaggregation() -> None:
    incs = increments_for(logged(ServiceArea.HEALTH, datetime(2026, 11, 5, tzinfo=UTC)), TZ)
    by_area = {i.area: set(i.counters) for i in incs}
    assert "requests_logged" in by_area["health"]
    assert {"requests_logged|nationality=VEN", "requests_logged|sex=female", "requests_logged|age_band=30-59",
            "requests_logged|migratory_status=refugiado", "requests_logged|language=es"} <= by_area["health"]
    assert by_area["_all"] == {"requests_logged"}


def test_dimension_10_counts_race_colour_gender_identity_and_lgbtqia_unknown_unless_declared() -> None:
    incs = increments_for(logged(ServiceArea.PROTECTION, datetime(2026, 11, 5, tzinfo=UTC)), TZ)
    counters = next(i for i in incs if i.area == "protection").counters
    assert {"requests_logged|race_colour=unknown", "requests_logged|gender_identity=unknown",
            "requests_logged|lgbtqia=unknown"} <= set(counters)
    declared = FACETS.model_copy(update={"race_colour": "preta", "gender_identity": "trans_woman",
                                         "lgbtqia": "yes"})
    opened = CaseOpened(producer="t", occurred_at=datetime(2026, 11, 5, tzinfo=UTC), case_id="c",
                        municipality="Dourados-MS", facets=declared)
    [inc] = increments_for(opened, TZ)
    assert {"cases_opened|race_colour=preta", "cases_opened|gender_identity=trans_woman",
            "cases_opened|lgbtqia=yes"} <= set(inc.counters)
    # One counter per dimension: a request is never counted twice in one table.
    assert len([c for c in inc.counters if c.startswith("cases_opened|")]) == len(DISAGGREGATIONS) == 8


def test_a_request_resolved_at_the_desk_counts_as_such() -> None:
    incs = increments_for(logged(None, datetime(2026, 11, 5, tzinfo=UTC), "documentation"), TZ)
    assert {i.area for i in incs} == {"desk", "_all"}
    assert "requests_resolved_at_desk" in next(i for i in incs if i.area == "_all").counters


def test_a_batch_is_grouped_per_bucket_in_the_order_it_was_read() -> None:
    when = datetime(2026, 11, 5, tzinfo=UTC)
    batch = [(logged(ServiceArea.HEALTH, when), Delivery("t.case-events", 1, 7)),
             (logged(None, when, "documentation"), Delivery("t.case-events", 0, 3)),
             (logged(ServiceArea.HEALTH, when), Delivery("t.case-events", 1, 8))]
    grouped = {b.key.area: b for b in batch_by_bucket(batch, TZ)}
    assert set(grouped) == {"health", "_all", "desk"}
    assert grouped["health"].key == BucketKey("Dourados-MS", "2026-11", "health")
    assert [(p, o) for p, o, _ in grouped["health"].entries] == [("t_case-events|1", 7), ("t_case-events|1", 8)]
    assert [(p, o) for p, o, _ in grouped["_all"].entries] == [("t_case-events|1", 7), ("t_case-events|0", 3),
                                                                ("t_case-events|1", 8)]
    assert grouped["_all"].entries[1][2] == {"requests_logged": 1, "requests_resolved_at_desk": 1}


def test_reports_read_periods_in_order_and_only_plain_counters_in_the_summary() -> None:
    periods = by_period([BucketCounts("2026-12", "health", {"requests_logged": 1}),
                         BucketCounts("2026-11", "work", {"requests_logged": 2, "requests_logged|sex=male": 2}),
                         BucketCounts("2026-11", "_all", {"requests_logged": 2})])
    assert list(periods) == ["2026-11", "2026-12"]
    assert area_totals(periods["2026-11"]) == {"_all": {"requests_logged": 2}, "work": {"requests_logged": 2}}
    assert list(area_totals(periods["2026-11"])) == ["_all", "work"]


def sample_events() -> list:  # type: ignore[type-arg]
    when = datetime(2026, 11, 5, 12, tzinfo=UTC)
    events = [CaseOpened(producer="t", occurred_at=when, case_id=f"c{i}", municipality="Dourados-MS",
                         facets=FACETS) for i in range(3)]
    events += [logged(area, when) for area in (ServiceArea.HEALTH, ServiceArea.WORK, None, ServiceArea.HEALTH)]
    events += [ReferralCreated(producer="t", occurred_at=when, referral_id=f"r{i}", case_id="c", request_id="q",
                               category="sus_card", service_area=ServiceArea.HEALTH, agency_id="ubs",
                               municipality="Dourados-MS", facets=FACETS) for i in range(2)]
    return events


def buckets_of(events: list) -> dict[str, dict[str, int]]:  # type: ignore[type-arg]
    """{area: counters} of the events of one month, each counted once (de-duplication is the inbox's job)."""
    buckets: dict[str, Counter[str]] = {}
    for event in events:
        for inc in increments_for(event, TZ):
            buckets.setdefault(inc.area, Counter()).update(inc.amounts)
    return {area: dict(counts) for area, counts in buckets.items()}


@settings(max_examples=200)
@given(st.data())
def test_redeliveries_in_any_batching_are_counted_once(data: st.DataObject) -> None:
    """Kafka redelivers a partition from the last committed offset on; whatever was counted before, and however
    the messages are cut into batches, the guarded writes count each message exactly once."""
    partitions = {"t|0": data.draw(st.integers(1, 8)), "t|1": data.draw(st.integers(1, 8))}
    messages = [(p, offset, {"requests_logged": 1, f"from|{p}": offset + 1})
                for p, n in partitions.items() for offset in range(n)]
    expected: Counter[str] = Counter()
    for _, _, counters in messages:
        expected.update(counters)
    reads: dict[str, list[tuple[str, int, dict[str, int]]]] = {p: [] for p in partitions}
    for p, n in partitions.items():
        stream = reads[p]
        mine = [m for m in messages if m[0] == p]
        position, crashes = 0, data.draw(st.integers(0, 3))
        while position < n:  # read some, crash before the commit (or not), read again from a committed point
            upto = data.draw(st.integers(position + 1, n))
            stream += mine[position:upto]
            if crashes:
                crashes -= 1
                position = data.draw(st.integers(position, upto))
            else:
                position = upto
    # Partitions interleave freely, but each keeps its own order.
    rng = random.Random(data.draw(st.integers()))
    stream = []
    while any(reads.values()):
        stream.append(reads[rng.choice([p for p, left in reads.items() if left])].pop(0))
    held: dict[str, int] = {}
    counted: Counter[str] = Counter()
    while stream:
        size = data.draw(st.integers(1, len(stream)))
        batch, stream = stream[:size], stream[size:]
        plan = plan_bucket_write(held, batch)
        if plan is not None:
            counted.update(plan.increments)
            held.update(plan.newest_offsets)
    assert counted == expected


def test_histogram_quantiles() -> None:
    counts = {histogram_key("t", h): 0 for h in (0.5,)}
    for hours in (0.5, 2, 2, 3, 30, 30, 30, 100, 1000, 2000):
        key = histogram_key("t", hours)
        counts[key] = counts.get(key, 0) + 1
    assert within(histogram_quantile(counts, "t", 0.5), 30)
    assert within(histogram_quantile(counts, "t", 0.9), 1000)
    assert histogram_quantile({}, "t", 0.5) is None
    counts[histogram_key("t", 24 * 400)] = 20  # beyond a year: only "more than that" is known
    assert histogram_quantile(counts, "t", 0.9) == float("inf")


def within(value: float | None, exact: float, tolerance: float = 0.026) -> bool:
    return value is not None and abs(value - exact) <= tolerance * exact


@settings(max_examples=100)
@given(st.lists(st.floats(min_value=0.02, max_value=8000), min_size=1, max_size=200),
       st.sampled_from([0.5, 0.9]))
def test_a_quantile_read_from_the_histogram_is_within_2_5_percent_of_the_exact_one(hours: list[float],
                                                                                     q: float) -> None:
    counts: Counter[str] = Counter(histogram_key("t", h) for h in hours)
    ordered = sorted(hours)
    exact = ordered[max(math.ceil(q * len(ordered)) - 1, 0)]  # the smallest value with q of them at or below it
    assert within(histogram_quantile(counts, "t", q), exact)


def test_indicators_for_the_ten_dimensions() -> None:
    buckets = buckets_of(sample_events())
    buckets["health"]["referrals_accepted"] = 1
    buckets["health"]["cohort_accepted"] = 1
    buckets["health"]["cohort_accepted|agency=ubs"] = 1
    result = governance_indicators(buckets)
    assert set(result) == set(range(1, 11))
    assert result[1]["cases_opened"] == 3
    assert result[1]["requests_logged"] == 4
    assert result[1]["requests_resolved_at_desk"] == 1
    assert result[6]["requests"] == 2
    assert result[6]["referrals"] == 2
    assert result[6]["accepted_pct"] == 0.5
    assert result[6]["requests_by"]["nationality"] == {"VEN": 2}
    assert result[9]["requests"] == 1 and result[9]["accepted_pct"] is None  # no referrals: no rate
    assert result[5]["active_partner_agencies"] == 1
    assert result[5]["per_partner"]["ubs"] == {"referrals": 2, "accepted": 1, "acceptance_rate": 0.5}
    assert result[10]["requests"] == 0


def test_lifecycle_steps_feed_acceptance_completion_and_decline_indicators() -> None:
    from datetime import timedelta

    from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCompleted, ReferralDeclined
    from migradesk_shared.contracts.vocabulary import DeclineReason, Outcome

    created = datetime(2026, 11, 5, 12, tzinfo=UTC)
    common = {"producer": "t", "referral_id": "r1", "case_id": "c", "service_area": ServiceArea.HEALTH,
              "agency_id": "ubs", "municipality": "Dourados-MS", "referral_created_at": created}
    events = [
        *sample_events(),
        ReferralAccepted(**common, occurred_at=created + timedelta(hours=3)),  # type: ignore[arg-type]
        ReferralCompleted(**common, occurred_at=created + timedelta(hours=40),  # type: ignore[arg-type]
                          outcome=Outcome.GOT_HELP),
        ReferralDeclined(**{**common, "referral_id": "r2"}, occurred_at=created,  # type: ignore[arg-type]
                         reason=DeclineReason.NO_CAPACITY),
    ]
    buckets = buckets_of(events)
    health = governance_indicators(buckets)[6]
    assert health["accepted_pct"] == 0.5  # 1 of 2 referrals created
    assert health["completed_with_help_pct"] == 1.0
    assert all(within(health["time_to_acceptance_hours"][q], 3) for q in ("median", "p90"))
    assert all(within(health["time_to_completion_hours"][q], 40) for q in ("median", "p90"))
    assert health["decline_reasons"] == {"no_capacity": 1}
    assert governance_indicators(buckets)[5]["per_partner"]["ubs"]["accepted"] == 1


def test_disaggregation_tables_cross_each_dimension_with_the_areas() -> None:
    from migradesk_metrics.domain.indicators import disaggregation_table

    buckets = buckets_of(sample_events())
    rows, columns, cells = disaggregation_table(buckets, "requests_logged", "nationality")
    assert rows == ["VEN"]
    assert columns == ["health", "education", "social_assistance", "work", "protection", "desk"]
    assert cells == [[2, 0, 0, 1, 0, 1]]


def test_activities_feed_the_training_participation_and_information_dimensions() -> None:
    from datetime import date

    from migradesk_shared.contracts.activities import (
        InformationMaterialPublished,
        ParticipationEventHeld,
        TrainingHeld,
    )

    common = {"producer": "t", "municipality": "Dourados-MS", "held_on": date(2026, 11, 10)}
    events = [
        TrainingHeld(**common, activity_id="a1", topic="Lei de Migração",  # type: ignore[arg-type]
                     servants_trained_by_sector={"health": 12, "education": 8}),
        ParticipationEventHeld(**common, activity_id="a2", kind="cultural",  # type: ignore[arg-type]
                               migrant_participants=40),
        InformationMaterialPublished(**common, activity_id="a3", title="Guia SUS",  # type: ignore[arg-type]
                                     languages=["es", "ht", "es"]),
        CaseOpened(producer="t", case_id="c1", municipality="Dourados-MS", facets=FACETS,
                   occurred_at=datetime(2026, 11, 10, 15, tzinfo=UTC), attended_in_own_language=True),
        CaseOpened(producer="t", case_id="c2", municipality="Dourados-MS", facets=FACETS,
                   occurred_at=datetime(2026, 11, 10, 15, tzinfo=UTC), attended_in_own_language=False),
    ]
    buckets = buckets_of(events)
    assert set(buckets) == {"_all"}
    result = governance_indicators(buckets)
    assert result[2] == {"trainings_held": 1, "servants_trained": 20,
                         "servants_trained_by_sector": {"education": 8, "health": 12},
                         "awareness_campaigns": 0, "awareness_campaigns_by_audience": {}, "people_reached": 0}
    assert result[3] == {"participation_events": 1, "participation_events_by_kind": {"cultural": 1},
                         "migrant_participants": 40, "advocacy_actions": 0, "bodies_with_migrant_seats_in_force": {}}
    assert result[4] == {"cases_attended_in_own_language_pct": 0.5, "information_materials": 1,
                         "information_materials_by_language": {"es": 1, "ht": 1}}


def test_a_fold_in_memory_ends_as_the_guarded_writes_of_the_same_messages_do() -> None:
    when = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
    events = [logged(area, when) for area in (ServiceArea.HEALTH, ServiceArea.WORK, ServiceArea.HEALTH, None)]
    messages = [(event, Delivery("t", n % 2, 10 + n)) for n, event in enumerate(events)]
    fold = RollupFold()
    fold.add(messages[:3], TZ)
    fold.add(messages[3:], TZ)
    expected: dict[str, Counter[str]] = {}
    last: dict[str, dict[str, int]] = {}
    for batch in batch_by_bucket(messages, TZ):
        write = plan_bucket_write({}, batch.entries)
        assert write is not None
        expected[batch.key.bucket_id] = write.increments
        last[batch.key.bucket_id] = write.newest_offsets
    folded = fold.buckets
    assert {bucket_id: counts for bucket_id, (_, counts, _) in folded.items()} == expected
    assert {bucket_id: offsets for bucket_id, (_, _, offsets) in folded.items()} == last
    assert fold.counted == 8


def test_dimension_1_times_each_request_to_its_first_referral() -> None:
    logged_at = datetime(2026, 11, 5, 12, tzinfo=UTC)

    def created(n: int, hours: float | None) -> ReferralCreated:
        return ReferralCreated(producer="t", occurred_at=datetime(2026, 11, 5, 12, tzinfo=UTC) + timedelta(
            hours=hours or 0), referral_id=f"ref{n}", case_id=f"c{n}", request_id=f"r{n}", category="sus_card",
            service_area=ServiceArea.HEALTH, agency_id="ubs", municipality="Dourados-MS", facets=FACETS,
            request_logged_at=None if hours is None else logged_at)

    overall = {i.area: i.counters for i in increments_for(created(1, 3), TZ)}["_all"]
    assert histogram_key("request_to_referral_h", 3) in overall
    # A re-route (no request time) and an event written before the field existed count the referral only.
    assert {i.area: i.counters for i in increments_for(created(2, None), TZ)}["_all"] == ("referrals_created",)
    old = created(3, None).model_dump(mode="json")
    del old["request_logged_at"]
    assert ReferralCreated.model_validate(old).request_logged_at is None
    # A clock skew between the services never makes a negative wait.
    skewed = created(4, 1).model_copy(update={"request_logged_at": logged_at + timedelta(hours=2)})
    assert histogram_key("request_to_referral_h", 0) in {i.area: i.counters
                                                         for i in increments_for(skewed, TZ)}["_all"]
    buckets = buckets_of([created(n, hours) for n, hours in enumerate([1, 1, 3, 30, 200], start=10)])
    times = governance_indicators(buckets)[1]["time_request_to_referral_hours"]
    assert times["median"] == histogram_quantile(buckets["_all"], "request_to_referral_h", 0.5)
    assert within(times["median"], 3) and within(times["p90"], 200)


def test_a_step_counts_in_its_month_and_once_in_the_cohort_of_the_month_its_referral_was_created() -> None:
    from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCompleted
    from migradesk_shared.contracts.vocabulary import Outcome

    created_at = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 30 November in Dourados
    common = {"producer": "t", "referral_id": "ref", "case_id": "c", "service_area": ServiceArea.HEALTH,
              "agency_id": "ubs", "municipality": "Dourados-MS", "referral_created_at": created_at}
    accepted = ReferralAccepted(**common, occurred_at=datetime(2026, 12, 2, 12, tzinfo=UTC))
    by_period = {(i.period, i.area): i.counters for i in increments_for(accepted, TZ)}
    assert set(by_period) == {("2026-12", "health"), ("2026-11", "health")}
    assert "referrals_accepted" in by_period[("2026-12", "health")]
    assert by_period[("2026-11", "health")] == ("cohort_accepted", "cohort_accepted|agency=ubs")
    # Accepted again after a reopening: December counts the step, November's cohort does not count it twice.
    again = accepted.model_copy(update={"repeated": True})
    assert [(i.period, "cohort_accepted" in i.counters) for i in increments_for(again, TZ)] == [("2026-12", False)]
    # Created and completed in one month: one increment for the bucket, with both kinds of counters.
    done = ReferralCompleted(**{**common, "referral_created_at": datetime(2026, 11, 5, tzinfo=UTC)},
                             occurred_at=datetime(2026, 11, 20, tzinfo=UTC), outcome=Outcome.GOT_HELP)
    [one] = increments_for(done, TZ)
    assert {"referrals_completed", "cohort_completed", "cohort_completed|outcome=got_help"} <= set(one.counters)
