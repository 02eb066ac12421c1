"""Rebuild the rollups from the event log: every event of metrics' topics read again from offset 0.

What an operator runs after the rollups were lost or a counting rule changed (`python -m migradesk_metrics
rebuild`, with the metrics consumers stopped). Events are folded into buckets in memory (a set of event ids
catches any event published twice, wherever it lies in the log), the buckets are written once at the end, and
the consumer groups are moved to where the rebuild stopped, so the live consumers go on from there. The ids of
the last `inbox_tail` events of each partition are claimed in the inbox, so that a relay re-publishing one of
them just after the rebuild (a relay re-publishes at most the batch it had in flight) is still a duplicate.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.channels import SUBSCRIBES
from migradesk_metrics.domain.rollups import RollupFold
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import Delivery, Inbox
from migradesk_shared.topics import TopicNames

FETCH_RECORDS = 10_000


@dataclass(frozen=True)
class RebuildReport:
    events: int  # counted
    duplicates: int  # the same event id again
    unreadable: int  # invalid or empty messages (the live consumer dead-lettered them)
    buckets: int
    seconds: float


async def rebuild_rollups(settings: MetricsSettings, db: AsyncDatabase[dict[str, Any]], *,
                          move_consumer_groups: bool = True, inbox_tail: int = 200) -> RebuildReport:
    """Replace the rollups in `db` by a count of every event in metrics' topics up to their current ends."""
    started = time.perf_counter()
    names = TopicNames(settings.topic_prefix)
    adapters = {names(spec): adapter_for(spec) for spec in SUBSCRIBES}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                                client_id="migradesk-metrics-rebuild", max_partition_fetch_bytes=8 << 20,
                                fetch_max_bytes=64 << 20)
    partitions = await _partitions(settings.kafka_bootstrap_servers, list(adapters))
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        fold, tz = RollupFold(), ZoneInfo(settings.timezone)
        seen: set[str] = set()
        tails: dict[TopicPartition, deque[tuple[str, int]]] = {tp: deque(maxlen=inbox_tail) for tp in partitions}
        duplicates = unreadable = 0
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=FETCH_RECORDS)
            for tp, records in fetched.items():
                adapter, end, tail = adapters[tp.topic], ends[tp], tails[tp]
                position = Delivery(tp.topic, tp.partition, 0).position_key
                for record in records:
                    if record.offset >= end:
                        break  # written after the rebuild began: the live consumers count it
                    try:
                        event = adapter.validate_json(record.value) if record.value is not None else None
                    except ValidationError:
                        event = None
                    if event is None:
                        unreadable += 1
                        continue
                    if event.event_id in seen:
                        duplicates += 1
                        continue
                    seen.add(event.event_id)
                    fold.add_one(event, position, record.offset, tz)
                    tail.append((event.event_id, record.offset))
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    repository = MongoRollupRepository(db)
    await repository.ensure_indexes()
    buckets = await repository.replace_all(fold.buckets.values())
    if move_consumer_groups:
        await _move_consumer_groups(settings, names, ends)
        group = settings.consumer_group or settings.service_name
        await Inbox.ensure_indexes(db["processed_events"])
        await Inbox(db["processed_events"], group).claim([(event_id, Delivery(tp.topic, tp.partition, offset))
                                                          for tp, tail in tails.items() for event_id, offset in tail])
    return RebuildReport(events=len(seen), duplicates=duplicates, unreadable=unreadable, buckets=buckets,
                         seconds=time.perf_counter() - started)


async def _partitions(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="migradesk-metrics-rebuild")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = [t["topic"] for t in described if t.get("error_code")]
    if missing:
        raise RuntimeError(f"cannot rebuild: topics missing or unreadable: {', '.join(missing)}")
    return [TopicPartition(t["topic"], p["partition"]) for t in described
            for p in sorted(t["partitions"], key=lambda p: p["partition"])]


async def _move_consumer_groups(settings: MetricsSettings, names: TopicNames,
                                ends: dict[TopicPartition, int]) -> None:
    """Commit the rebuild's end offsets for the live consumer group of each topic. The broker refuses while the
    group has members: the metrics consumers must be stopped during a rebuild."""
    group = settings.consumer_group or settings.service_name
    for spec in SUBSCRIBES:
        offsets = {tp: OffsetAndMetadata(end, "rebuild") for tp, end in ends.items() if tp.topic == names(spec)}
        if not offsets:
            continue
        committer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                                     group_id=f"{settings.topic_prefix}{group}.{spec.name}")
        await committer.start()
        try:
            committer.assign(list(offsets))
            await committer.commit(offsets)
        finally:
            await committer.stop()
