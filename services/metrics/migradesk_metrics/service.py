"""Metrics' use cases: count events into the rollup buckets exactly once, and report on the buckets.

There are no multi-document transactions on FerretDB, so the guard against counting twice lives in the bucket
itself: each bucket remembers, per Kafka partition it was fed from, the offset of the last message it counted,
and the increment is conditional on those offsets being the ones read (compare-and-set). A redelivered message
(a crash between the effect and the commit) is filtered out against them in the same write; an event published
twice (a relay retry: same event id, new offset) is caught before by the consumer's inbox. A batch of events
costs one read and one write per bucket it touches. Any number of processes may write one bucket: a writer whose
compare-and-set lost reads the bucket again.

Metrics never stores nor returns personal data: events are reduced to counters before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.domain.indicators import Counts, governance_indicators
from migradesk_metrics.domain.reports import area_totals, by_period, evidence_tables
from migradesk_metrics.domain.rollups import BucketBatch, Position, RollupEvent, batch_by_bucket, plan_bucket_write
from migradesk_metrics.domain.suppression import SuppressedTable


async def count_events(messages: Sequence[tuple[RollupEvent, Position]], *, repository: RollupRepository,
                       tz: ZoneInfo) -> int:
    """Count a batch of messages (each: the event, and where it was read) in the buckets they increment;
    returns how many (message, bucket) increments were new. Idempotent per message."""
    counted = 0
    for batch in batch_by_bucket(messages, tz):
        counted += await _count_in_bucket(batch, repository)
    return counted


async def count_event(event: RollupEvent, at: Position, *, repository: RollupRepository, tz: ZoneInfo) -> int:
    return await count_events([(event, at)], repository=repository, tz=tz)


async def _count_in_bucket(batch: BucketBatch, repository: RollupRepository) -> int:
    while True:
        held = await repository.offsets_held(batch.key)
        write = plan_bucket_write(held or {}, batch.entries)
        if write is None:
            return 0  # every message was counted already (a redelivery)
        if await repository.add_counts(batch.key, held, write):
            return write.counted


async def _periods(repository: RollupRepository, municipality: str, period: str | None
                   ) -> dict[str, dict[str, Counts]]:
    return by_period(await repository.buckets(municipality, period))


async def summary(repository: RollupRepository, *, municipality: str, period: str | None
                  ) -> dict[str, dict[str, dict[str, int]]]:
    """{period: {area: plain counters}} of one municipality; all periods when `period` is None."""
    return {p: area_totals(areas) for p, areas in (await _periods(repository, municipality, period)).items()}


async def indicators(repository: RollupRepository, *, municipality: str, period: str | None
                     ) -> dict[str, dict[int, dict[str, Any]]]:
    """{period: {dimension: indicators}}: the ten MigraCidades dimensions (raw: small cells not suppressed)."""
    return {p: governance_indicators(areas)
            for p, areas in (await _periods(repository, municipality, period)).items()}


async def evidence(repository: RollupRepository, *, municipality: str, period: str | None, threshold: int
                   ) -> dict[str, dict[str, SuppressedTable]]:
    """{period: {table name: table}}: publishable tables, small cells suppressed."""
    return {p: evidence_tables(areas, threshold)
            for p, areas in (await _periods(repository, municipality, period)).items()}
