"""The worklist index (domain.worklist) on the MongoDB-compatible store, and in memory for the tests.

Four collections (short field names and packed text, to keep documents small: the store's cost is mostly per
document and per value read):

- ``worklist``: one document per case, the entry as last put (what `get` returns, what the next `put` compares
  against, and what a page returns), packed in one text value (`entry_document`): ``{_id: case_id,
  w: "<opened_at iso>\\x1f<status>\\x1f<areas joined by \\x1e>\\x1f<assigned_to>\\x1f<1|0 overdue>\\x1f<person_id>"}``;
  while a put is under way it also holds ``pending`` (the "<key>|<day>" pairs the put touches) and ``next``
  (the entry being put, packed the same way);
- ``worklist_keys``: ONE document per (key, bucket) listing that bucket's entries of the key (a bucket is an
  hour, domain.worklist; a "day" in the names below), ``{_id: "<key>|<bucket>", e: ["<opened_at iso>|<case_id>",
  ...]}`` (unordered: sorted when read, text order is the entries' order), kept with ``$addToSet`` /
  ``$pullAll`` (atomic per document in the patched store). The store rewrites the whole document at each
  update (about 25 µs per member on these machines): an hour's bucket keeps that bounded by a desk's hour;
- ``worklist_days``: per key and month, how many entries each bucket lists,
  ``{_id: "<key>|2026-11", days: {"2026-11-23T14": n, ...}}``, kept with ``$inc``;
- ``worklist_months``: per key, how many entries each month lists, ``{_id: key, months: {"2026-11": n, ...}}``,
  kept with ``$inc``: a small summary (a few dozen values, where one directory of every day cost a thousand)
  that gives `total` and says which month documents a page needs.

A page reads the summaries of the query's keys (not the status alone when a narrower condition is asked: it
holds every entry of the others; and the month document of `opened_before`'s month, for an exact total), then
the month documents and the day documents it needs, each batch in one ``_id: {$in}`` (the counts say how many
fill the page), sorts the days' members, and reads only the entries of the page by ``_id: {$in}`` on
``worklist`` (page size + 1, to know whether a next page exists). Each member is checked against the case's
stored entry (same position, and every condition of the query), so a member left behind by an interrupted put
is never listed; queries with two or more conditions check entries the same way, a bounded number per page
(MAX_CHECKED_PER_PAGE), and end early with a cursor at the last member checked.

Crashes: a put writes several documents and the store has no transactions. It first marks the case's
``worklist`` document ``pending`` with the (key, day) pairs it is about to touch and the entry it puts
(``next``), then adds the entry's members to its day documents, pulls the old entry's members it no longer
lists, applies the ``$inc`` of the pairs that changed (to the month documents, then to the summaries), and last
stores the new entry and clears ``pending``.
A crash in between can leave members of both the old and the new entry in day documents (never listed: a page
checks each member against the stored entry) and day and month counts off by one for the pending pairs (`total`
off by one until repaired). The next put of that case (the same entry again will do) sees ``pending`` and repairs: it
adds the members of the entry it puts, pulls those of the old and of the interrupted (``next``) entry that it
does not list, sets the count of every pending pair to the number of members of that day document, and the
count of each of their months in the summary to the sum of that month document (a recount: exact unless another
case is put into the same key and month at that very moment). A put without
``pending`` whose entry equals the stored one writes nothing.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.group_commit import GroupCommit
from migradesk_intake.domain.worklist import (
    Position,
    WorklistEntry,
    WorklistPage,
    WorklistQuery,
    choose_key,
    count_in_days,
    day_member,
    days_in_order,
    decode_cursor,
    encode_cursor,
    entry_keys,
    key_day,
    key_pairs,
    member_position,
    plan_total,
)

WORKLIST, WORKLIST_KEYS = "worklist", "worklist_keys"
WORKLIST_DAYS, WORKLIST_MONTHS = "worklist_days", "worklist_months"
# A page reads at most this many days of a key, and checks at most this many entries against further
# conditions (a rare combination); it then ends early, with fewer entries and a cursor at the last one checked.
MAX_DAYS_PER_PAGE = 400
MAX_CHECKED_PER_PAGE = 1000
# Day documents read at once (one `$in`) at most; entries checked at once for a query of several conditions.
DAYS_AT_ONCE = 64
MONTHS_AT_ONCE = 12
CHECK_AT_ONCE = 100

Pair = tuple[str, str]
# (key_day, member): one member of one day document.
Member = tuple[str, str]


class WorklistIndex(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def put(self, entry: WorklistEntry) -> None:
        """Store the case's entry, replacing its previous one. Idempotent."""
        ...

    async def get(self, case_id: str) -> WorklistEntry | None: ...

    async def page(self, query: WorklistQuery) -> WorklistPage: ...


