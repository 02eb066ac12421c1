"""The dashboard's tables (pure): months, what a small count hides along with it (shares, medians, totals),
partner agencies, "no data" against 0, and the charts and the files' plain values drawn from them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_metrics.adapters.charts import chart_of
from migradesk_metrics.adapters.labels import Names, machine_value
from migradesk_metrics.domain.dashboard import Dashboard, Month, Table, Value, month_before, months_up_to
from migradesk_metrics.domain.indicators import histogram_key

NOV = "2026-11"


def names() -> Names:
    return Names("en", lambda message: message)


def test_months_cross_the_year() -> None:
    assert month_before("2026-01") == "2025-12"
    assert month_before("2026-03", 14) == "2025-01"
    assert months_up_to("2026-02", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def health(counts: dict[str, int]) -> Dashboard:
    requests = counts.get("requests_logged", 0)
    return Dashboard({NOV: {"health": {"requests_logged|nationality=VEN": requests, **counts},
                            "_all": {"requests_logged": requests}}}, threshold=5)


def indicators(board: Dashboard, dimension: int = 6) -> dict[str, Value]:
    table = board.dimension(dimension, NOV, None).table("indicators")
    assert table is not None
    return {row: cells[0] for row, cells in zip(table.rows, table.cells, strict=True)}


def test_a_small_count_hides_the_share_and_the_durations_computed_from_it() -> None:
    found = indicators(health({"requests_logged": 20, "referrals_created": 20, "referrals_accepted": 3,
                               "cohort_accepted": 3, histogram_key("time_to_acceptance_h", 2): 3,
                               "referrals_created|nationality=VEN": 20}))
    assert found["requests"] == Value(20) and found["referrals"] == Value(20)
    assert found["accepted"] == Value("<5")
    assert found["accepted_pct"] == Value("x", "pct")
    assert found["time_to_acceptance_median"] == Value("x", "hours")
    assert found["overdue_pct"] == Value(0.0, "pct")  # nothing overdue of 20: a true 0 %


def test_a_share_without_a_denominator_is_no_data_not_zero() -> None:
    found = indicators(health({"requests_logged": 7}))
    assert found["referrals"] == Value(0)
    assert found["accepted_pct"] == Value(None, "pct")
    assert found["time_to_completion_median"] == Value(None, "hours")


def test_a_dimension_without_data_has_no_indicators_and_a_month_without_data_says_so() -> None:
    board = health({"requests_logged": 7})
    view = board.dimension(7, NOV, month_before(NOV))
    assert not view.has_data and view.tables == ()
    compared = board.dimension(6, NOV, month_before(NOV)).table("indicators")
    assert compared is not None and compared.columns == (NOV, "2026-10")
    assert compared.cells[0] == (Value(7), Value(None))  # October: no data, not 0 requests
    with pytest.raises(ValueError, match="no dimension 11"):
        board.dimension(11, NOV, None)


def test_each_partners_column_is_suppressed_on_its_own() -> None:
    # The month's referrals per agency, and how many of those each accepted and declined.
    board = Dashboard({NOV: {"health": {"referrals_created|agency=ubs-a": 12, "cohort_accepted|agency=ubs-a": 9,
                                        "referrals_created|agency=ubs-b": 2, "cohort_declined|agency=ubs-b": 1}}},
                      threshold=5)
    partners = board.dimension(5, NOV, None).table("partners")
    assert partners is not None and partners.rows == ("ubs-a", "ubs-b")
    a, b = partners.cells
    # ubs-b's 2 referrals are a small cell; with the total published, ubs-a's 12 would give them away (14 - 12).
    assert [v.figure for v in a] == ["x", 9, 0, "x"]
    assert [v.figure for v in b] == ["<5", 0, "<5", "x"]
    assert partners.totals is not None and [v.figure for v in partners.totals[:3]] == [14, 9, "<5"]


def test_a_chart_draws_the_published_counts_only() -> None:
    table = Table("cases_opened_by_nationality", "nationality", ("cases_opened",), ("HTI", "VEN"),
                  ((Value("<5"),), (Value(10),)), (Value(13),))
    chart = chart_of(table, names())
    assert chart is not None
    hidden, shown = chart.bars
    assert (hidden.label, hidden.text, hidden.width) == ("Haiti", "<5", 0)
    assert (shown.label, shown.text) == ("Venezuela", "10") and shown.width == chart.bar_space
    indicator_table = Table("indicators", "indicator", (NOV,), ("requests",), ((Value(3),),))
    assert chart_of(indicator_table, names()) is None  # mixed units: the table alone


def test_the_files_plain_values() -> None:
    assert machine_value(Value(None)) == ""
    assert machine_value(Value("<5")) == "<5"
    assert machine_value(Value(0.5, "pct")) == 0.5
    assert machine_value(Value(float("inf"), "hours")) == ">8760"  # more than a year
    assert names().value(Value(float("inf"), "hours")) == "> 8,760"
    assert names().value(Value(0.5333, "pct")) == "53.3%"
    assert names().value(Value(None)) == "no data"


def test_the_referrals_tables_share_their_totals_and_hide_them_together() -> None:
    # Suppressed one at a time, the table by sex hid the work referrals (12) the table by nationality showed.
    month = Month({"health": {"referrals_created": 5, "referrals_created|nationality=VEN": 2,
                              "referrals_created|nationality=HTI": 3, "referrals_created|sex=female": 3,
                              "referrals_created|sex=male": 2},
                   "work": {"referrals_created": 12, "referrals_created|nationality=HTI": 12,
                            "referrals_created|sex=female": 7, "referrals_created|sex=male": 5},
                   "_all": {"referrals_created": 17}}, threshold=5)
    tables = month.referrals_by
    assert set(tables) == {"referrals_by_nationality", "referrals_by_sex"}
    assert len({(t.col_totals, t.grand_total) for t in tables.values()}) == 1
    assert month.referrals("work") == tables["referrals_by_sex"].col_totals[
        tables["referrals_by_sex"].col_labels.index("work")]


def test_rates_are_shares_of_the_months_own_referrals_whenever_they_were_accepted() -> None:
    """November created 10 referrals and accepted 12 (some created in October): the acceptance rate is of
    November's 10, those accepted whenever (8), not 12 of 10."""
    board = Dashboard({NOV: {"health": {"requests_logged": 10, "requests_logged|nationality=VEN": 10,
                                        "referrals_created": 10, "referrals_accepted": 12, "cohort_accepted": 8,
                                        "referrals_completed": 6, "cohort_completed": 5,
                                        "cohort_completed|outcome=got_help": 5, "cohort_overdue": 0},
                             "_all": {"requests_logged": 10}}}, threshold=5)
    found = indicators(board)
    assert found["accepted"] == Value(12)  # what happened in November
    assert found["accepted_pct"] == Value(0.8, "pct")
    assert found["completed_with_help_pct"] == Value(1.0, "pct")


