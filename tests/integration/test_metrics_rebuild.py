"""Rebuilding metrics' rollups from the event log, against the real broker and store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from infra.local.stack import Infra
from migradesk_metrics.adapters.generations import (
    Generation,
    SwitchRefused,
    active_generation,
    home_generation,
    switch_generation,
)
from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.domain.rollups import ALL_AREAS
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.rebuild import Progress, rebuild_and_switch, rebuild_rollups
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.kafka import ensure_topics
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import CASE_EVENTS, TopicNames
from tests.conftest import eventually

pytestmark = [pytest.mark.infra]

TOWN = "Dourados-MS"
AT = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


@pytest.fixture
async def db(infra: Infra, namespace: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[f"{namespace}_metrics"]
    await client.drop_database(f"{namespace}_metrics")
    await client.close()


def case(n: int) -> list[Event]:
    common: dict[str, Any] = {"producer": "test", "occurred_at": AT, "case_id": f"case-{n}", "municipality": TOWN,
                              "facets": PersonFacets(nationality="VEN", language="es")}
    return [CaseOpened(**common), RequestLogged(**common, request_id=f"req-{n}", category="sus_card",
                                                service_area=ServiceArea.HEALTH)]


async def publish(infra: Infra, names: TopicNames, values: list[bytes | None]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(names(CASE_EVENTS), value, key=b"same-partition")
    finally:
        await producer.stop()


async def desk_wide(db: AsyncDatabase[dict[str, Any]]) -> dict[str, int]:
    buckets = await MongoRollupRepository(db).buckets(TOWN, "2026-11")
    return next((dict(b.counts) for b in buckets if b.area == ALL_AREAS), {})


async def test_a_rebuild_counts_the_log_once_and_the_live_consumers_go_on_from_where_it_stopped(
        infra: Infra, namespace: str, db: AsyncDatabase[dict[str, Any]]) -> None:
    names = TopicNames(f"{namespace}.")
    await ensure_topics(infra.bootstrap_servers, names)
    events = [e for n in range(3) for e in case(n)]
    encoded = [e.model_dump_json().encode() for e in events]
    # A relay's re-publish (same event, later offset) and a message no contract reads are in the log too.
    await publish(infra, names, [*encoded, encoded[1], b'{"event_type": "CaseOpened"}'])
    settings = MetricsSettings(kafka_bootstrap_servers=infra.bootstrap_servers, mongodb_uri=infra.mongodb_uri,
                               mongodb_database=db.name, topic_prefix=names.prefix, log_level="WARNING")
    # Buckets that were wrong before the rebuild are replaced, not added to.
    await db["rollups"].insert_one({"_id": f"{TOWN}|2026-11|{ALL_AREAS}", "municipality": TOWN,
                                    "period": "2026-11", "area": ALL_AREAS, "counts": {"cases_opened": 99},
                                    "offsets": {}})

    report = await rebuild_rollups(settings, db)

    assert (report.events, report.duplicates, report.unreadable) == (6, 1, 1)
    counts = await desk_wide(db)
    assert counts["cases_opened"] == 3
    assert counts["requests_logged"] == 3
    health = {b.area: b.counts for b in await MongoRollupRepository(db).buckets(TOWN, "2026-11")}["health"]
    assert health["requests_logged|nationality=VEN"] == 3

    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"{names.prefix}metrics.{CASE_EVENTS.name}")
    finally:
        await admin.close()
    assert sum(meta.offset for meta in committed.values()) == len(encoded) + 2  # every message read

    # The live consumers start where the rebuild stopped: nothing counted twice, a new case counted, and an
    # old event published again just after the rebuild is a duplicate.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    runtime = Runtime.create(settings)
    root.handlers[:], root.level = handlers, level
    repository = MongoRollupRepository(runtime.db)
    consumers.subscribe(runtime, repository, settings_tz(settings))
    await runtime.start()
    try:
        new_case = [e.model_dump_json().encode() for e in case(3)]
        await publish(infra, names, [encoded[4], *new_case])

        async def new_case_counted() -> bool:
            return (await desk_wide(db)).get("requests_logged") == 4

        await eventually(new_case_counted, what="the case logged after the rebuild")
    finally:
        await runtime.stop()
    counts = await desk_wide(db)
    assert (counts["cases_opened"], counts["requests_logged"]) == (4, 4)


def settings_tz(settings: MetricsSettings) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.timezone)


async def all_buckets(db: AsyncDatabase[dict[str, Any]]) -> dict[str, dict[str, int]]:
    return {doc["_id"]: dict(doc["counts"]) async for doc in db["rollups"].find({}, {"counts": 1})}


async def publish_fast(infra: Infra, names: TopicNames, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(names(CASE_EVENTS), e.model_dump_json().encode(), key=e.case_id.encode())
                   for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def varied_cases(n: int) -> list[Event]:
    """Cases over three months, every service area and a few profiles, so many buckets and counters are hit."""
    nationalities, languages = ("VEN", "HTI", "BOL", "CUB", "AFG"), ("es", "ht", "fr", "pt", "fa")
    areas = [*ServiceArea, None]
    events: list[Event] = []
    for i in range(n):
        at = datetime(2026, 9 + i % 3, 1 + i % 28, (i * 7) % 24, tzinfo=UTC)
        common: dict[str, Any] = {"producer": "test", "occurred_at": at, "case_id": f"case-{i}", "municipality": TOWN,
                                  "facets": PersonFacets(nationality=nationalities[i % 5], language=languages[i % 4])}
        events.append(CaseOpened(**common))
        events.append(RequestLogged(**common, request_id=f"req-{i}", category="sus_card",
                                    service_area=areas[(i // 3) % len(areas)]))
    return events


@contextlib.asynccontextmanager
async def live_metrics(settings: MetricsSettings) -> AsyncIterator[FastAPI]:
    """The metrics service as it runs, lifespan included (generations followed), without its HTTP server."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            root.handlers[:], root.level = handlers, level
            yield app
    finally:
        root.handlers[:], root.level = handlers, level