SEP, AREA_SEP = "\x1f", "\x1e"


def entry_document(entry: WorklistEntry) -> dict[str, Any]:
    """The entry packed in ONE text value (the store decodes a value at a time; the case id is the document's
    ``_id``): opened_at ISO, status, areas joined by \\x1e, assigned_to, overdue "1"/"0", person_id, joined by
    \\x1f."""
    return {"w": SEP.join((entry.opened_iso, entry.status, AREA_SEP.join(sorted(entry.service_areas)),
                           entry.assigned_to, "1" if entry.overdue else "0", entry.person_id))}


def entry_from_document(case_id: str, doc: Mapping[str, Any]) -> WorklistEntry:
    opened, status, areas, staff, overdue, person_id = doc["w"].split(SEP, 5)
    return WorklistEntry(case_id=case_id, person_id=person_id, opened_at=datetime.fromisoformat(opened),
                         status=status, service_areas=frozenset(areas.split(AREA_SEP)) if areas else frozenset(),
                         assigned_to=staff, overdue=overdue == "1")


def case_document(entry: WorklistEntry) -> dict[str, Any]:
    """Exactly what `put` stores in ``worklist`` for the case once the put is complete."""
    return {"_id": entry.case_id, **entry_document(entry)}


def stored_entry(doc: Mapping[str, Any] | None) -> WorklistEntry | None:
    return entry_from_document(doc["_id"], doc) if doc is not None and "w" in doc else None


def members_of(entry: WorklistEntry) -> set[Member]:
    member = day_member(entry)
    return {(key_day(key, entry.bucket), member) for key in entry_keys(entry)}


def day_documents(entries: Iterable[WorklistEntry]) -> dict[str, list[str]]:
    """key_day -> the sorted members of the entries (what `put` of each would leave in ``worklist_keys``)."""
    days: dict[str, set[str]] = {}
    for entry in entries:
        for kd, member in members_of(entry):
            days.setdefault(kd, set()).add(member)
    return {kd: sorted(members) for kd, members in days.items()}


def day_increments(entries: Iterable[WorklistEntry]) -> dict[str, dict[str, int]]:
    """key -> day -> how many of the entries are listed there."""
    increments: dict[str, dict[str, int]] = {}
    for entry in entries:
        for key, day in key_pairs(entry):
            days = increments.setdefault(key, {})
            days[day] = days.get(day, 0) + 1
    return increments


def pair_changes(old: WorklistEntry | None, new: WorklistEntry) -> dict[Pair, int]:
    before = key_pairs(old) if old else set()
    after = key_pairs(new)
    return {**{p: -1 for p in before - after}, **{p: +1 for p in after - before}}


def month_changes(changes: Mapping[Pair, int]) -> dict[str, dict[str, int]]:
    """The pairs' changes summed by key and month (what the key's summary gets)."""
    by_key: dict[str, dict[str, int]] = {}
    for (key, day), n in changes.items():
        months = by_key.setdefault(key, {})
        months[day[:7]] = months.get(day[:7], 0) + n
    return by_key