def test_the_registers_instruments_stand_from_adoption_to_end_in_dimensions_1_3_and_5() -> None:
    from collections import Counter
    from datetime import date

    from migradesk_metrics.domain.rollups import facts_amounts
    from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts

    months: dict[str, Counter[str]] = {}
    for facts in (InstrumentFacts(kind="law", title="Lei", adopted_on=date(2023, 6, 20)),
                  InstrumentFacts(kind="council", title="CMI", adopted_on=date(2026, 5, 2), migrant_seats=6,
                                  ends_on=date(2026, 10, 31)),
                  InstrumentFacts(kind="partnership_agreement", title="UFGD", adopted_on=date(2026, 2, 14)),
                  ActivityFacts(kind="network_meeting", held_on=date(2026, 11, 3), title="Rede", participants=9),
                  ActivityFacts(kind="awareness_campaign", held_on=date(2026, 11, 9), title="Semana",
                                audience="migrants", participants=300)):
        for period, amounts in facts_amounts(facts).items():
            months.setdefault(period, Counter()).update(amounts)
    board = Dashboard({period: {"_all": dict(counts)} for period, counts in months.items()}, threshold=5)
    # A month with nothing of its own still has the instruments standing in it.
    july = board.dimension(1, "2026-07", None)
    assert july.has_data and indicators_of(july)["instruments_in_force"] == Value(1)
    by_kind = july.table("instruments_in_force_1")
    assert by_kind is not None and by_kind.rows == ("law",) and by_kind.totals == (Value(1),)
    assert indicators_of(board.dimension(3, "2026-07", None))["bodies_with_migrant_seats"] == Value(1)
    assert indicators_of(board.dimension(3, "2026-07", None))["migrant_seats"] == Value(6)
    # The council ended in October; laws and agreements are counts of acts, published as they are.
    assert not board.dimension(3, NOV, None).has_data  # nothing stands or happened in it any more
    assert indicators_of(board.dimension(5, NOV, None))["partnership_agreements_in_force"] == Value(1)
    assert indicators_of(board.dimension(5, NOV, None))["network_meetings"] == Value("<5")
    training = board.dimension(2, NOV, None)
    assert indicators_of(training)["people_reached"] == Value(300)
    audience = training.table("awareness_campaigns_by_audience")
    assert audience is not None and audience.rows == ("migrants",)
    assert not board.dimension(1, "2023-05", None).has_data  # before the law
    for dimension in (1, 2, 3, 5):
        for table in board.dimension(dimension, NOV, None).tables:  # every table has its names
            names().title(table)
            [names().row(table, row) for row in table.rows]


