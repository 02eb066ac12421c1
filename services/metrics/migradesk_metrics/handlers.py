"""Metrics' service layer: apply an event's increments to the rollup counters exactly once.

There are no multi-document transactions on FerretDB, so each counter document remembers which events it has
counted (`applied`), and the increment is conditional on the event not being there: one atomic update per
bucket. A redelivered event, or a crash between two buckets, never counts twice nor is lost. Buckets are per
municipality, month and area, so `applied` stays bounded by a month's activity.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_shared.domain.rollups import Increment, RollupEvent, increments_for


class MetricsStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.rollups = db["rollups"]

    async def ensure_indexes(self) -> None:
        await self.rollups.create_index([("municipality", 1), ("period", 1)])

    async def apply(self, inc: Increment, event_id: str) -> bool:
        """+1 unless this event was already counted in this bucket; True if it counted now."""
        try:
            result = await self.rollups.update_one(
                {"_id": inc.bucket_id, "applied": {"$ne": event_id}},
                {"$inc": {f"counts.{inc.counter}": 1}, "$push": {"applied": event_id},
                 "$setOnInsert": {"municipality": inc.municipality, "period": inc.period, "area": inc.area}},
                upsert=True)
        except DuplicateKeyError:
            return False  # the bucket exists and already holds this event: the upsert collided with it
        return result.modified_count > 0 or result.upserted_id is not None


async def handle_rollup_event(event: RollupEvent, *, store: MetricsStore, tz: ZoneInfo) -> None:
    for inc in increments_for(event, tz):
        # The same event may increment two counters of one bucket; key the guard by counter too.
        await store.apply(inc, f"{event.event_id}:{inc.counter}")


async def summary(store: MetricsStore, *, municipality: str, period: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"municipality": municipality}
    if period:
        query["period"] = period
    periods: dict[str, Any] = {}
    async for doc in store.rollups.find(query, {"applied": 0}):
        periods.setdefault(doc["period"], {"areas": {}})["areas"][doc["area"]] = doc.get("counts", {})
    return {"municipality": municipality, "periods": dict(sorted(periods.items()))}
