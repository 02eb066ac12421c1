"""Metrics' service layer: apply an event's increments to the rollup counters exactly once.

There are no multi-document transactions on FerretDB, so the guard against counting twice lives in the counter
document itself: each bucket remembers, per Kafka partition it was fed from, the offset of the last message it
counted, and the increment is conditional on those offsets being the ones read (compare-and-set). A
redelivered message (a crash between the effect and the commit) is filtered out against them in the same
write; an event published twice (a relay retry: same event id, new offset) is caught before by the consumer's
inbox. The bucket documents stay small (a few offsets), and a batch of events costs one read and one write per
bucket it touches. Any number of processes may write one bucket: the store applies each conditional write
atomically, and a writer whose compare-and-set lost reads the bucket again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_metrics.domain.indicators import DIMENSIONS, disaggregation_table, governance_indicators
from migradesk_metrics.domain.rollups import (
    DISAGGREGATIONS,
    BucketIncrement,
    RollupEvent,
    increments_for,
    plan_bucket_write,
)
from migradesk_metrics.domain.suppression import suppress
from migradesk_shared.kafka import Delivery


class MetricsStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.rollups = db["rollups"]

    async def ensure_indexes(self) -> None:
        await self.rollups.create_index([("municipality", 1), ("period", 1)])

    async def apply(self, bucket: BucketIncrement, entries: list[tuple[Delivery, Mapping[str, int]]]) -> int:
        """Count in one bucket the messages it does not hold yet (each entry: where the message was read, and
        the counters it increments); returns how many were counted now. One conditional write per bucket."""
        while True:
            doc = await self.rollups.find_one({"_id": bucket.bucket_id}, {"offsets": 1})
            held: dict[str, int] = (doc or {}).get("offsets", {})
            plan = plan_bucket_write(held, [(d.position_key, d.offset, counters) for d, counters in entries])
            if plan is None:
                return 0
            newest, increments = plan.newest_offsets, plan.increments
            # Compare-and-set on the offsets we read, so a concurrent writer elsewhere cannot be overwritten.
            query: dict[str, Any] = {"_id": bucket.bucket_id}
            for key in newest:
                query[f"offsets.{key}"] = held[key] if key in held else {"$exists": False}
            update = {"$inc": {f"counts.{c}": n for c, n in increments.items()},
                      "$set": {f"offsets.{k}": v for k, v in newest.items()},
                      "$setOnInsert": {"municipality": bucket.municipality, "period": bucket.period,
                                       "area": bucket.area}}
            try:
                result = await self.rollups.update_one(query, update, upsert=doc is None)
            except DuplicateKeyError:
                continue  # another process created the bucket meanwhile: read it again
            if result.matched_count or result.upserted_id is not None:
                return plan.counted


async def handle_rollup_batch(items: Sequence[tuple[RollupEvent, Delivery]], *, store: MetricsStore,
                              tz: ZoneInfo) -> None:
    """Apply a batch of events: their increments are grouped per bucket, one write per bucket."""
    buckets: dict[str, tuple[BucketIncrement, list[tuple[Delivery, Mapping[str, int]]]]] = {}
    for event, delivery in items:
        for inc in increments_for(event, tz):
            buckets.setdefault(inc.bucket_id, (inc, []))[1].append((delivery, inc.amounts))
    for bucket, entries in buckets.values():
        await store.apply(bucket, entries)


async def handle_rollup_event(event: RollupEvent, delivery: Delivery, *, store: MetricsStore, tz: ZoneInfo) -> None:
    await handle_rollup_batch([(event, delivery)], store=store, tz=tz)


async def load_buckets(store: MetricsStore, *, municipality: str,
                       period: str | None) -> dict[str, dict[str, dict[str, int]]]:
    """{period: {area: counters}} for one municipality."""
    query: dict[str, Any] = {"municipality": municipality}
    if period:
        query["period"] = period
    periods: dict[str, dict[str, dict[str, int]]] = {}
    async for doc in store.rollups.find(query, {"offsets": 0}):
        periods.setdefault(doc["period"], {})[doc["area"]] = doc.get("counts", {})
    return dict(sorted(periods.items()))


async def summary(store: MetricsStore, *, municipality: str, period: str | None) -> dict[str, Any]:
    buckets = await load_buckets(store, municipality=municipality, period=period)
    periods = {
        p: {"areas": {area: {k: v for k, v in counts.items() if "|" not in k}
                      for area, counts in sorted(areas.items())}}
        for p, areas in buckets.items()
    }
    return {"municipality": municipality, "periods": periods}


async def indicators(store: MetricsStore, *, municipality: str, period: str | None) -> dict[str, Any]:
    buckets = await load_buckets(store, municipality=municipality, period=period)
    return {"municipality": municipality, "dimensions": DIMENSIONS,
            "periods": {p: governance_indicators(areas) for p, areas in buckets.items()}}


async def evidence(store: MetricsStore, *, municipality: str, period: str | None, threshold: int) -> dict[str, Any]:
    """Publishable tables: requests by each disaggregation and service area, with small cells suppressed
    (primary "<threshold", secondary "x") so no hidden count can be recomputed from the published totals."""
    buckets = await load_buckets(store, municipality=municipality, period=period)
    periods: dict[str, Any] = {}
    for p, areas in buckets.items():
        tables = {}
        for dimension in DISAGGREGATIONS:
            rows, cols, cells = disaggregation_table(areas, "requests_logged", dimension)
            if not rows:
                continue
            table = suppress(cells, row_labels=rows, col_labels=cols, threshold=threshold)
            tables[f"requests_by_{dimension}"] = {
                "rows": list(table.row_labels), "columns": list(table.col_labels),
                "cells": [list(r) for r in table.cells], "row_totals": list(table.row_totals),
                "column_totals": list(table.col_totals), "total": table.grand_total}
        periods[p] = tables
    return {"municipality": municipality, "suppression_threshold": threshold, "periods": periods}