def indicators_of(view: object) -> dict[str, Value]:
    table = view.table("indicators")  # type: ignore[attr-defined]
    assert table is not None
    return {row: cells[0] for row, cells in zip(table.rows, table.cells, strict=True)}


def test_a_years_count_is_what_its_months_published_determine() -> None:
    from migradesk_metrics.domain.dashboard import _sum_published

    assert _sum_published([Value(3 * 4), Value(7), Value(None)]) == Value(19)
    assert _sum_published([Value(10), Value("<5"), Value("<5")]) == Value("12–18")
    assert _sum_published([Value(10), Value("x")]) == Value("x")
    assert _sum_published([Value(None), Value(None)]) == Value(None)


def training_months(counts: dict[str, tuple[int, int, int]]) -> Dashboard:
    """Months of trainings: (trainings held, servants of health, servants of education)."""
    periods = {}
    for month, (held, health, education) in counts.items():
        periods[month] = {"_all": {"trainings_held": held, "servants_trained": health + education,
                                   "servants_trained|sector=health": health,
                                   "servants_trained|sector=education": education}}
    return Dashboard(periods, threshold=5)


def test_a_year_adds_up_its_months_and_compares_with_the_year_before() -> None:
    board = training_months({"2025-03": (6, 20, 10), "2026-01": (6, 30, 12), "2026-05": (2, 8, 9),
                             "2026-09": (7, 40, 0)})
    year = board.dimension(2, "2026", "2025")
    figures = indicators_of(year)
    assert figures["trainings_held"] == Value("14–17")  # 6 + 7 + "<5" (1 to 4)
    assert figures["servants_trained"] == Value(99)
    assert year.table("indicators").columns == ("2026", "2025")  # type: ignore[union-attr]
    assert year.table("trend").rows == tuple(f"2026-{m:02d}" for m in range(1, 13))  # type: ignore[union-attr]
    by_sector = year.table("servants_trained_by_sector")
    assert by_sector is not None and dict(zip(by_sector.rows, by_sector.cells, strict=True))["health"] == (
        Value(78),)
    assert board.years_with_data == ["2025", "2026"]
    assert [v.dimension for v in board.headlines("2026", "2025")] == list(range(1, 11))


def test_a_year_gives_away_nothing_its_months_hide() -> None:
    """Two desks whose months publish the same figures publish the same year, whatever the months hide: counts
    the rule hides (1 to 4) are drawn again for the second desk, keeping the sums the months publish."""
    import random

    compared = 0
    for seed in range(300):
        rng = random.Random(seed)
        base: dict[str, tuple[int, int, int]] = {}
        other: dict[str, tuple[int, int, int]] = {}
        for month in range(1, 13):
            held, health, education = (rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 20]) for _ in range(3))
            twin_held = rng.randint(1, 4) if 1 <= held <= 4 else held
            twin_health, twin_education = health, education
            if 1 <= health <= 4 and 1 <= education <= 4:  # another split of the same published total
                twin_health = rng.randint(max(1, health + education - 4), min(4, health + education - 1))
                twin_education = health + education - twin_health
            base[f"2026-{month:02d}"] = (held, health, education)
            other[f"2026-{month:02d}"] = (twin_held, twin_health, twin_education)
        a, b = training_months(base), training_months(other)
        if all(a.dimension(2, m, None) == b.dimension(2, m, None) for m in base):
            compared += 1
            assert a.dimension(2, "2026", None) == b.dimension(2, "2026", None), seed
    assert compared >= 150  # most pairs publish the same months: the check above did run


