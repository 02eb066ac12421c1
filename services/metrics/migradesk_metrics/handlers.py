"""Metrics' service layer: apply an event's increments to the rollup counters exactly once.

There are no multi-document transactions on FerretDB, so each counter document remembers which events it has
counted (`applied`), and the increment is conditional on the event not being there: one update per bucket,
serialised per bucket in this process because FerretDB v1 does not apply concurrent updates atomically.
A redelivered event, or a crash between two buckets, never counts twice nor is lost. Buckets are per
municipality, month and area, so `applied` stays bounded by a month's activity.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_shared.domain.indicators import DIMENSIONS, governance_indicators
from migradesk_shared.domain.rollups import BucketIncrement, RollupEvent, increments_for
from migradesk_shared.mongo import KeyedLocks


class MetricsStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.rollups = db["rollups"]
        self._bucket_locks = KeyedLocks()

    async def ensure_indexes(self) -> None:
        await self.rollups.create_index([("municipality", 1), ("period", 1)])

    async def apply(self, inc: BucketIncrement, event_id: str) -> bool:
        """Count the event in one bucket unless it is counted there already; True if it was counted now."""
        update = {"$inc": {f"counts.{counter}": 1 for counter in inc.counters},
                  "$push": {"applied": event_id},
                  "$setOnInsert": {"municipality": inc.municipality, "period": inc.period, "area": inc.area}}
        async with self._bucket_locks.hold(inc.bucket_id):
            return await self._apply_unlocked(inc, event_id, update)

    async def _apply_unlocked(self, inc: BucketIncrement, event_id: str, update: dict[str, Any]) -> bool:
        while True:
            try:
                result = await self.rollups.update_one({"_id": inc.bucket_id, "applied": {"$ne": event_id}},
                                                       update, upsert=True)
            except DuplicateKeyError:
                # The filter matched nothing and the upsert's insert collided with an existing bucket: either
                # this event is already in it, or another event created the bucket at the same moment (the
                # store does not retry such upserts itself). Only the first case may be skipped.
                if await self.rollups.find_one({"_id": inc.bucket_id, "applied": event_id}, {"_id": 1}):
                    return False
                continue
            return result.modified_count > 0 or result.upserted_id is not None


async def handle_rollup_event(event: RollupEvent, *, store: MetricsStore, tz: ZoneInfo) -> None:
    for inc in increments_for(event, tz):
        await store.apply(inc, event.event_id)


async def load_buckets(store: MetricsStore, *, municipality: str,
                       period: str | None) -> dict[str, dict[str, dict[str, int]]]:
    """{period: {area: counters}} for one municipality."""
    query: dict[str, Any] = {"municipality": municipality}
    if period:
        query["period"] = period
    periods: dict[str, dict[str, dict[str, int]]] = {}
    async for doc in store.rollups.find(query, {"applied": 0}):
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
