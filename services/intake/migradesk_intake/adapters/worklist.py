"""The worklist index (domain.worklist) on the MongoDB-compatible store, and in memory for the tests.

Three collections:

- ``worklist``: ``{_id: case_id, entry: {...}}``, the entry as last put (what `get` returns and what the next
  `put` compares against), and ``pending`` while a put is under way (see below);
- ``worklist_keys``: one document per key of an entry, ``{_id: "<key>|<day>|<opened_at iso>|<case_id>",
  key_day: "<key>|<day>", entry: {...}}``, indexed on ``key_day``: a day of a key is one indexed equality;
- ``worklist_days``: per key, ``{_id: key, days: {"2026-11-23": n, ...}}``, kept with ``$inc`` (atomic per
  document in the patched store), so a page reads one small directory, skips empty days, and sums `total`.

Every read is an ``_id`` look-up or an equality on ``key_day``; sorting is done here on one day's entries.

Crashes: a put writes several documents and the store has no transactions. It first marks the case's
``worklist`` document ``pending`` with the (key, day) pairs it is about to touch, then writes the key documents,
deletes the stale ones, applies the ``$inc`` of the pairs that changed, and last stores the new entry and
clears ``pending``. A crash in between can leave key documents of both the old and the new entry and day
counts off by one for the pending pairs. The next put of that case (the same entry again will do) sees
``pending`` and repairs: it rewrites the key documents of the entry it puts, deletes those of the old and of
the interrupted entry that it does not list under, and sets the count of every pending pair to the number of
key documents of that day (a recount: exact unless another case is put into the same key and day at that very
moment). A put without ``pending`` whose entry equals the stored one writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.domain.worklist import (
    Position,
    WorklistEntry,
    WorklistPage,
    WorklistQuery,
    choose_key,
    count_in_days,
    days_in_order,
    decode_cursor,
    encode_cursor,
    entry_keys,
    key_day,
    key_document_id,
    key_pairs,
    plan_total,
    select_in_day,
)

WORKLIST, WORKLIST_KEYS, WORKLIST_DAYS = "worklist", "worklist_keys", "worklist_days"
# A page walks at most this many days of a key when further conditions filter the entries out (a rare
# combination); it then ends early, with fewer entries and a cursor past the last day walked.
MAX_DAYS_PER_PAGE = 120
# Days fetched at once (concurrent look-ups) while the directory says the days so far cannot fill the page.
DAYS_AT_ONCE = 16

Pair = tuple[str, str]


class WorklistIndex(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def put(self, entry: WorklistEntry) -> None:
        """Store the case's entry, replacing its previous one. Idempotent."""
        ...

    async def get(self, case_id: str) -> WorklistEntry | None: ...

    async def page(self, query: WorklistQuery) -> WorklistPage: ...


def entry_document(entry: WorklistEntry) -> dict[str, Any]:
    return {"case_id": entry.case_id, "person_id": entry.person_id, "opened_at": entry.opened_iso,
            "status": entry.status, "service_areas": sorted(entry.service_areas),
            "assigned_to": entry.assigned_to, "overdue": entry.overdue}


def entry_from_document(doc: dict[str, Any]) -> WorklistEntry:
    return WorklistEntry(case_id=doc["case_id"], person_id=doc["person_id"],
                         opened_at=datetime.fromisoformat(doc["opened_at"]), status=doc["status"],
                         service_areas=frozenset(doc["service_areas"]), assigned_to=doc["assigned_to"],
                         overdue=bool(doc["overdue"]))


def key_documents(entry: WorklistEntry) -> list[dict[str, Any]]:
    """Exactly what `put` stores in ``worklist_keys`` for the entry."""
    body = entry_document(entry)
    return [{"_id": key_document_id(key, entry), "key_day": key_day(key, entry.day), "entry": body}
            for key in entry_keys(entry)]


