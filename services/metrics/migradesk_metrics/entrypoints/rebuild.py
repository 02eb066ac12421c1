"""Rebuild the rollups from the event log: every event of metrics' topics read again from offset 0.

What an operator runs after the rollups were lost or a counting rule changed (`python -m migradesk_metrics
rebuild`, with the metrics consumers stopped). Events are folded into buckets in memory (a set of event ids
catches any event published twice, wherever it lies in the log), the buckets are written once at the end, and
the consumer groups are moved to where the rebuild stopped, so the live consumers go on from there. The ids of
the last `inbox_tail` events of each partition are claimed in the inbox, so that a relay re-publishing one of
them just after the rebuild (a relay re-publishes at most the batch it had in flight) is still a duplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_metrics.adapters.generations import (
    Generation,
    active_generation,
    new_generation,
    switch_generation,
)
from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.channels import SUBSCRIBES
from migradesk_metrics.domain.rollups import RollupFold
from migradesk_metrics.entrypoints import consumers
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import Delivery, Inbox
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import TopicNames

FETCH_RECORDS = 10_000


@dataclass(frozen=True)
class Progress:
    """How far a rebuild is: `done` of `total` messages of its phase ("replay": the log up to where it ended when
    the rebuild began; "catch-up": what was written since), at `rate` messages/s."""

    phase: str
    done: int
    total: int
    rate: float

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


ProgressCallback = Callable[[Progress], None]
PROGRESS_EVERY_SECONDS = 0.5


@dataclass(frozen=True)
class RebuildReport:
    events: int  # counted
    duplicates: int  # the same event id again
    unreadable: int  # invalid or empty messages (the live consumer dead-lettered them)
    buckets: int
    seconds: float


async def rebuild_rollups(settings: MetricsSettings, db: AsyncDatabase[dict[str, Any]], *,
                          move_consumer_groups: bool = True, inbox_tail: int = 200,
                          progress: ProgressCallback | None = None) -> RebuildReport:
    """Replace the rollups in `db` by a count of every event in metrics' topics up to their current ends; the
    consumer groups moved are those of `settings.consumer_group`."""
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
        firsts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        total, read, reported = sum(ends[tp] - firsts[tp] for tp in partitions), 0, time.perf_counter()
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        fold, tz = RollupFold(), ZoneInfo(settings.timezone)
        seen: set[str] = set()
        tails: dict[TopicPartition, deque[tuple[str, int]]] = {tp: deque(maxlen=inbox_tail) for tp in partitions}
        duplicates = unreadable = 0
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=FETCH_RECORDS)
            for tp, records in fetched.items():
                read += len(records)
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
            if progress is not None and (time.perf_counter() - reported >= PROGRESS_EVERY_SECONDS or not remaining):
                reported = time.perf_counter()
                progress(Progress("replay", min(read, total), total, read / max(reported - started, 1e-6)))
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


@dataclass(frozen=True)
class SwitchReport:
    replay: RebuildReport
    previous: Generation
    active: Generation
    caught_up: int  # messages the new generation's consumers counted after the replay, before the switch
    seconds: float


async def rebuild_and_switch(settings: MetricsSettings, client: AsyncMongoClient[dict[str, Any]], *,
                             progress: ProgressCallback | None = None, poll_seconds: float = 0.5,
                             catch_up_timeout: float = 3600.0) -> SwitchReport:
    """Rebuild into a new generation while the service keeps serving the current one, then switch to it.

    The log is replayed from offset 0 into a fresh database (`rebuild_rollups`, whose end offsets become the new
    consumer group's), then the service's own consumers, on the new database and group, count what was written
    since, with the live consumers' idempotency. Once they have committed everything that was in the topics when
    the catch-up began, the pointer moves; each process then serves the new generation within
    `generation_check_seconds`, and its consumers go on from the new group's offsets, so nothing is counted
    twice or lost in the hand-over."""
    started = time.perf_counter()
    home = client[settings.mongodb_database]
    previous = await active_generation(home, settings)
    new = new_generation(settings)
    new_settings = new.applied_to(settings)
    replay = await rebuild_rollups(new_settings, client[new.database], progress=progress)
    runtime = Runtime.create(new_settings)
    rollups = MongoRollupRepository(runtime.db)
    consumers.subscribe(runtime, rollups, ZoneInfo(settings.timezone))
    await runtime.start()
    try:
        caught_up = await asyncio.wait_for(_catch_up(new_settings, progress, poll_seconds), catch_up_timeout)
        await switch_generation(home, settings, previous=previous, new=new)
    finally:
        await runtime.stop()
    return SwitchReport(replay=replay, previous=previous, active=new, caught_up=caught_up,
                        seconds=time.perf_counter() - started)


async def _catch_up(settings: MetricsSettings, progress: ProgressCallback | None, poll_seconds: float) -> int:
    """Wait until the consumer groups of `settings` have committed every message the topics held when this
    began; returns how many that was beyond where they stood."""
    names = TopicNames(settings.topic_prefix)
    group = settings.consumer_group or settings.service_name
    groups = {names(spec): f"{settings.topic_prefix}{group}.{spec.name}" for spec in SUBSCRIBES}
    partitions = await _partitions(settings.kafka_bootstrap_servers, list(groups))
    ends_reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                                   client_id="migradesk-metrics-rebuild")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers,
                                client_id="migradesk-metrics-rebuild")
    await ends_reader.start()
    await admin.start()
    try:
        targets: dict[TopicPartition, int] = await ends_reader.end_offsets(partitions)

        async def committed() -> dict[TopicPartition, int]:
            found: dict[TopicPartition, int] = {}
            for group_id in set(groups.values()):
                for tp, meta in (await admin.list_consumer_group_offsets(group_id)).items():
                    if tp in targets:
                        found[tp] = max(meta.offset, 0)
            return found

        start = await committed()
        total = sum(max(targets[tp] - start.get(tp, 0), 0) for tp in partitions)
        began = time.perf_counter()
        while True:
            now = await committed()
            done = sum(max(min(now.get(tp, 0), targets[tp]) - start.get(tp, 0), 0) for tp in partitions)
            if progress is not None:
                progress(Progress("catch-up", done, total, done / max(time.perf_counter() - began, 1e-6)))
            if all(now.get(tp, 0) >= targets[tp] for tp in partitions):
                return total
            await asyncio.sleep(poll_seconds)
    finally:
        await admin.close()
        await ends_reader.stop()
