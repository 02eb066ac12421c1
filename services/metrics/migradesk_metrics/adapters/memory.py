"""An in-memory RollupRepository for fast tests, with the Mongo one's semantics.

Buckets are kept in the shape of the stored documents. Reading a bucket yields to the event loop, so writers
running concurrently interleave between their read and their conditional write as they do against the store;
the conditional write itself is atomic (no await inside), and a writer whose compare-and-set lost gets False.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from migradesk_metrics.domain.reports import BucketCounts
from migradesk_metrics.domain.rollups import BucketKey, BucketWrite


class InMemoryRollupRepository:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def offsets_held(self, key: BucketKey) -> dict[str, int] | None:
        await asyncio.sleep(0)  # a round trip: other writers may run meanwhile
        doc = self.documents.get(key.bucket_id)
        return None if doc is None else dict(doc["offsets"])

    async def offsets_held_many(self, keys: Sequence[BucketKey]) -> dict[str, dict[str, int]]:
        await asyncio.sleep(0)
        return {key.bucket_id: dict(self.documents[key.bucket_id]["offsets"]) for key in keys
                if key.bucket_id in self.documents}

    async def add_counts_many(self, writes: Sequence[tuple[BucketKey, Mapping[str, int] | None, BucketWrite]]
                              ) -> set[str]:
        await asyncio.sleep(0)
        applied = {key.bucket_id for key, held, write in writes if self._apply(key, held, write)}
        # As the store's bulk write: which conditions held is only known when all of them did.
        return applied if len(applied) == len(writes) else set()

    async def add_counts(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        await asyncio.sleep(0)
        return self._apply(key, held, write)

    def _apply(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        """The conditional write itself: atomic, as it has no await."""
        doc = self.documents.get(key.bucket_id)
        if doc is None:
            if held is not None:
                return False  # no upsert when a bucket was read: it matches nothing
            doc = {"_id": key.bucket_id, "municipality": key.municipality, "period": key.period, "area": key.area,
                   "counts": {}, "offsets": {}}
        else:
            # The same condition as the store's query: each partition written still holds the offset read, or
            # (nothing read for it) still holds none.
            expected = held or {}
            if any(doc["offsets"].get(p) != expected.get(p) for p in write.newest_offsets):
                return False
        counts: dict[str, int] = doc["counts"]
        for counter, n in write.increments.items():
            counts[counter] = counts.get(counter, 0) + n
        doc["offsets"].update(write.newest_offsets)
        self.documents[key.bucket_id] = doc
        return True

    async def replace_all(self, buckets: Iterable[tuple[BucketKey, Mapping[str, int], Mapping[str, int]]]) -> int:
        await asyncio.sleep(0)
        self.documents = {key.bucket_id: {"_id": key.bucket_id, "municipality": key.municipality,
                                          "period": key.period, "area": key.area, "counts": dict(counts),
                                          "offsets": dict(offsets)} for key, counts, offsets in buckets}
        return len(self.documents)

    async def buckets(self, municipality: str, period: str | None) -> list[BucketCounts]:
        await asyncio.sleep(0)
        return [BucketCounts(doc["period"], doc["area"], copy.deepcopy(doc["counts"]))
                for doc in self.documents.values()
                if doc["municipality"] == municipality and (not period or doc["period"] == period)]
