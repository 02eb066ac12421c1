"""The rollup buckets' repository: its interface in domain terms, and the MongoDB (FerretDB) implementation.

One document per bucket (municipality, month, area), `_id` = the bucket id:
    {_id, municipality, period, area, counts: {<counter>: n}, offsets: {<topic_partition>|<n>: last offset}}
`offsets` is the write guard: per Kafka partition that fed the bucket, the offset of the last message counted;
reports never read it. Metrics stores no events (it publishes nothing), so there is no outbox here and no relay
to wake up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pymongo import UpdateOne
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

    async def offsets_held_many(self, keys: Sequence[BucketKey]) -> dict[str, dict[str, int]]:
        """`offsets_held` of several buckets in one read, by bucket id; a bucket that does not exist is absent."""
        ...

    async def add_counts_many(self, writes: Sequence[tuple[BucketKey, Mapping[str, int] | None, BucketWrite]]
                              ) -> set[str]:
        """`add_counts` of several buckets (each write on its own condition, applied or not independently);
        returns the ids of the buckets known to be written. A bucket not returned may still have been written
        when some compare-and-set lost (the store does not say which): read again, and `plan_bucket_write`
        leaves out what the bucket now holds."""
        ...

    async def replace_all(self, buckets: Iterable[tuple[BucketKey, Mapping[str, int], Mapping[str, int]]]) -> int:
        """Replace every bucket by these (key, counters, offsets held), e.g. after a rebuild; returns how many."""
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

    async def offsets_held_many(self, keys: Sequence[BucketKey]) -> dict[str, dict[str, int]]:
        found = self.rollups.find({"_id": {"$in": [key.bucket_id for key in keys]}}, {"offsets": 1})
        return {doc["_id"]: dict(doc.get("offsets", {})) async for doc in found}

    async def add_counts_many(self, writes: Sequence[tuple[BucketKey, Mapping[str, int] | None, BucketWrite]]
                              ) -> set[str]:
        # Creating a bucket (once per bucket and month) goes alone: when it collides with another writer's,
        # FerretDB answers a bulk upsert without the `nModified` the driver needs to merge the results.
        created = {key.bucket_id for key, held, write in writes
                   if held is None and await self.add_counts(key, held, write)}
        existing = [(key, held, write) for key, held, write in writes if held is not None]
        if len(created) + len(existing) < len(writes):
            return set()  # a bucket was created meanwhile: read again
        if not existing:
            return created
        # The other buckets: one command, each update on its own condition.
        result = await self.rollups.bulk_write([UpdateOne(*_guarded_update(key, held, write))
                                                for key, held, write in existing], ordered=False)
        # Which conditions held is only known when all of them did.
        return {key.bucket_id for key, _, _ in writes} if result.matched_count == len(existing) else set()

    async def add_counts(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        # Compare-and-set on the offsets read, so a concurrent writer elsewhere cannot be overwritten; the store
        # applies a single-document write atomically (there are no multi-document transactions on FerretDB).
        try:
            result = await self.rollups.update_one(*_guarded_update(key, held, write), upsert=held is None)
        except DuplicateKeyError:
            return False  # another process created the bucket meanwhile
        return bool(result.matched_count or result.upserted_id is not None)

    async def replace_all(self, buckets: Iterable[tuple[BucketKey, Mapping[str, int], Mapping[str, int]]]) -> int:
        # Not atomic (no transactions): the rebuild runs with the consumers stopped, and running it again after
        # a failure starts over.
        docs = [{"_id": key.bucket_id, "municipality": key.municipality, "period": key.period, "area": key.area,
                 "counts": dict(counts), "offsets": dict(offsets)} for key, counts, offsets in buckets]
        await self.rollups.delete_many({})
        for start in range(0, len(docs), 1000):
            await self.rollups.insert_many(docs[start:start + 1000])
        return len(docs)

    async def buckets(self, municipality: str, period: str | None) -> list[BucketCounts]:
        query: dict[str, Any] = {"municipality": municipality}
        if period:
            query["period"] = period
        return [BucketCounts(doc["period"], doc["area"], doc.get("counts", {}))
                async for doc in self.rollups.find(query, {"offsets": 0})]


def _guarded_update(key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The query (the bucket, holding for each partition written the offset read, or none) and the update."""
    query: dict[str, Any] = {"_id": key.bucket_id}
    for partition in write.newest_offsets:
        query[f"offsets.{partition}"] = (held[partition] if held is not None and partition in held
                                         else {"$exists": False})
    update = {"$inc": {f"counts.{c}": n for c, n in write.increments.items()},
              "$set": {f"offsets.{p}": o for p, o in write.newest_offsets.items()},
              "$setOnInsert": {"municipality": key.municipality, "period": key.period, "area": key.area}}
    return query, update
