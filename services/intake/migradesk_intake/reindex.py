"""Rebuild the desk's indexes from the records they index: the worklist (from the cases and the overdue flags of
intake's referral read model), the person search and the duplicate look-up keys (from the persons).

For when the indexes' layout changed (the worklist's buckets became hours, for one) or they are suspected wrong:
they hold nothing that is not derived from the cases and the persons, so they are dropped and written again, in
bulk. Run it with intake's processes stopped (`kubectl -n migradesk scale deploy/intake --replicas=0`): a visit
registered meanwhile would be missing from the rebuilt indexes. An erased person has no search or look-up keys;
their cases stay on the worklist, as they do when the erasure is made.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.mappers import referral_status_from_document
from migradesk_intake.adapters.repository import MongoIntakeRepository
from migradesk_intake.adapters.search_index import PERSON_SEARCH, PERSON_SEARCH_KEYS, MongoPersonSearchIndex
from migradesk_intake.adapters.worklist import (
    WORKLIST,
    WORKLIST_DAYS,
    WORKLIST_KEYS,
    WORKLIST_MONTHS,
    MongoWorklistIndex,
)
from migradesk_intake.domain.duplicates import match_keys, person_record
from migradesk_intake.service import searchable, worklist_entry

BATCH = 2000
INDEX_COLLECTIONS = (WORKLIST, WORKLIST_KEYS, WORKLIST_DAYS, WORKLIST_MONTHS, PERSON_SEARCH, PERSON_SEARCH_KEYS,
                     "match_keys")


@dataclass(frozen=True)
class ReindexReport:
    cases: int
    persons: int
    seconds: float


async def _ids(collection: AsyncCollection[dict[str, Any]], batch: int) -> AsyncIterator[list[str]]:
    """Every document's id, a batch at a time (one pass over the collection)."""
    ids: list[str] = []
    async for doc in collection.find({}, {"_id": 1}, batch_size=batch):
        ids.append(doc["_id"])
        if len(ids) >= batch:
            yield ids
            ids = []
    if ids:
        yield ids


async def reindex(db: AsyncDatabase[dict[str, Any]], *, batch: int = BATCH,
                  progress: Callable[[str], None] = lambda line: None) -> ReindexReport:
    started = time.monotonic()
    for name in INDEX_COLLECTIONS:
        await db.drop_collection(name)
    repository = MongoIntakeRepository(db)
    await repository.ensure_indexes()
    worklist, search = MongoWorklistIndex(db), MongoPersonSearchIndex(db)

    persons = 0
    async for ids in _ids(repository.persons, batch):
        registered = (await repository.get_persons(ids)).values()
        living = [(r.person_id, r.person) for r in registered if r.person is not None]
        await search.put_many([searchable(person_id, person) for person_id, person in living])
        await repository.add_match_keys_many([(person_id, match_keys(person_record(person_id, person)))
                                              for person_id, person in living])
        persons += len(ids)
        progress(f"people indexed: {persons}")

    # The overdue flags, from the read model of referral's events (de-identified, a document per referral).
    overdue: set[str] = set()
    async for doc in repository.referral_status.find({}, batch_size=batch):
        view = referral_status_from_document(doc)
        if view.overdue:
            overdue.add(view.case_id)

    cases = 0
    async for ids in _ids(repository.cases, batch):
        await worklist.put_many([worklist_entry(case, overdue=case.case_id in overdue)
                                 for case in await repository.get_cases(ids)])
        cases += len(ids)
        progress(f"cases listed: {cases}")
    return ReindexReport(cases=cases, persons=persons, seconds=time.monotonic() - started)
