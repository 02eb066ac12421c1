"""Counting events into the rollup buckets exactly once, on both repositories."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository
from migradesk_metrics.domain.rollups import plan_bucket_write
from migradesk_metrics.service import count_event, count_events, indicators
from migradesk_shared.contracts.activities import (
    ActivityFacts,
    GovernanceRecordRevised,
    InstrumentFacts,
    TrainingHeld,
)
from migradesk_shared.contracts.referral_events import ReferralAccepted, ReferralCreated
from migradesk_shared.contracts.vocabulary import ServiceArea
from tests.service.metrics.helpers import (
    NOV,
    TOWN,
    TZ,
    VEN,
    Overtaken,
    Recording,
    at,
    bucket,
    counts_of,
    logged,
    opened,
)


async def test_an_event_is_counted_in_every_bucket_it_increments(repository: RollupRepository) -> None:
    assert await count_event(logged(ServiceArea.HEALTH), at(0), repository=repository, tz=TZ) == 2
    health = await counts_of(repository, "health")
    assert health["requests_logged"] == 1
    assert health["requests_logged|nationality=VEN"] == health["requests_logged|language=es"] == 1
    assert await counts_of(repository, "_all") == {"requests_logged": 1}


async def test_a_redelivered_message_is_counted_once_however_often_and_concurrently_it_comes(
        repository: RollupRepository) -> None:
    event = opened("c1")
    await asyncio.gather(*(count_event(event, at(41), repository=repository, tz=TZ) for _ in range(5)))
    assert await count_event(event, at(41), repository=repository, tz=TZ) == 0
    assert await count_event(opened("c2"), at(42), repository=repository, tz=TZ) == 1
    # An older message of the same partition is one the bucket already holds.
    assert await count_event(opened("c0"), at(40), repository=repository, tz=TZ) == 0
    counts = await counts_of(repository)
    assert counts["cases_opened"] == counts["cases_opened|nationality=unknown"] == 2
    assert await repository.offsets_held(bucket()) == {"t_case-events|0": 42}


async def test_different_events_creating_the_same_bucket_at_once_are_all_counted(
        repository: RollupRepository) -> None:
    # Consumers of several topics and partitions may all be first to write a month's bucket.
    await asyncio.gather(*(count_event(opened(f"c{i}"), at(7, partition=i, topic=f"topic{i % 2}"),
                                       repository=repository, tz=TZ) for i in range(20)))
    assert (await counts_of(repository))["cases_opened"] == 20


async def test_a_batch_costs_one_read_and_one_write_for_all_its_buckets(repository: RollupRepository) -> None:
    recording = Recording(repository)
    batch = [(logged(ServiceArea.HEALTH, f"r{i}"), at(i, partition=i % 3)) for i in range(12)]
    assert await count_events(batch, repository=recording, tz=TZ) == 24
    assert recording.calls == [("read", ("_all", "health")), ("write", ("_all", "health"))]
    assert (await counts_of(repository, "health"))["requests_logged"] == 12
    assert await repository.offsets_held(bucket("health")) == {"t_case-events|0": 9, "t_case-events|1": 10,
                                                               "t_case-events|2": 11}
    # The same batch again (a crash before the commit): read, found counted, nothing written.
    recording.calls.clear()
    assert await count_events(batch, repository=recording, tz=TZ) == 0
    assert recording.calls == [("read", ("_all", "health"))]
    assert (await counts_of(repository, "_all"))["requests_logged"] == 12


async def test_a_redelivered_batch_counts_only_the_messages_it_did_not_hold(repository: RollupRepository) -> None:
    await count_events([(opened(f"c{i}"), at(i)) for i in range(3)], repository=repository, tz=TZ)
    # Kafka redelivers from the last committed offset on: the first messages again, then new ones.
    assert await count_events([(opened(f"c{i}"), at(i)) for i in range(1, 6)], repository=repository, tz=TZ) == 3
    assert (await counts_of(repository))["cases_opened"] == 6


async def test_partitions_are_guarded_each_on_its_own(repository: RollupRepository) -> None:
    await count_event(opened("a"), at(50, partition=0), repository=repository, tz=TZ)
    # A low offset of another partition is new: offsets only compare within a partition.
    assert await count_event(opened("b"), at(3, partition=1), repository=repository, tz=TZ) == 1
    assert await count_event(opened("b"), at(3, partition=1), repository=repository, tz=TZ) == 0
    assert await repository.offsets_held(bucket()) == {"t_case-events|0": 50, "t_case-events|1": 3}
    assert (await counts_of(repository))["cases_opened"] == 2


async def test_a_writer_overtaken_by_another_reads_again_and_counts_only_what_is_new(
        repository: RollupRepository) -> None:
    batch = [(opened("c4"), at(4)), (opened("c5"), at(5))]
    overtaken = Overtaken(repository, competing=[(opened("c4"), at(4))])
    assert await count_events(batch, repository=overtaken, tz=TZ) == 1
    # The first conditional write lost (the bucket no longer held what was read): read again, write the rest.
    assert overtaken.calls == [("read", ("_all",)), ("write", ("_all",)), ("read", ("_all",)), ("write", ("_all",))]
    assert (await counts_of(repository))["cases_opened"] == 2
    assert await repository.offsets_held(bucket()) == {"t_case-events|0": 5}


async def test_a_write_whose_offsets_are_stale_changes_nothing(repository: RollupRepository) -> None:
    key = bucket()
    first = plan_bucket_write({}, [("p|0", 1, {"cases_opened": 1})])
    assert first is not None
    assert await repository.add_counts(key, None, first)
    assert not await repository.add_counts(key, None, first)  # "no bucket yet" is stale now
    later = plan_bucket_write({"p|0": 1}, [("p|0", 2, {"cases_opened": 1}), ("p|1", 0, {"cases_opened": 1})])
    assert later is not None
    assert not await repository.add_counts(key, {"p|0": 0}, later)  # an offset the bucket no longer holds
    assert not await repository.add_counts(key, {"p|0": 1, "p|1": 0}, later)  # one it never held
    assert await repository.offsets_held(key) == {"p|0": 1}
    assert await repository.add_counts(key, {"p|0": 1}, later)
    assert await repository.offsets_held(key) == {"p|0": 2, "p|1": 0}
    assert (await counts_of(repository))["cases_opened"] == 3
    # Creating a bucket that meanwhile exists succeeds only when it holds nothing of the partitions written.
    other = plan_bucket_write({}, [("q|0", 9, {"cases_opened": 1})])
    assert other is not None
    assert await repository.add_counts(key, None, other)
    assert (await counts_of(repository))["cases_opened"] == 4


async def test_an_empty_batch_touches_no_bucket(repository: RollupRepository) -> None:
    recording = Recording(repository)
    assert await count_events([], repository=recording, tz=TZ) == 0
    assert recording.calls == []
    assert await repository.offsets_held(bucket()) is None


async def test_a_month_is_the_municipality_s_local_month(repository: RollupRepository) -> None:
    # 02:00 UTC on 1 December is still 30 November in Dourados.
    await count_event(opened("late", when=datetime(2026, 12, 1, 2, tzinfo=UTC)), at(0), repository=repository,
                      tz=TZ)
    await count_event(opened("next", when=datetime(2026, 12, 1, 5, tzinfo=UTC)), at(1), repository=repository,
                      tz=TZ)
    assert (await counts_of(repository, period="2026-11"))["cases_opened"] == 1
    assert (await counts_of(repository, period="2026-12"))["cases_opened"] == 1


async def test_referral_steps_and_activities_feed_the_indicators(repository: RollupRepository) -> None:
    created = ReferralCreated(producer="test", occurred_at=NOV, referral_id="ref-1", case_id="c1", request_id="r1",
                              category="sus_card", service_area=ServiceArea.HEALTH, agency_id="ubs",
                              municipality=TOWN, facets=VEN)
    accepted = ReferralAccepted(producer="test", occurred_at=NOV + timedelta(hours=3), referral_id="ref-1",
                                case_id="c1", service_area=ServiceArea.HEALTH, agency_id="ubs", municipality=TOWN,
                                referral_created_at=NOV)
    training = TrainingHeld(producer="test", municipality=TOWN, held_on=date(2026, 11, 10), activity_id="a1",
                            topic="Lei de Migração", servants_trained_by_sector={"health": 12, "education": 8})
    await count_events([(created, at(0, topic="t.referral-events")), (accepted, at(1, topic="t.referral-events")),
                        (training, at(0, topic="t.activities"))], repository=repository, tz=TZ)
    await count_event(training, at(0, topic="t.activities"), repository=repository, tz=TZ)  # redelivered
    periods = await indicators(repository, municipality=TOWN, period="2026-11")
    health = periods["2026-11"][6]
    assert health["referrals"] == 1 and health["accepted_pct"] == 1.0
    assert health["time_to_acceptance_hours"] == {"median": 3.01, "p90": 3.01}  # 3 h, within 2.5%
    assert periods["2026-11"][2] == {"trainings_held": 1, "servants_trained": 20,
                                     "servants_trained_by_sector": {"education": 8, "health": 12},
                                     "awareness_campaigns": 0, "awareness_campaigns_by_audience": {},
                                     "people_reached": 0}
    assert periods["2026-11"][5]["per_partner"] == {"ubs": {"referrals": 1, "accepted": 1, "acceptance_rate": 1.0}}


async def test_the_registers_corrections_move_the_figures_once_each(repository: RollupRepository) -> None:
    agreement = InstrumentFacts(kind="partnership_agreement", title="UFGD", adopted_on=date(2026, 3, 2))
    campaign = ActivityFacts(kind="awareness_campaign", held_on=date(2026, 5, 18), title="Semana do Migrante",
                             audience="migrants", participants=300)
    moved = campaign.model_copy(update={"held_on": date(2026, 6, 1), "participants": 250})

    def revised(record_id: str, revision: int, before: ActivityFacts | InstrumentFacts | None,
                after: ActivityFacts | InstrumentFacts | None) -> GovernanceRecordRevised:
        return GovernanceRecordRevised(producer="intake", record_id=record_id, municipality=TOWN, revision=revision,
                                       before=before, after=after)

    history = [revised("a", 1, None, agreement), revised("c", 1, None, campaign), revised("c", 2, campaign, moved)]
    await count_events([(event, at(n, topic="t.activities")) for n, event in enumerate(history)],
                       repository=repository, tz=TZ)
    # The correction redelivered, then a withdrawal: each counted once.
    await count_event(history[2], at(2, topic="t.activities"), repository=repository, tz=TZ)
    await count_event(revised("a", 2, agreement, None), at(3, topic="t.activities"), repository=repository, tz=TZ)
    figures = await indicators(repository, municipality=TOWN, period=None)
    assert figures["2026-05"][2]["awareness_campaigns"] == 0 and figures["2026-05"][2]["people_reached"] == 0
    assert figures["2026-06"][2]["awareness_campaigns_by_audience"] == {"migrants": 1}
    assert figures["2026-06"][2]["people_reached"] == 250
    assert figures["2026-06"][5]["partnership_agreements_in_force"] == 0


@pytest.mark.infra
async def test_a_bucket_is_stored_in_the_shape_other_readers_expect(mongo_repository: MongoRollupRepository) -> None:
    # The benchmark and operators read the rollups collection directly.
    await count_event(logged(ServiceArea.WORK), at(7), repository=mongo_repository, tz=TZ)
    doc = await mongo_repository.rollups.find_one({"_id": f"{TOWN}|2026-11|work"})
    assert doc is not None
    assert {k: doc[k] for k in ("municipality", "period", "area", "offsets")} == {
        "municipality": TOWN, "period": "2026-11", "area": "work", "offsets": {"t_case-events|0": 7}}
    assert doc["counts"]["requests_logged"] == doc["counts"]["requests_logged|sex=female"] == 1
    assert set(doc) == {"_id", "municipality", "period", "area", "counts", "offsets"}
