"""Rebuilding metrics' rollups from the event log, against the real broker and store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from infra.local.stack import Infra
from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.domain.rollups import ALL_AREAS
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.entrypoints.rebuild import rebuild_rollups
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