async def test_a_rebuild_into_a_new_generation_switches_the_running_service_without_losing_or_doubling(
        infra: Infra, namespace: str, db: AsyncDatabase[dict[str, Any]]) -> None:
    names = TopicNames(f"{namespace}.")
    await ensure_topics(infra.bootstrap_servers, names)
    settings = MetricsSettings(kafka_bootstrap_servers=infra.bootstrap_servers, mongodb_uri=infra.mongodb_uri,
                               mongodb_database=db.name, topic_prefix=names.prefix, log_level="WARNING",
                               generation_check_seconds=0.2)
    before, during, after = varied_cases(300), varied_cases(330)[600:], varied_cases(360)[660:]
    await publish_fast(infra, names, before)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    progress: list[Progress] = []
    try:
        async with live_metrics(settings) as app:
            async def served_count() -> int:
                return sum(b.counts.get("requests_logged", 0)
                           for b in await app.state.store.buckets(TOWN, None) if b.area == ALL_AREAS)

            await eventually(lambda: _equals(served_count, 300), what="the first cases counted live")
            # Cases keep coming while the rebuild runs: the catch-up, or the new generation after it, counts them.
            rebuilding = asyncio.create_task(rebuild_and_switch(settings, client, progress=progress.append,
                                                                poll_seconds=0.1))
            await publish_fast(infra, names, during)
            switched = await rebuilding
            assert switched.previous == home_generation(settings)
            assert switched.active.database != db.name
            assert switched.replay.events + switched.caught_up >= 600
            await eventually(lambda: _is(app.state.generations.current, switched.active),
                             what="the service following the switch")
            await publish_fast(infra, names, after)
            await eventually(lambda: _equals(served_count, 360), what="every case counted once in the new store")
            new_db = client[switched.active.database]
            assert sum(c.get("requests_logged", 0) for k, c in (await all_buckets(new_db)).items()
                       if k.endswith(ALL_AREAS)) == 360
            assert await active_generation(db, settings) == switched.active
            # The old generation stopped at the switch and is kept as it was (an undo is a pointer away).
            assert 300 <= sum(c.get("requests_logged", 0) for k, c in (await all_buckets(db)).items()
                              if k.endswith(ALL_AREAS)) <= 360
        phases = [p.phase for p in progress]
        assert "replay" in phases and "catch-up" in phases
        assert all(0 <= p.done <= p.total for p in progress)
        assert progress[phases.index("replay")].total >= 600
    finally:
        for name in await client.list_database_names():
            if name.startswith(f"{db.name}_g"):
                await client.drop_database(name)
        await client.close()


async def test_after_a_hundred_thousand_events_the_rebuilt_store_equals_the_live_one(
        infra: Infra, namespace: str, db: AsyncDatabase[dict[str, Any]]) -> None:
    names = TopicNames(f"{namespace}.")
    await ensure_topics(infra.bootstrap_servers, names)
    events = varied_cases(50_000)
    # Published twice in part (a relay's retry): the live inbox and the rebuild's id set must both skip them.
    await publish_fast(infra, names, [*events, *events[:500]])
    settings = MetricsSettings(kafka_bootstrap_servers=infra.bootstrap_servers, mongodb_uri=infra.mongodb_uri,
                               mongodb_database=db.name, topic_prefix=names.prefix, log_level="WARNING")
    async with live_metrics(settings) as app:
        async def live_total() -> int:
            return sum(b.counts.get("requests_logged", 0)
                       for b in await app.state.store.buckets(TOWN, None) if b.area == ALL_AREAS)

        await eventually(lambda: _equals(live_total, 50_000), timeout=600, what="10^5 events counted live")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    rebuilt = client[f"{db.name}_rebuilt"]
    try:
        report = await rebuild_rollups(settings, rebuilt, move_consumer_groups=False)
        assert (report.events, report.duplicates) == (100_000, 500)
        live, again = await all_buckets(db), await all_buckets(rebuilt)
        assert len(live) >= 3 * (len(ServiceArea) + 2)  # three months of every area, the desk and `_all`
        assert again == live
    finally:
        await client.drop_database(rebuilt.name)
        await client.close()


async def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected


async def _is(value: object, expected: object) -> bool:
    return value == expected


async def test_of_two_rebuilds_finishing_together_only_the_first_switches(
        infra: Infra, db: AsyncDatabase[dict[str, Any]]) -> None:
    settings = MetricsSettings(mongodb_uri=infra.mongodb_uri, mongodb_database=db.name)
    home = home_generation(settings)
    assert await active_generation(db, settings) == home  # never rebuilt: the configured database and group
    first, second = Generation(f"{db.name}_g1", "metrics-g1"), Generation(f"{db.name}_g2", "metrics-g2")
    await switch_generation(db, settings, previous=home, new=first)
    with pytest.raises(SwitchRefused):
        await switch_generation(db, settings, previous=home, new=second)
    assert await active_generation(db, settings) == first
    await switch_generation(db, settings, previous=first, new=second)
    with pytest.raises(SwitchRefused):
        await switch_generation(db, settings, previous=first, new=home)
    assert await active_generation(db, settings) == second
    assert first.applied_to(settings).mongodb_database == first.database
    assert first.applied_to(settings).consumer_group == "metrics-g1"