def health_months(months: dict[str, dict[str, int]]) -> Dashboard:
    """Months of a health service area: each its counters, with 10 requests (Venezuelans') every month."""
    return Dashboard({month: {"health": {"requests_logged": 10, "requests_logged|nationality=VEN": 10, **counts},
                              "_all": {"requests_logged": 10}} for month, counts in months.items()}, threshold=5)


def test_a_years_times_come_from_its_summed_histograms() -> None:
    from migradesk_metrics.domain.indicators import histogram_quantile

    january = {"referrals_accepted": 6, histogram_key("time_to_acceptance_h", 2): 6}
    march = {"referrals_accepted": 9, histogram_key("time_to_acceptance_h", 2): 2,
             histogram_key("time_to_acceptance_h", 40): 7}
    board = health_months({"2026-01": january, "2026-03": march})
    figures = indicators_of(board.dimension(6, "2026", None))
    assert figures["accepted"] == Value(15)
    summed = {histogram_key("time_to_acceptance_h", 2): 8, histogram_key("time_to_acceptance_h", 40): 7}
    # 8 of the year's 15 acceptances took 2 hours: the year's median is theirs, though March's is 40 hours.
    assert figures["time_to_acceptance_median"] == Value(histogram_quantile(summed, "time_to_acceptance_h", 0.5),
                                                         "hours")
    assert figures["time_to_acceptance_median"].figure == pytest.approx(2, rel=0.03)
    assert indicators_of(board.dimension(6, "2026-03", None))["time_to_acceptance_median"].figure == \
        pytest.approx(40, rel=0.03)
    assert figures["time_to_acceptance_p90"].figure == pytest.approx(40, rel=0.03)


def test_a_years_rates_are_over_the_years_cohorts() -> None:
    board = health_months({"2026-02": {"referrals_created": 10, "cohort_accepted": 8, "cohort_completed": 5,
                                       "cohort_completed|outcome=got_help": 5},
                           "2026-07": {"referrals_created": 30, "cohort_accepted": 15, "cohort_completed": 10,
                                       "cohort_completed|outcome=got_help": 0},
                           "2025-12": {"referrals_created": 20, "cohort_accepted": 20}})
    year = board.dimension(6, "2026", "2025")
    figures = indicators_of(year)
    assert figures["referrals"] == Value(40)
    assert figures["accepted_pct"] == Value(round(23 / 40, 4), "pct")  # not the months' rates averaged (0.65)
    assert figures["completed_with_help_pct"] == Value(round(5 / 15, 4), "pct")
    table = year.table("indicators")
    assert table is not None and table.column("2025")[table.rows.index("accepted_pct")] == Value(1.0, "pct")


def test_a_years_rate_is_hidden_when_a_month_hides_its_own() -> None:
    """February accepted 2 of its 10 referrals (hidden: "x"), July 15 of 30 (0.5): a yearly 17/40 would give
    February's 2 away (17 - 15)."""
    board = health_months({"2026-02": {"referrals_created": 10, "cohort_accepted": 2},
                           "2026-07": {"referrals_created": 30, "cohort_accepted": 15}})
    assert indicators_of(board.dimension(6, "2026-02", None))["accepted_pct"] == Value("x", "pct")
    figures = indicators_of(board.dimension(6, "2026", None))
    assert figures["referrals"] == Value(40)
    assert figures["accepted_pct"] == Value("x", "pct")


