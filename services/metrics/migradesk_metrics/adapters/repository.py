"""The rollup buckets' repository: its interface in domain terms, and the MongoDB (FerretDB) implementation.

One document per bucket (municipality, month, area), `_id` = the bucket id:
    {_id, municipality, period, area, counts: {<counter>: n}, offsets: {<topic_partition>|<n>: last offset}}
`offsets` is the write guard: per Kafka partition that fed the bucket, the offset of the last message counted;
reports never read it. Metrics stores no events (it publishes nothing), so there is no outbox here and no relay
to wake up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_metrics.domain.reports import BucketCounts
from migradesk_metrics.domain.rollups import BucketKey, BucketWrite


class RollupRepository(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def offsets_held(self, key: BucketKey) -> dict[str, int] | None:
        """Per partition, the offset of the last message the bucket counted; None when there is no bucket yet."""
        ...

    async def add_counts(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        """Apply `write` (add its increments, hold its newest offsets) in one atomic write, on condition that the
        bucket still holds, for each partition written, the offset `held` says (compare-and-set; `held` None:
        there was no bucket, create it). False when a concurrent writer got there first: read again."""
        ...

    async def buckets(self, municipality: str, period: str | None) -> list[BucketCounts]:
        """The counters of a municipality's buckets, of one period (YYYY-MM) or of all."""
        ...


class MongoRollupRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.rollups = db["rollups"]

    async def ensure_indexes(self) -> None:
        # Reports select by municipality (and period): an equality on this index's leading fields.
        await self.rollups.create_index([("municipality", 1), ("period", 1)])

    async def offsets_held(self, key: BucketKey) -> dict[str, int] | None:
        doc = await self.rollups.find_one({"_id": key.bucket_id}, {"offsets": 1})
        return None if doc is None else dict(doc.get("offsets", {}))

    async def add_counts(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        # Compare-and-set on the offsets read, so a concurrent writer elsewhere cannot be overwritten; the store
        # applies a single-document write atomically (there are no multi-document transactions on FerretDB).
        query: dict[str, Any] = {"_id": key.bucket_id}
        for partition in write.newest_offsets:
            query[f"offsets.{partition}"] = (held[partition] if held is not None and partition in held
                                             else {"$exists": False})
        update = {"$inc": {f"counts.{c}": n for c, n in write.increments.items()},
                  "$set": {f"offsets.{p}": o for p, o in write.newest_offsets.items()},
                  "$setOnInsert": {"municipality": key.municipality, "period": key.period, "area": key.area}}
        try:
            result = await self.rollups.update_one(query, update, upsert=held is None)
        except DuplicateKeyError:
            return False  # another process created the bucket meanwhile
        return bool(result.matched_count or result.upserted_id is not None)

    async def buckets(self, municipality: str, period: str | None) -> list[BucketCounts]:
        query: dict[str, Any] = {"municipality": municipality}
        if period:
            query["period"] = period
        return [BucketCounts(doc["period"], doc["area"], doc.get("counts", {}))
                async for doc in self.rollups.find(query, {"offsets": 0})]
