"""Metrics' service layer: apply an event's increments to the rollup counters exactly once.

There are no multi-document transactions on FerretDB, so the guard against counting twice lives in the counter
document itself: each bucket remembers, per Kafka partition it was fed from, the offset of the last message it
counted, and the increment is conditional on the message being newer. A redelivered message (a crash between
the effect and the commit) is refused in the same write as the effect would be; an event published twice (a
relay retry: same event id, new offset) is caught before by the consumer's inbox. The bucket documents stay
small (a few offsets), so counting stays O(1) per event. Updates of one bucket are serialised in this process
because FerretDB v1 does not apply concurrent updates of a document atomically.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_shared.domain.indicators import DIMENSIONS, governance_indicators
from migradesk_shared.domain.rollups import BucketIncrement, RollupEvent, increments_for
from migradesk_shared.kafka import Delivery
from migradesk_shared.mongo import KeyedLocks


class MetricsStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.rollups = db["rollups"]
        self._bucket_locks = KeyedLocks()

    async def ensure_indexes(self) -> None:
        await self.rollups.create_index([("municipality", 1), ("period", 1)])

    async def apply(self, inc: BucketIncrement, delivery: Delivery) -> bool:
        """Count the message in one bucket unless the bucket already holds it; True if it was counted now."""
        field = f"offsets.{delivery.position_key}"
        query = {"_id": inc.bucket_id, "$or": [{field: {"$exists": False}}, {field: {"$lt": delivery.offset}}]}
        update = {"$inc": {f"counts.{counter}": 1 for counter in inc.counters},
                  "$set": {field: delivery.offset},
                  "$setOnInsert": {"municipality": inc.municipality, "period": inc.period, "area": inc.area}}
        async with self._bucket_locks.hold(inc.bucket_id):
            while True:
                try:
                    await self.rollups.update_one(query, update, upsert=True)
                    return True
                except DuplicateKeyError:
                    # The filter matched nothing and the upsert collided with the existing bucket: either it
                    # holds this message already, or another process created it at the same moment (the store
                    # does not retry such upserts itself). Only the first case may be skipped.
                    doc = await self.rollups.find_one({"_id": inc.bucket_id}, {field: 1})
                    seen = (doc or {}).get("offsets", {}).get(delivery.position_key)
                    if seen is not None and seen >= delivery.offset:
                        return False


async def handle_rollup_event(event: RollupEvent, delivery: Delivery, *, store: MetricsStore, tz: ZoneInfo) -> None:
    for inc in increments_for(event, tz):
        await store.apply(inc, delivery)


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