def test_a_years_time_shows_where_the_published_counts_reach_the_threshold() -> None:
    """Two months accepting 2 and 3 ("<5" each): 5 in all, but the published "2–8" cannot tell 5 from 4, so
    whether the year's median shows must not tell either."""
    bins = histogram_key("time_to_acceptance_h", 2)
    board = health_months({"2026-02": {"referrals_accepted": 2, bins: 2},
                           "2026-05": {"referrals_accepted": 3, bins: 3}})
    figures = indicators_of(board.dimension(6, "2026", None))
    assert figures["accepted"] == Value("2–8")
    assert figures["time_to_acceptance_median"] == Value("x", "hours")
    board = health_months({"2026-02": {"referrals_accepted": 2, bins: 2},
                           "2026-05": {"referrals_accepted": 3, bins: 3},
                           "2026-09": {"referrals_accepted": 5, bins: 5}})
    assert indicators_of(board.dimension(6, "2026", None))["time_to_acceptance_median"].figure == \
        pytest.approx(2, rel=0.03)


def test_a_year_is_compared_with_the_year_before_by_default() -> None:
    from migradesk_metrics.entrypoints.pages import Chosen

    board = health_months({"2025-06": {"referrals_created": 10}, "2026-03": {"referrals_created": 12}})
    chosen = Chosen(board, "2026-11", "2026", None)
    assert (chosen.period, chosen.compare, chosen.is_year) == ("2026", "2025", True)
    assert chosen.options[:2] == ["2026", "2025"] and "2026-03" in chosen.options
    assert Chosen(board, "2026-11", "2026-03", None).compare == "2026-02"  # a month: the month before
    assert Chosen(board, "2026-11", "2026", "none").compare is None


# For the property below: a month of a health area whose counters a coordinator may see as "<5".
_SMALL_ONES = ("referrals_accepted", "referrals_completed", "cohort_accepted", "cohort_overdue")
_HISTOGRAM_OF = {"referrals_accepted": "time_to_acceptance_h", "referrals_completed": "time_to_completion_h"}


def _health_bucket(referrals: int, small: dict[str, int], hours: float) -> dict[str, int]:
    counts = {"referrals_created": referrals, **small,
              "cohort_completed": small["referrals_completed"],
              "cohort_completed|outcome=got_help": small["referrals_completed"]}
    for counter, histogram in _HISTOGRAM_OF.items():
        if small[counter]:
            counts[histogram_key(histogram, hours)] = small[counter]
    return counts


_health_month = st.tuples(st.sampled_from([0, 5, 9, 20]), st.tuples(*(st.integers(0, 7) for _ in _SMALL_ONES)))


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["2026-01", "2026-02", "2026-06", "2026-12"]), _health_month, min_size=1),
       st.sampled_from([1.0, 30.0, 300.0]))
def test_a_year_narrows_no_hidden_monthly_count(drawn: dict[str, tuple[int, tuple[int, ...]]], hours: float
                                                ) -> None:
    """The suppression module keeps each "<5" count anywhere in 1..threshold-1 for a reader of its month. With
    the year published beside the months, it must stay so: for each value, a desk whose month holds it instead
    (the rest unchanged) publishes the same months and the same year. An exact yearly total, or a yearly rate or
    median shown over what a month hides, fails this. (Every duration takes the same time here: what a year's
    median tells of the durations of a month's few cases is not a count, see README.)"""
    months = {month: (referrals, dict(zip(_SMALL_ONES, small, strict=True)))
              for month, (referrals, small) in drawn.items()}

    def desk(changed: str | None = None, counter: str = "", value: int = 0) -> Dashboard:
        buckets = {}
        for month, (referrals, small) in months.items():
            if month == changed:
                small = {**small, counter: value}
            buckets[month] = _health_bucket(referrals, small, hours)
        return health_months(buckets)

    board = desk()
    year = board.dimension(6, "2026", None)
    for month, (referrals, small) in months.items():
        for counter, count in small.items():
            if not 0 < count < 5 or (counter.startswith("cohort_") and count > referrals):
                continue  # shown as it is, or not a count this desk could have
            for value in range(1, 5):
                if counter.startswith("cohort_") and value > referrals:
                    continue
                twin = desk(month, counter, value)
                assert twin.dimension(6, month, None) == board.dimension(6, month, None), (month, counter)
                assert twin.dimension(6, "2026", None) == year, (month, counter, count, value)