def seed_documents(entries: Sequence[WorklistEntry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                               dict[str, dict[str, int]]]:
    """For cases not stored yet: the ``worklist`` and ``worklist_keys`` documents `put` would write, and the
    increments of ``worklist_days`` (key -> day -> n)."""
    cases = [{"_id": e.case_id, "entry": entry_document(e)} for e in entries]
    keys: list[dict[str, Any]] = []
    increments: dict[str, dict[str, int]] = {}
    for entry in entries:
        keys += key_documents(entry)
        for key, day in key_pairs(entry):
            days = increments.setdefault(key, {})
            days[day] = days.get(day, 0) + 1
    return cases, keys, increments


def pair_changes(old: WorklistEntry | None, new: WorklistEntry) -> dict[Pair, int]:
    before = key_pairs(old) if old else set()
    after = key_pairs(new)
    return {**{p: -1 for p in before - after}, **{p: +1 for p in after - before}}


def pair_of(stored_key_day: str) -> Pair:
    """"open|area:health|2026-11-23" -> ("open|area:health", "2026-11-23")."""
    key, day = stored_key_day.rsplit("|", 1)
    return key, day


class _DayWalkingIndex:
    """The put and page logic, over storage primitives the two implementations provide."""

    # ------------------------------------------------------------------------------------ storage primitives
    async def _load(self, case_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        raise NotImplementedError

    async def _write_keys(self, docs: list[dict[str, Any]], stale: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def _inc(self, changes: dict[Pair, int]) -> None:
        raise NotImplementedError

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        raise NotImplementedError

    async def _store(self, entry: WorklistEntry) -> None:
        raise NotImplementedError

    async def _directories(self, keys: list[str]) -> dict[str, dict[str, int]]:
        raise NotImplementedError

    async def _day(self, key: str, day: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ writes
    async def put(self, entry: WorklistEntry) -> None:
        stored = await self._load(entry.case_id)
        old = entry_from_document(stored["entry"]) if stored and "entry" in stored else None
        pending = [pair_of(kd) for kd in stored.get("pending", [])] if stored else []
        interrupted = entry_from_document(stored["next"]) if stored and "next" in stored else None
        if old == entry and not pending:
            return
        touched = sorted(set(pending) | key_pairs(entry) | (key_pairs(old) if old else set()))
        await self._mark_pending(entry.case_id, touched, entry)
        new_docs = key_documents(entry)
        new_ids = {doc["_id"] for doc in new_docs}
        stale = {doc["_id"]: doc for e in (old, interrupted) if e for doc in key_documents(e)
                 if doc["_id"] not in new_ids}
        await self._write_keys(new_docs, list(stale.values()))
        if pending:
            await self._recount(touched)
        else:
            await self._inc(pair_changes(old, entry))
        await self._store(entry)

    # ------------------------------------------------------------------------------------------------- reads
    async def get(self, case_id: str) -> WorklistEntry | None:
        stored = await self._load(case_id)
        return entry_from_document(stored["entry"]) if stored and "entry" in stored else None

    async def page(self, query: WorklistQuery) -> WorklistPage:
        keys = query.candidate_keys()
        directories = await self._directories(keys)
        counts = {k: count_in_days(directories.get(k, {}), query) for k in keys}
        key = choose_key(query, counts)
        total, exact = plan_total(query, counts)
        cursor: Position | None = decode_cursor(query.after) if query.after else None
        days = days_in_order(directories.get(key, {}), query, cursor)
        wanted = query.page_size + 1  # one more tells whether there is a next page
        found: list[WorklistEntry] = []
        walked: str | None = None
        cut_short = False
        index = 0
        while index < len(days) and len(found) < wanted:
            if index >= MAX_DAYS_PER_PAGE:
                cut_short = True
                break
            # A few days at once when the directory says the next one cannot fill the page.
            batch = [days[index]]
            expected = directories[key][days[index]]
            while (index + len(batch) < len(days) and len(batch) < DAYS_AT_ONCE
                   and len(found) + expected < wanted and index + len(batch) < MAX_DAYS_PER_PAGE):
                expected += directories[key][days[index + len(batch)]]
                batch.append(days[index + len(batch)])
            fetched = await asyncio.gather(*(self._day(key, d) for d in batch))
            for day, docs in zip(batch, fetched, strict=True):
                if len(found) >= wanted:
                    break
                found += select_in_day((entry_from_document(doc["entry"]) for doc in docs), query, cursor)
                walked = day
            index += len(batch)
        entries = found[:query.page_size]
        if len(found) > query.page_size:
            next_cursor: str | None = encode_cursor(entries[-1].position)
        elif cut_short and walked is not None:
            next_cursor = encode_cursor(query.end_of_day(walked))
        else:
            next_cursor = None
        if not exact and cursor is None and next_cursor is None:
            total, exact = len(entries), True  # the whole result is on this page
        return WorklistPage(entries=entries, total=total, next_cursor=next_cursor, total_is_exact=exact)


class MongoWorklistIndex(_DayWalkingIndex):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.cases = db[WORKLIST]
        self.keys = db[WORKLIST_KEYS]
        self.days = db[WORKLIST_DAYS]

    async def ensure_indexes(self) -> None:
        await self.keys.create_index([("key_day", 1)])

    async def put_many(self, entries: Sequence[WorklistEntry], *, batch: int = 5000) -> None:
        """Bulk load of cases NOT stored yet (a seeding or a rebuild into empty collections): the documents
        `put` writes, inserted in batches. Not for cases that may already be there."""
        cases, keys, increments = seed_documents(entries)
        for docs, collection in ((cases, self.cases), (keys, self.keys)):
            for start in range(0, len(docs), batch):
                await collection.insert_many(docs[start:start + batch], ordered=False)
        if increments:
            await self.days.bulk_write([UpdateOne({"_id": key}, {"$inc": {f"days.{d}": n for d, n in days.items()}},
                                                  upsert=True) for key, days in increments.items()], ordered=False)

    async def _load(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id})

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        await self.cases.update_one({"_id": case_id}, {"$set": {
            "pending": [key_day(*p) for p in pairs], "next": entry_document(next_entry)}}, upsert=True)

    async def _write_keys(self, docs: list[dict[str, Any]], stale: list[dict[str, Any]]) -> None:
        writes: list[ReplaceOne[dict[str, Any]] | DeleteOne] = [
            ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in docs]
        writes += [DeleteOne({"_id": doc["_id"]}) for doc in stale]
        await self.keys.bulk_write(writes, ordered=True)

    async def _inc(self, changes: dict[Pair, int]) -> None:
        by_key: dict[str, dict[str, int]] = {}
        for (key, day), n in changes.items():
            by_key.setdefault(key, {})[f"days.{day}"] = n
        if by_key:
            await self.days.bulk_write([UpdateOne({"_id": key}, {"$inc": inc}, upsert=True)
                                        for key, inc in by_key.items()], ordered=False)

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        for key, day in pairs:
            n = len(await self.keys.find({"key_day": key_day(key, day)}, {"_id": 1}).to_list())
            await self.days.update_one({"_id": key}, {"$set": {f"days.{day}": n}}, upsert=True)

    async def _store(self, entry: WorklistEntry) -> None:
        await self.cases.replace_one({"_id": entry.case_id}, {"_id": entry.case_id, "entry": entry_document(entry)},
                                     upsert=True)

    async def _directories(self, keys: list[str]) -> dict[str, dict[str, int]]:
        docs = await self.days.find({"_id": {"$in": keys}}).to_list()
        return {doc["_id"]: {d: int(n) for d, n in doc.get("days", {}).items()} for doc in docs}

    async def _day(self, key: str, day: str) -> list[dict[str, Any]]:
        return await self.keys.find({"key_day": key_day(key, day)}, {"entry": 1}).to_list()


class InMemoryWorklistIndex(_DayWalkingIndex):
    """The same documents in dictionaries."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, dict[str, Any]]] = {}  # key_day -> _id -> document
        self.days: dict[str, dict[str, int]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def _load(self, case_id: str) -> dict[str, Any] | None:
        stored = self.cases.get(case_id)
        return dict(stored) if stored is not None else None

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        stored = self.cases.setdefault(case_id, {"_id": case_id})
        stored["pending"] = [key_day(*p) for p in pairs]
        stored["next"] = entry_document(next_entry)

    async def _write_keys(self, docs: list[dict[str, Any]], stale: list[dict[str, Any]]) -> None:
        for doc in docs:
            self.keys.setdefault(doc["key_day"], {})[doc["_id"]] = doc
        for doc in stale:
            self.keys.get(doc["key_day"], {}).pop(doc["_id"], None)

    async def _inc(self, changes: dict[Pair, int]) -> None:
        for (key, day), n in changes.items():
            days = self.days.setdefault(key, {})
            days[day] = days.get(day, 0) + n

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        for key, day in pairs:
            self.days.setdefault(key, {})[day] = len(self.keys.get(key_day(key, day), {}))

    async def _store(self, entry: WorklistEntry) -> None:
        self.cases[entry.case_id] = {"_id": entry.case_id, "entry": entry_document(entry)}

    async def _directories(self, keys: list[str]) -> dict[str, dict[str, int]]:
        return {k: dict(self.days[k]) for k in keys if k in self.days}

    async def _day(self, key: str, day: str) -> list[dict[str, Any]]:
        return list(self.keys.get(key_day(key, day), {}).values())
