"""The summary, the indicators and the evidence tables, read from the buckets of both repositories."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.adapters.views import evidence_view, indicators_view, summary_view
from migradesk_metrics.service import count_event, count_events, evidence, indicators, summary
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.vocabulary import ServiceArea
from tests.service.metrics.helpers import TOWN, TZ, at, logged, opened

HTI = PersonFacets(nationality="HTI", sex="male", age_band="18-29", migratory_status="refugiado", language="ht")
DEC = datetime(2026, 12, 3, 12, tzinfo=UTC)


async def test_the_summary_gives_the_plain_counters_of_each_area_and_month(repository: RollupRepository) -> None:
    await count_events([(logged(ServiceArea.HEALTH, "r1"), at(0)), (logged(ServiceArea.HEALTH, "r2"), at(1)),
                        (logged(None, "r3"), at(2)), (logged(ServiceArea.WORK, "r4", when=DEC), at(3)),
                        (opened("c9", municipality="Corumbá-MS"), at(4))], repository=repository, tz=TZ)
    # Under a threshold of 1 no count is small: the requests read as counted.
    everything = await summary(repository, municipality=TOWN, period=None, threshold=1)
    assert list(everything) == ["2026-11", "2026-12"]
    november = everything["2026-11"]
    assert list(november) == ["_all", "desk", "health"]  # areas in name order
    assert november["health"] == {"requests_logged": 2}  # no disaggregations, no histograms
    assert november["_all"] == {"requests_logged": 3, "requests_resolved_at_desk": 1}
    assert november["desk"] == {"requests_logged": 1}
    assert await summary(repository, municipality=TOWN, period="2026-12", threshold=1) == {
        "2026-12": {"_all": {"requests_logged": 1}, "work": {"requests_logged": 1}}}
    assert await summary(repository, municipality=TOWN, period="2027-01", threshold=1) == {}
    # Under the usual threshold the same requests are too few to publish, in every area and in all.
    hidden = (await summary(repository, municipality=TOWN, period="2026-11", threshold=5))["2026-11"]
    assert {area: counts["requests_logged"] for area, counts in hidden.items()} == {
        "_all": "<5", "desk": "<5", "health": "<5"}
    assert hidden["_all"]["requests_resolved_at_desk"] == 1  # other counters as counted
    view = summary_view(TOWN, everything)
    assert view["municipality"] == TOWN
    assert view["periods"]["2026-12"] == {"areas": {"_all": {"requests_logged": 1}, "work": {"requests_logged": 1}}}


async def test_the_indicators_cover_the_ten_dimensions_of_each_month(repository: RollupRepository) -> None:
    await count_events([(opened("c1"), at(0)), (logged(ServiceArea.HEALTH), at(1)),
                        (logged(ServiceArea.EDUCATION, "r2", when=DEC), at(2))], repository=repository, tz=TZ)
    periods = await indicators(repository, municipality=TOWN, period=None)
    assert list(periods) == ["2026-11", "2026-12"]
    assert set(periods["2026-11"]) == set(range(1, 11))
    assert periods["2026-11"][1]["cases_opened"] == 1
    assert periods["2026-11"][6]["requests"] == 1 and periods["2026-11"][6]["accepted_pct"] is None  # no referral
    assert periods["2026-12"][7]["requests_by"]["nationality"] == {"VEN": 1}
    view = indicators_view(TOWN, periods)
    assert view["dimensions"][6] == "health" and len(view["dimensions"]) == 10
    assert await indicators(repository, municipality="Corumbá-MS", period=None) == {}


async def test_the_evidence_tables_hide_small_cells(repository: RollupRepository) -> None:
    messages = [(logged(ServiceArea.HEALTH, f"v{i}"), at(i)) for i in range(6)]
    messages += [(logged(ServiceArea.WORK, f"h{i}", facets=HTI), at(6 + i)) for i in range(2)]
    await count_events(messages, repository=repository, tz=TZ)
    periods = await evidence(repository, municipality=TOWN, period="2026-11", threshold=5)
    tables = periods["2026-11"]
    assert set(tables) == {f"requests_by_{d}" for d in ("nationality", "sex", "age_band", "migratory_status",
                                                        "language", "race_colour", "gender_identity", "lgbtqia")}
    by_nationality = tables["requests_by_nationality"]
    assert by_nationality.row_labels == ("HTI", "VEN")
    assert by_nationality.col_labels == ("health", "education", "social_assistance", "work", "protection", "desk")
    assert by_nationality.cells[0][3] == "<5"  # the two Haitian requests
    view = evidence_view(TOWN, 5, periods)
    assert view["suppression_threshold"] == 5
    published = view["periods"]["2026-11"]["requests_by_nationality"]
    figures = [*(v for row in published["cells"] for v in row), *published["row_totals"],
               *published["column_totals"], published["total"]]
    assert 2 not in figures and "<5" in figures
    # Under a threshold of 2 no count is small: every figure is published.
    lower = (await evidence(repository, municipality=TOWN, period="2026-11", threshold=2))["2026-11"]
    assert lower["requests_by_nationality"].cells == ((0, 0, 0, 2, 0, 0), (6, 0, 0, 0, 0, 0))
    assert lower["requests_by_nationality"].grand_total == 8


async def test_a_month_without_requests_has_no_evidence_tables(repository: RollupRepository) -> None:
    await count_event(opened("c1"), at(0), repository=repository, tz=TZ)
    assert await evidence(repository, municipality=TOWN, period=None, threshold=5) == {"2026-11": {}}


async def test_no_identifier_of_a_person_a_case_or_a_request_is_kept_or_reported(
        repository: RollupRepository) -> None:
    secrets = {"case-7f3a9c", "request-51be02"}
    await count_events([(opened("case-7f3a9c"), at(0)),
                        (logged(ServiceArea.HEALTH, "request-51be02", case_id="case-7f3a9c"), at(1))],
                       repository=repository, tz=TZ)
    stored = json.dumps([(b.period, b.area, dict(b.counts)) for b in await repository.buckets(TOWN, None)])
    reported = json.dumps([
        summary_view(TOWN, await summary(repository, municipality=TOWN, period=None, threshold=5)),
        indicators_view(TOWN, await indicators(repository, municipality=TOWN, period=None)),
        evidence_view(TOWN, 5, await evidence(repository, municipality=TOWN, period=None, threshold=5))])
    assert "requests_logged" in stored and "requests_logged" in reported
    assert not {s for s in secrets if s in stored or s in reported}