def day_changes(changes: Mapping[Pair, int]) -> dict[str, dict[str, int]]:
    """The pairs' changes by "<key>|<month>" and day (what the month documents get)."""
    by_month: dict[str, dict[str, int]] = {}
    for (key, day), n in changes.items():
        by_month.setdefault(key_day(key, day[:7]), {})[day] = n
    return by_month


def months_in_order(months: Mapping[str, int], query: WorklistQuery, cursor: Position | None) -> list[str]:
    """The months ("YYYY-MM") holding entries of a key that the query may still list after the cursor, in the
    query's order."""
    bound = query.opened_before.isoformat() if query.opened_before else None
    chosen = [m for m, n in months.items() if n > 0 and (bound is None or f"{m}-01" < bound)]
    if cursor is not None:
        chosen = [m for m in chosen if (m >= cursor[0][:7] if query.oldest_first else m <= cursor[0][:7])]
    return sorted(chosen, reverse=not query.oldest_first)


def pair_of(stored_key_day: str) -> Pair:
    """"open|area:health|2026-11-23" -> ("open|area:health", "2026-11-23")."""
    key, day = stored_key_day.rsplit("|", 1)
    return key, day


class _DayWalkingIndex:
    """The put and page logic, over storage primitives the two implementations provide."""

    async def ensure_indexes(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ storage primitives
    async def _load(self, case_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def _load_many(self, case_ids: list[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        raise NotImplementedError

    async def _write_members(self, add: list[Member], remove: list[Member]) -> None:
        raise NotImplementedError

    async def _inc(self, changes: dict[Pair, int]) -> None:
        raise NotImplementedError

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        raise NotImplementedError

    async def _store(self, entry: WorklistEntry) -> None:
        raise NotImplementedError

    async def _mark_pending_batch(self, marks: Sequence[tuple[str, list[Pair], WorklistEntry]]) -> None:
        for case_id, pairs, next_entry in marks:
            await self._mark_pending(case_id, pairs, next_entry)

    async def _store_batch(self, entries: Sequence[WorklistEntry]) -> None:
        for entry in entries:
            await self._store(entry)

    async def _summaries(self, keys: list[str]) -> dict[str, dict[str, int]]:
        """key -> month -> count."""
        raise NotImplementedError

    async def _months(self, key_months: list[str]) -> dict[str, dict[str, int]]:
        """"<key>|<month>" -> day ("YYYY-MM-DD") -> count."""
        raise NotImplementedError

    async def _days(self, key_days: list[str]) -> dict[str, list[str]]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ writes
    async def put(self, entry: WorklistEntry) -> None:
        stored = await self._load(entry.case_id)
        old = stored_entry(stored)
        pending = [pair_of(kd) for kd in stored.get("pending", [])] if stored else []
        interrupted = entry_from_document(entry.case_id, stored["next"]) if stored and "next" in stored else None
        if old == entry and not pending:
            return
        touched = sorted(set(pending) | key_pairs(entry) | (key_pairs(old) if old else set()))
        await self._mark_pending(entry.case_id, touched, entry)
        add = members_of(entry)
        remove = {m for e in (old, interrupted) if e for m in members_of(e)} - add
        if pending:
            # The recount reads the members: they are written first.
            await self._write_members(sorted(add), sorted(remove))
            await self._recount(touched)
        else:
            # Members and counts are separate documents (and collections): written side by side.
            await asyncio.gather(self._write_members(sorted(add), sorted(remove)), self._inc(pair_changes(old, entry)))
        await self._store(entry)

    async def put_batch(self, entries: Sequence[WorklistEntry]) -> None:
        """Put the entries as `put` of each, one after the other, would leave them (the last entry of a case
        wins), in a few writes for all: each day document, month document and summary the batch touches is
        written once, with the members and the counts of every entry (one `$addToSet` `$each`, one `$inc`),
        where a put of each would rewrite the busiest of them (today's, the status') once per case. A case left
        `pending` by an interrupted put is repaired by `put`, after the batch. The crash guarantees are `put`'s:
        every entry of the batch is marked pending (with its pairs and its next entry) before any member or
        count is written, and stored (pending cleared) only after all of them are."""
        latest = {entry.case_id: entry for entry in entries}
        stored = await self._load_many(list(latest))
        batched: list[tuple[WorklistEntry | None, WorklistEntry]] = []
        repairs: list[WorklistEntry] = []
        for case_id, entry in latest.items():
            doc = stored.get(case_id)
            old = stored_entry(doc)
            if doc is not None and doc.get("pending"):
                repairs.append(entry)
            elif old != entry:
                batched.append((old, entry))
        if batched:
            await self._mark_pending_batch([
                (entry.case_id, sorted(key_pairs(entry) | (key_pairs(old) if old else set())), entry)
                for old, entry in batched])
            add: set[Member] = set()
            remove: set[Member] = set()
            changes: dict[Pair, int] = {}
            for old, entry in batched:
                # A member names its case (day_member): one case's old members are never another's new ones.
                add |= members_of(entry)
                if old is not None:
                    remove |= members_of(old) - members_of(entry)
                for pair, n in pair_changes(old, entry).items():
                    changes[pair] = changes.get(pair, 0) + n
            await asyncio.gather(self._write_members(sorted(add), sorted(remove)),
                                 self._inc({pair: n for pair, n in changes.items() if n}))
            await self._store_batch([entry for _, entry in batched])
        for entry in repairs:
            await self.put(entry)

    # ------------------------------------------------------------------------------------------------- reads
    async def get(self, case_id: str) -> WorklistEntry | None:
        return stored_entry(await self._load(case_id))

    async def _counts(self, query: WorklistQuery, keys: list[str],
                      summaries: dict[str, dict[str, int]]) -> dict[str, int]:
        """How many entries each key lists in the query's days: the months before `opened_before`'s month from
        the summary, and the days of that month before it from its month document."""
        if query.opened_before is None:
            return {k: sum(n for n in summaries.get(k, {}).values() if n > 0) for k in keys}
        bound = query.opened_before.isoformat()[:7]
        partial = await self._months([key_day(k, bound) for k in keys if summaries.get(k, {}).get(bound, 0) > 0])
        return {k: sum(n for m, n in summaries.get(k, {}).items() if n > 0 and m < bound)
                + count_in_days(partial.get(key_day(k, bound), {}), query) for k in keys}

    async def page(self, query: WorklistQuery) -> WorklistPage:
        keys = query.candidate_keys()
        # The status key holds every entry of the narrower keys: read its summary only when it is the only key.
        narrower = keys[1:] or keys
        summaries = await self._summaries(narrower)
        counts = await self._counts(query, narrower, summaries)
        if narrower is not keys:
            counts[keys[0]] = sys.maxsize
        key = choose_key(query, counts)
        total, exact = plan_total(query, counts)
        cursor: Position | None = decode_cursor(query.after) if query.after else None
        months = months_in_order(summaries.get(key, {}), query, cursor)
        one_key = len(keys) <= 2  # the key walked holds exactly the matching entries (if consistent)
        wanted = query.page_size + 1  # one more tells whether there is a next page
        found: list[WorklistEntry] = []
        queue: list[tuple[str, int]] = []  # (day, count) still to read, in the query's order
        month_index = 0
        days_read = 0
        last_day: str | None = None
        last_checked: Position | None = None
        checked = 0
        cut_short = False
        while len(found) < wanted and not cut_short:
            # Enough days for the rest of the page, as the counts say (all of them past the cursor's day), a few
            # times more when further conditions filter entries out.
            need = (wanted - len(found)) * (1 if one_key else 4)
            queued = sum(n for d, n in queue if cursor is None or d != cursor[0])
            if queued < need and month_index < len(months):
                batch_months: list[str] = []
                expected = queued
                while month_index < len(months) and len(batch_months) < MONTHS_AT_ONCE and expected < need:
                    expected += summaries[key][months[month_index]]
                    batch_months.append(months[month_index])
                    month_index += 1
                read = await self._months([key_day(key, m) for m in batch_months])
                for month in batch_months:
                    days = read.get(key_day(key, month), {})
                    queue += [(d, days[d]) for d in days_in_order(days, query, cursor)]
            if not queue:
                break
            if days_read >= MAX_DAYS_PER_PAGE:
                cut_short = True
                break
            batch: list[str] = []
            expected = 0
            while queue and len(batch) < DAYS_AT_ONCE and expected < need and days_read < MAX_DAYS_PER_PAGE:
                day, n = queue.pop(0)
                expected += 0 if cursor is not None and day == cursor[0] else n
                batch.append(day)
                days_read += 1
            last_day = batch[-1]
            members = await self._days([key_day(key, d) for d in batch])
            positions = sorted((member_position(d, m) for d in batch for m in members.get(key_day(key, d), [])),
                               reverse=not query.oldest_first)
            positions = [p for p in positions if query.is_after_cursor(p, cursor) and query.day_allowed(p[0])]
            start = 0
            while start < len(positions) and len(found) < wanted:
                if checked >= MAX_CHECKED_PER_PAGE:
                    cut_short = True
                    break
                step = max(wanted - len(found), 1) if one_key else CHECK_AT_ONCE
                chunk = positions[start:start + min(step, MAX_CHECKED_PER_PAGE - checked)]
                start += len(chunk)
                loaded = await self._load_many([p[2] for p in chunk])
                for position in chunk:
                    entry = stored_entry(loaded.get(position[2]))
                    checked += 1
                    last_checked = position
                    # A member left by an interrupted put, or an entry the other conditions exclude, is skipped.
                    if entry is not None and entry.position == position and query.matches(entry):
                        found.append(entry)
                        if len(found) >= wanted:
                            break
        entries = found[:query.page_size]
        if len(found) > query.page_size:
            next_cursor: str | None = encode_cursor(entries[-1].position)
        elif cut_short and checked >= MAX_CHECKED_PER_PAGE and last_checked is not None:
            next_cursor = encode_cursor(last_checked)
        elif cut_short and last_day is not None:
            next_cursor = encode_cursor(query.end_of_day(last_day))  # more days than a page reads
        else:
            next_cursor = None
        if not exact and cursor is None and next_cursor is None:
            total, exact = len(entries), True  # the whole result is on this page
        return WorklistPage(entries=entries, total=total, next_cursor=next_cursor, total_is_exact=exact)


class GroupCommittedWorklist:
    """A worklist index whose concurrent puts are written together (adapters.group_commit, `put_batch`): at a
    busy desk, one rewrite of today's documents for every registration under way instead of one for each."""

    def __init__(self, index: _DayWalkingIndex) -> None:
        self.index = index
        self._puts: GroupCommit[WorklistEntry] = GroupCommit(index.put_batch, index.put)

    async def ensure_indexes(self) -> None:
        await self.index.ensure_indexes()

    async def put(self, entry: WorklistEntry) -> None:
        await self._puts.submit(entry)

    async def get(self, case_id: str) -> WorklistEntry | None:
        return await self.index.get(case_id)

    async def page(self, query: WorklistQuery) -> WorklistPage:
        return await self.index.page(query)


class MongoWorklistIndex(_DayWalkingIndex):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.cases = db[WORKLIST]
        self.keys = db[WORKLIST_KEYS]
        self.days = db[WORKLIST_DAYS]
        self.months = db[WORKLIST_MONTHS]

    async def ensure_indexes(self) -> None:
        return None  # every read is by _id

    async def put_many(self, entries: Sequence[WorklistEntry], *, batch: int = 5000) -> None:
        """Bulk load of cases NOT stored yet (a seeding or a rebuild): the documents `put` writes. Day documents
        that exist already get the new members added."""
        cases = [case_document(e) for e in entries]
        for start in range(0, len(cases), batch):
            await self.cases.insert_many(cases[start:start + batch], ordered=False)
        days = day_documents(entries)
        ids = list(days)
        existing: set[str] = set()
        for start in range(0, len(ids), batch):
            found = await self.keys.find({"_id": {"$in": ids[start:start + batch]}}, {"_id": 1}).to_list()
            existing.update(doc["_id"] for doc in found)
        writes: list[InsertOne[dict[str, Any]] | UpdateOne] = [
            UpdateOne({"_id": kd}, {"$addToSet": {"e": {"$each": members}}}) if kd in existing
            else InsertOne({"_id": kd, "e": members}) for kd, members in days.items()]
        for start in range(0, len(writes), batch):
            await self.keys.bulk_write(writes[start:start + batch], ordered=False)
        increments = day_increments(entries)
        await self._inc({(key, day): n for key, days in increments.items() for day, n in days.items()})

    async def _load(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id})

    async def _load_many(self, case_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc for doc in await self.cases.find({"_id": {"$in": case_ids}}).to_list()}

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        await self.cases.update_one({"_id": case_id}, {"$set": {
            "pending": [key_day(*p) for p in pairs], "next": entry_document(next_entry)}}, upsert=True)

    async def _write_members(self, add: list[Member], remove: list[Member]) -> None:
        # One statement per day document, whatever the number of members it gets or loses.
        adding: dict[str, list[str]] = {}
        removing: dict[str, list[str]] = {}
        for target, members in ((adding, add), (removing, remove)):
            for kd, member in members:
                target.setdefault(kd, []).append(member)
        writes = [UpdateOne({"_id": kd}, {"$addToSet": {"e": {"$each": ms}}}, upsert=True) for kd, ms in adding.items()]
        writes += [UpdateOne({"_id": kd}, {"$pullAll": {"e": ms}}) for kd, ms in removing.items()]
        if writes:
            await self.keys.bulk_write(writes, ordered=True)

    async def _inc(self, changes: dict[Pair, int]) -> None:
        by_month, by_key = day_changes(changes), month_changes(changes)
        writes = []
        if by_month:
            writes.append(self.days.bulk_write([
                UpdateOne({"_id": km}, {"$inc": {f"days.{d}": n for d, n in days.items()}}, upsert=True)
                for km, days in by_month.items()], ordered=False))
        if by_key:
            writes.append(self.months.bulk_write([
                UpdateOne({"_id": k}, {"$inc": {f"months.{m}": n for m, n in ms.items()}}, upsert=True)
                for k, ms in by_key.items()], ordered=False))
        await asyncio.gather(*writes)

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        pairs = list(pairs)
        members = await self._days([key_day(*p) for p in pairs])
        for km, days in day_changes({(k, d): len(members.get(key_day(k, d), [])) for k, d in pairs}).items():
            await self.days.update_one({"_id": km}, {"$set": {f"days.{d}": n for d, n in days.items()}}, upsert=True)
        months = await self._months(sorted({key_day(k, d[:7]) for k, d in pairs}))
        for km, days in months.items():
            key, month = km.rsplit("|", 1)
            await self.months.update_one({"_id": key}, {"$set": {f"months.{month}": sum(days.values())}}, upsert=True)

    async def _store(self, entry: WorklistEntry) -> None:
        await self.cases.replace_one({"_id": entry.case_id}, case_document(entry), upsert=True)

    async def _mark_pending_batch(self, marks: Sequence[tuple[str, list[Pair], WorklistEntry]]) -> None:
        await self.cases.bulk_write([
            UpdateOne({"_id": case_id}, {"$set": {"pending": [key_day(*p) for p in pairs],
                                                  "next": entry_document(next_entry)}}, upsert=True)
            for case_id, pairs, next_entry in marks], ordered=False)

    async def _store_batch(self, entries: Sequence[WorklistEntry]) -> None:
        await self.cases.bulk_write([ReplaceOne({"_id": e.case_id}, case_document(e), upsert=True) for e in entries],
                                    ordered=False)

    async def _summaries(self, keys: list[str]) -> dict[str, dict[str, int]]:
        docs = await self.months.find({"_id": {"$in": keys}}).to_list()
        return {doc["_id"]: {m: int(n) for m, n in doc.get("months", {}).items()} for doc in docs}

    async def _months(self, key_months: list[str]) -> dict[str, dict[str, int]]:
        if not key_months:
            return {}
        docs = await self.days.find({"_id": {"$in": key_months}}).to_list()
        return {doc["_id"]: {d: int(n) for d, n in doc.get("days", {}).items()} for doc in docs}

    async def _days(self, key_days: list[str]) -> dict[str, list[str]]:
        if not key_days:
            return {}
        docs = await self.keys.find({"_id": {"$in": key_days}}).to_list()
        return {doc["_id"]: list(doc.get("e", [])) for doc in docs}


class InMemoryWorklistIndex(_DayWalkingIndex):
    """The same documents in dictionaries."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, list[str]] = {}  # key_day -> members (a set kept in insertion order)
        self.days: dict[str, dict[str, int]] = {}  # "<key>|<month>" -> day -> count
        self.months: dict[str, dict[str, int]] = {}  # key -> month -> count

    async def ensure_indexes(self) -> None:
        return None

    async def _load(self, case_id: str) -> dict[str, Any] | None:
        stored = self.cases.get(case_id)
        return dict(stored) if stored is not None else None

    async def _load_many(self, case_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: dict(self.cases[i]) for i in case_ids if i in self.cases}

    async def _mark_pending(self, case_id: str, pairs: list[Pair], next_entry: WorklistEntry) -> None:
        stored = self.cases.setdefault(case_id, {"_id": case_id})
        stored["pending"] = [key_day(*p) for p in pairs]
        stored["next"] = entry_document(next_entry)

    async def _write_members(self, add: list[Member], remove: list[Member]) -> None:
        for kd, member in add:
            members = self.keys.setdefault(kd, [])
            if member not in members:
                members.append(member)
        for kd, member in remove:
            if member in self.keys.get(kd, []):
                self.keys[kd].remove(member)

    async def _inc(self, changes: dict[Pair, int]) -> None:
        for target, by in ((self.days, day_changes(changes)), (self.months, month_changes(changes))):
            for doc_id, increments in by.items():
                counts = target.setdefault(doc_id, {})
                for field, n in increments.items():
                    counts[field] = counts.get(field, 0) + n

    async def _recount(self, pairs: Iterable[Pair]) -> None:
        pairs = list(pairs)
        for key, day in pairs:
            self.days.setdefault(key_day(key, day[:7]), {})[day] = len(self.keys.get(key_day(key, day), []))
        for key, day in pairs:
            self.months.setdefault(key, {})[day[:7]] = sum(self.days[key_day(key, day[:7])].values())

    async def _store(self, entry: WorklistEntry) -> None:
        self.cases[entry.case_id] = case_document(entry)

    async def _summaries(self, keys: list[str]) -> dict[str, dict[str, int]]:
        return {k: dict(self.months[k]) for k in keys if k in self.months}

    async def _months(self, key_months: list[str]) -> dict[str, dict[str, int]]:
        return {km: dict(self.days[km]) for km in key_months if km in self.days}

    async def _days(self, key_days: list[str]) -> dict[str, list[str]]:
        return {kd: list(self.keys[kd]) for kd in key_days if kd in self.keys}
