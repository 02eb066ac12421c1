"""Inserts that concurrent requests make into one collection, inserted together, on the real store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_intake.adapters.group_commit import GroupInsert

pytestmark = [pytest.mark.infra]


class CountingCollection:
    """The collection, counting the insert commands sent to it."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.batches: list[int] = []

    async def insert_many(self, documents: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.batches.append(len(documents))
        return await self.collection.insert_many(documents, **kwargs)


async def stored_ids(db: AsyncDatabase[dict[str, Any]]) -> list[str]:
    return sorted(doc["_id"] for doc in await db.records.find({}, {"_id": 1}).to_list())


async def test_concurrent_inserts_go_together_and_each_caller_returns_once_its_own_are_stored(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    counting = CountingCollection(intake_db.records)
    inserts = GroupInsert(counting)  # type: ignore[arg-type]

    async def insert_then_read(n: int) -> bool:
        await inserts.insert([{"_id": f"r{n:02}", "n": n}, {"_id": f"r{n:02}-key", "n": n}])
        return await intake_db.records.find_one({"_id": f"r{n:02}-key"}) is not None

    assert all(await asyncio.gather(*(insert_then_read(n) for n in range(30))))
    assert await stored_ids(intake_db) == sorted([f"r{n:02}" for n in range(30)] + [f"r{n:02}-key" for n in range(30)])
    assert sum(counting.batches) == 60 and len(counting.batches) < 30  # together, each document once


async def test_a_refused_document_fails_its_caller_only_and_the_others_are_stored(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    await intake_db.records.insert_one({"_id": "taken"})
    inserts = GroupInsert(intake_db.records)
    items = [[{"_id": f"before-{n}"}] for n in range(3)] + [[{"_id": "mine-1"}, {"_id": "taken"}, {"_id": "mine-2"}]] \
        + [[{"_id": f"after-{n}"}] for n in range(3)]
    results = await asyncio.gather(*(inserts.insert(item) for item in items), return_exceptions=True)
    assert results[:3] == [None] * 3 and results[4:] == [None] * 3
    assert isinstance(results[3], DuplicateKeyError)
    # as insert_many of that item alone: the documents before the refused one stored, those after it not
    assert await stored_ids(intake_db) == sorted(
        ["taken", "mine-1", *(f"before-{n}" for n in range(3)), *(f"after-{n}" for n in range(3))])
    await inserts.insert([])  # nothing to insert: returns at once
