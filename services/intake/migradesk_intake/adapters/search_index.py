"""The person search index (domain.search) on the MongoDB-compatible store, and in memory for the tests.

Two collections:

- ``person_search``: ``{_id: person_id, full_name, name (normalised), birth_date (ISO text or None)}``;
- ``person_search_keys``: ``{_id: "<key>|<person_id>", key, person_id, full_name, name, birth_date}``, indexed
  on ``key`` (the look-up) and on ``person_id`` (replacing and forgetting a person's keys). A key document
  repeats what ranking and a hit need, so a search reads only key documents: one indexed equality per key,
  each with a limit.

`put` replaces a person's keys: it writes the new key documents, then deletes the person's key documents it no
longer lists (found through the ``person_id`` index, so an earlier interrupted put leaves nothing behind once a
put of that person completes), then the person's document. `forget` (LGPD erasure) deletes every key document
of the person and then the person's document: a crash in between leaves key documents that the next `forget`
deletes. Nothing of a forgotten person stays in the index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Protocol

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.domain.duplicates import normalise_name
from migradesk_intake.domain.search import (
    Candidate,
    SearchablePerson,
    SearchPage,
    decode_cursor,
    looks_like_number,
    number_keys,
    page_of,
    pair_keys_of_query,
    person_keys,
    rank,
    token_keys_of_query,
    validate_query,
)

PERSON_SEARCH, PERSON_SEARCH_KEYS = "person_search", "person_search_keys"
# Key documents read per key of a query: a pair of sounds is selective; a single sound (Maria) may not be.
PAIR_LIMIT = 100
TOKEN_LIMIT = 300
NUMBER_LIMIT = 50


class PersonSearchIndex(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def put(self, person: SearchablePerson) -> None:
        """Index the person, replacing their previous keys. Idempotent."""
        ...

    async def forget(self, person_id: str) -> None:
        """Remove everything of the person from the index (LGPD erasure)."""
        ...

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage: ...


def person_document(person: SearchablePerson) -> dict[str, Any]:
    return {"_id": person.person_id, "full_name": person.full_name, "name": normalise_name(person.full_name),
            "birth_date": person.birth_date.isoformat() if person.birth_date else None}


def key_documents(person: SearchablePerson) -> list[dict[str, Any]]:
    """Exactly what `put` stores in ``person_search_keys`` for the person."""
    body = person_document(person)
    return [{"_id": f"{key}|{person.person_id}", "key": key, "person_id": person.person_id,
             "full_name": body["full_name"], "name": body["name"], "birth_date": body["birth_date"]}
            for key in person_keys(person)]


def candidates_from(found: Iterable[dict[str, Any]]) -> list[Candidate]:
    """One candidate per person among key documents, with which identifier keys they matched."""
    by_person: dict[str, dict[str, Any]] = {}
    for doc in found:
        seen = by_person.setdefault(doc["person_id"], {"doc": doc, "document": False, "phone": False})
        seen["document"] |= doc["key"].startswith("doc:")
        seen["phone"] |= doc["key"].startswith("phone:")
    return [Candidate(person_id=pid, full_name=s["doc"]["full_name"], normalised_name=s["doc"]["name"],
                      birth_date=date.fromisoformat(s["doc"]["birth_date"]) if s["doc"]["birth_date"] else None,
                      same_document=s["document"], same_phone=s["phone"]) for pid, s in by_person.items()]


class _KeySearchIndex:
    async def _lookup(self, key: str, limit: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _lookup_all(self, keys: Sequence[str], limit: int) -> list[dict[str, Any]]:
        found = await asyncio.gather(*(self._lookup(k, limit) for k in keys))
        return [doc for docs in found for doc in docs]

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage:
        query = validate_query(text, page_size)
        offset, widened = decode_cursor(after) if after else (0, None)
        if looks_like_number(query):
            found = await self._lookup_all(number_keys(query), NUMBER_LIMIT)
            return page_of(rank(query, candidates_from(found), by_number=True), offset, page_size, False)
        found = await self._lookup_all(pair_keys_of_query(query), PAIR_LIMIT)
        if widened is None:
            # Decided on the first page and carried in the cursor, so every page ranks the same candidates.
            widened = len({doc["person_id"] for doc in found}) < page_size
        if widened:
            found += await self._lookup_all(token_keys_of_query(query), TOKEN_LIMIT)
        return page_of(rank(query, candidates_from(found), by_number=False), offset, page_size, widened)


class MongoPersonSearchIndex(_KeySearchIndex):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.persons = db[PERSON_SEARCH]
        self.keys = db[PERSON_SEARCH_KEYS]

    async def ensure_indexes(self) -> None:
        await self.keys.create_index([("key", 1)])
        await self.keys.create_index([("person_id", 1)])

    async def put(self, person: SearchablePerson) -> None:
        docs = key_documents(person)
        new_ids = {doc["_id"] for doc in docs}
        held = await self.keys.find({"person_id": person.person_id}, {"_id": 1}).to_list()
        writes: list[ReplaceOne[dict[str, Any]] | DeleteOne] = [
            ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in docs]
        writes += [DeleteOne({"_id": doc["_id"]}) for doc in held if doc["_id"] not in new_ids]
        if writes:
            await self.keys.bulk_write(writes, ordered=True)
        await self.persons.replace_one({"_id": person.person_id}, person_document(person), upsert=True)

    async def put_many(self, persons: Sequence[SearchablePerson], *, batch: int = 5000) -> None:
        """Bulk load of persons NOT indexed yet (a seeding or a rebuild into empty collections): the documents
        `put` writes, inserted in batches."""
        people = [person_document(p) for p in persons]
        keys = [doc for p in persons for doc in key_documents(p)]
        for docs, collection in ((people, self.persons), (keys, self.keys)):
            for start in range(0, len(docs), batch):
                await collection.insert_many(docs[start:start + batch], ordered=False)

    async def forget(self, person_id: str) -> None:
        await self.keys.delete_many({"person_id": person_id})
        await self.persons.delete_one({"_id": person_id})

    async def _lookup(self, key: str, limit: int) -> list[dict[str, Any]]:
        return await self.keys.find({"key": key}).limit(limit).to_list()


class InMemoryPersonSearchIndex(_KeySearchIndex):
    """The same documents in dictionaries."""

    def __init__(self) -> None:
        self.persons: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, dict[str, Any]]] = {}  # key -> _id -> document

    async def ensure_indexes(self) -> None:
        return None

    async def put(self, person: SearchablePerson) -> None:
        await self.forget(person.person_id)
        for doc in key_documents(person):
            self.keys.setdefault(doc["key"], {})[doc["_id"]] = doc
        self.persons[person.person_id] = person_document(person)

    async def forget(self, person_id: str) -> None:
        for docs in self.keys.values():
            for doc_id in [i for i, d in docs.items() if d["person_id"] == person_id]:
                del docs[doc_id]
        self.keys = {k: docs for k, docs in self.keys.items() if docs}
        self.persons.pop(person_id, None)

    async def _lookup(self, key: str, limit: int) -> list[dict[str, Any]]:
        return list(self.keys.get(key, {}).values())[:limit]
