"""Metrics' use cases: count events into the rollup buckets exactly once, and report on the buckets.

There are no multi-document transactions on FerretDB, so the guard against counting twice lives in the bucket
itself: each bucket remembers, per Kafka partition it was fed from, the offset of the last message it counted,
and the increment is conditional on those offsets being the ones read (compare-and-set). A redelivered message
(a crash between the effect and the commit) is filtered out against them in the same write; an event published
twice (a relay retry: same event id, new offset) is caught before by the consumer's inbox. A batch of events
costs one read and one bulk write for all the buckets it touches. Any number of processes may write one bucket:
a writer whose compare-and-set lost reads the buckets again.

Metrics never stores nor returns personal data: events are reduced to counters before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.domain.dashboard import Dashboard
from migradesk_metrics.domain.indicators import Counts, governance_indicators, instruments_in_force
from migradesk_metrics.domain.reports import by_period, evidence_tables, published_summary
from migradesk_metrics.domain.rollups import (
    ALL_AREAS,
    BucketBatch,
    BucketKey,
    BucketWrite,
    Position,
    RollupEvent,
    batch_by_bucket,
    plan_batch_write,
)
from migradesk_metrics.domain.suppression import DEFAULT_THRESHOLD, SuppressedTable


async def count_events(messages: Sequence[tuple[RollupEvent, Position]], *, repository: RollupRepository,
                       tz: ZoneInfo) -> int:
    """Count a batch of messages (each: the event, and where it was read) in the buckets they increment;
    returns how many (message, bucket) increments this call is known to have written (when a compare-and-set
    lost to a concurrent writer, the store cannot say which of a command's writes did: those count as 0 here,
    and whatever they did not write is written on the next try). Idempotent per message."""
    return await (await prepare_count(messages, repository=repository, tz=tz))()


async def prepare_count(messages: Sequence[tuple[RollupEvent, Position]], *, repository: RollupRepository,
                        tz: ZoneInfo) -> Callable[[], Awaitable[int]]:
    """The reading half of `count_events` (what the batch adds up to per bucket, and the offsets the buckets
    hold), which writes nothing; returns the writing half. The consumer runs it while it claims the batch's event
    ids. Offsets read here may be overtaken by another writer before the writes: the compare-and-set then loses
    and the buckets are read again, as in any write."""
    # A few milliseconds of CPU per batch: in a worker thread, so the event loop meanwhile sends the claim that
    # runs beside this and the store works on it (the computation is pure; nothing is shared with the loop).
    batches = await asyncio.to_thread(batch_by_bucket, messages, tz)
    waiting = {batch.key.bucket_id: batch for batch in batches}
    held = await repository.offsets_held_many([batch.key for batch in waiting.values()]) if waiting else {}

    async def write() -> int:
        return await _write_counts(waiting, held, repository)

    return write


async def _write_counts(waiting: dict[str, BucketBatch], held: dict[str, dict[str, int]],
                        repository: RollupRepository) -> int:
    counted = 0
    while waiting:
        writes: list[tuple[BucketKey, dict[str, int] | None, BucketWrite]] = []
        for bucket_id, batch in list(waiting.items()):
            write = plan_batch_write(held.get(bucket_id, {}), batch)
            if write is None:
                del waiting[bucket_id]  # every message was counted already (a redelivery)
            else:
                writes.append((batch.key, held.get(bucket_id), write))
        if not writes:
            break
        written = await repository.add_counts_many(writes)
        for key, _, write in writes:
            if key.bucket_id in written:
                counted += write.counted
                del waiting[key.bucket_id]
        if waiting:
            held = await repository.offsets_held_many([batch.key for batch in waiting.values()])
    return counted


async def count_event(event: RollupEvent, at: Position, *, repository: RollupRepository, tz: ZoneInfo) -> int:
    return await count_events([(event, at)], repository=repository, tz=tz)


async def _periods(repository: RollupRepository, municipality: str, period: str | None
                   ) -> dict[str, dict[str, Counts]]:
    return by_period(await repository.buckets(municipality, period))


async def summary(repository: RollupRepository, *, municipality: str, period: str | None,
                  threshold: int = DEFAULT_THRESHOLD) -> dict[str, dict[str, dict[str, int | str]]]:
    """{period: {area: plain counters}} of one municipality; all periods when `period` is None. The requests
    per area are those the evidence tables publish, hidden where they are hidden."""
    return {p: published_summary(areas, threshold)
            for p, areas in (await _periods(repository, municipality, period)).items()}


async def indicators(repository: RollupRepository, *, municipality: str, period: str | None
                     ) -> dict[str, dict[int, dict[str, Any]]]:
    """{period: {dimension: indicators}}: the ten MigraCidades dimensions (raw: small cells not suppressed). The
    instruments in force at a month's end count every month before it: all months are read (a few buckets each)."""
    every = await _periods(repository, municipality, None)
    desk_wide = {p: areas.get(ALL_AREAS, {}) for p, areas in every.items()}
    return {p: governance_indicators(areas, instruments_in_force(desk_wide, p))
            for p, areas in every.items() if period is None or p == period}


async def evidence(repository: RollupRepository, *, municipality: str, period: str | None, threshold: int
                   ) -> dict[str, dict[str, SuppressedTable]]:
    """{period: {table name: table}}: publishable tables, small cells suppressed."""
    return {p: evidence_tables(areas, threshold)
            for p, areas in (await _periods(repository, municipality, period)).items()}


async def dashboard(repository: RollupRepository, *, municipality: str, threshold: int) -> Dashboard:
    """Every month of a municipality, published for the coordinators' pages and exports (small cells
    suppressed). A municipality's buckets are a few per month: all of them are read at once."""
    return Dashboard(await _periods(repository, municipality, None), threshold)
