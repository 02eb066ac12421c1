"""(e) Rebuild by replay: metrics' rebuild (services/metrics/.../entrypoints/rebuild.py) reading its topics from
offset 0 into an empty database, vs a raw aiokafka drain of the same topics (fetch and validate, nothing
stored), A/B alternating.

A rebuild is what an operator does after losing the rollups or changing a counting rule. The raw drain is the
ceiling of that (no store at all), so the ratio says how much of the rebuild time is ours (counting, writing
the buckets, moving the consumer groups) and not the broker's or pydantic's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from infra.local.stack import Infra
from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository
from migradesk_metrics.domain.rollups import ALL_AREAS, period_of
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.rebuild import rebuild_rollups
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.referral_events import ReferralCreated
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import ensure_topics
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import CASE_EVENTS, REFERRAL_EVENTS, ServiceArea, TopicNames, TopicSpec

ROUNDS = 2
MUNICIPALITY = "Dourados-MS"
TZ = ZoneInfo("America/Sao_Paulo")
# One month for every event, so the whole replay lands in one desk-wide bucket whose counters say when it is done.
OCCURRED_AT = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
AREAS = list(ServiceArea)
NATIONALITIES = (("VEN", "es"), ("PRY", "es"), ("BOL", "es"), ("HTI", "ht"), ("CUB", "es"))
TOPICS: tuple[TopicSpec, ...] = (CASE_EVENTS, REFERRAL_EVENTS)
# What the desk-wide bucket counts for each kind of event.
COUNTER = {"CaseOpened": "cases_opened", "RequestLogged": "requests_logged", "ReferralCreated": "referrals_created"}


async def wait_until(probe: Callable[[], Awaitable[bool]], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("replay round did not finish")
        await asyncio.sleep(0.05)


def case_history(n: int) -> list[tuple[TopicSpec, Event]]:
    """n events as the live system writes them: per case CaseOpened and RequestLogged on case-events, then
    ReferralCreated on referral-events (so two thirds of the events on one topic, one third on the other)."""
    out: list[tuple[TopicSpec, Event]] = []
    for i in range(n):
        case_id, step = f"replay-case-{i // 3}", i % 3
        nationality, language = NATIONALITIES[(i // 3) % len(NATIONALITIES)]
        facets = PersonFacets(nationality=nationality, language=language)
        area = AREAS[(i // 3) % len(AREAS)]
        common: dict[str, Any] = {"producer": "bench", "occurred_at": OCCURRED_AT, "case_id": case_id,
                                  "municipality": MUNICIPALITY, "facets": facets}
        if step == 0:
            out.append((CASE_EVENTS, CaseOpened(**common)))
        elif step == 1:
            out.append((CASE_EVENTS, RequestLogged(**common, request_id=f"{case_id}-r", category="sus_card",
                                                   service_area=area)))
        else:
            out.append((REFERRAL_EVENTS, ReferralCreated(**common, referral_id=f"{case_id}-ref",
                                                         request_id=f"{case_id}-r", category="sus_card",
                                                         service_area=area, agency_id="ubs-jardim-climax")))
    return out


async def fill(infra: Infra, names: TopicNames, history: list[tuple[TopicSpec, Event]]) -> None:
    # Every topic of the list, not only the two filled: the consumers' runtime creates the missing ones at
    # start-up, which would otherwise count as replay time.
    await ensure_topics(infra.bootstrap_servers, names)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, linger_ms=20, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(names(spec), e.model_dump_json().encode(),
                                       key=e.partition_key().encode(), headers=[("event-type", e.event_type.encode())])
                   for spec, e in history]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def live_metrics_consumers(infra: Infra, names: TopicNames, *, database: str,
                                 group: str) -> AsyncIterator[RollupRepository]:
    """The metrics service's consumers exactly as its composition root wires them (a Runtime, the rollup
    repository, `entrypoints.consumers.subscribe`), without the HTTP side, under consumer group `group` into
    `database`. Yields the repository; everything is stopped on exit."""
    settings = MetricsSettings(kafka_bootstrap_servers=infra.bootstrap_servers,
                               mongodb_uri=SecretStr(infra.mongodb_uri),
                               mongodb_database=database, topic_prefix=names.prefix, consumer_group=group,
                               log_level="WARNING")
    # Runtime.create sends every log record to stdout, where this benchmark prints its results: keep ours.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        runtime = Runtime.create(settings)
    finally:
        root.handlers[:], root.level = handlers, level
    repository = MongoRollupRepository(runtime.db)
    try:
        await repository.ensure_indexes()
        consumers.subscribe(runtime, repository, TZ)
        await runtime.start()
        yield repository
    finally:
        await runtime.stop()


async def desk_wide_counts(repository: RollupRepository, period: str) -> dict[str, int]:
    """The counters of the municipality's desk-wide bucket of one month: one indexed read of a few buckets, so
    polling it does not load the store being measured."""
    for bucket in await repository.buckets(MUNICIPALITY, period):
        if bucket.area == ALL_AREAS:
            return dict(bucket.counts)
    return {}


async def ours_round(infra: Infra, mongo: AsyncMongoClient[dict[str, Any]], names: TopicNames,
                     expected: dict[str, int]) -> float:
    """What an operator runs (`python -m migradesk_metrics rebuild`): every event from offset 0 into an empty
    database, the consumer groups moved to the end and the inbox told of the last events; the round ends when
    the buckets are written."""
    database = f"bench_replay_{uuid.uuid4().hex[:8]}"
    settings = MetricsSettings(kafka_bootstrap_servers=infra.bootstrap_servers,
                               mongodb_uri=SecretStr(infra.mongodb_uri),
                               mongodb_database=database, topic_prefix=names.prefix,
                               consumer_group=f"replay{uuid.uuid4().hex[:6]}", log_level="WARNING")
    total = sum(expected.values())
    try:
        started = time.perf_counter()
        report = await rebuild_rollups(settings, mongo[database])
        elapsed = time.perf_counter() - started
        counts = await desk_wide_counts(MongoRollupRepository(mongo[database]), period_of(OCCURRED_AT, TZ))
        if report.events != total or any(counts.get(COUNTER[kind], 0) != n for kind, n in expected.items()):
            raise RuntimeError(f"the rebuild counted {report.events} events of {total}: {counts}")
        return total / elapsed
    finally:
        await mongo.drop_database(database)


async def raw_round(infra: Infra, names: TopicNames, total: int) -> float:
    """The ceiling: fetch and validate every event with the same adapters, store nothing."""
    adapters = {names(spec): adapter_for(spec) for spec in TOPICS}
    consumer = AIOKafkaConsumer(*adapters, bootstrap_servers=infra.bootstrap_servers,
                                group_id=f"{names.prefix}raw{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    started = time.perf_counter()
    deadline = time.monotonic() + 900
    await consumer.start()
    done = 0
    try:
        while done < total:
            if time.monotonic() > deadline:
                raise TimeoutError("raw replay round did not finish")
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for tp, records in batch.items():
                adapter = adapters[tp.topic]
                for record in records:
                    adapter.validate_json(record.value)
                    done += 1
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def bench_replay(infra: Infra, n: int) -> list[str]:
    history = case_history(n)
    expected: dict[str, int] = {}
    for _, event in history:
        expected[event.event_type] = expected.get(event.event_type, 0) + 1
    names = TopicNames(f"replay{uuid.uuid4().hex[:8]}.")
    await fill(infra, names, history)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    ours, raw = [], []
    try:
        for _ in range(ROUNDS):
            raw.append(await raw_round(infra, names, n))
            ours.append(await ours_round(infra, mongo, names, expected))
    finally:
        await mongo.close()
    a, b = statistics.median(ours), statistics.median(raw)
    topics = ", ".join(f"{expected.get(k, 0)} {k}" for k in COUNTER)
    return [f"(e) replay          {n} events ({topics}) from offset 0   metrics rebuild into an empty store "
            f"{a:8.1f} ev/s   raw aiokafka drain {b:8.1f} ev/s   ratio {a / b:5.2f}"]
