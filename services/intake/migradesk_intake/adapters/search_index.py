"""The person search index (domain.search) on the MongoDB-compatible store, and in memory for the tests.

Two collections:

- ``person_search_keys``: ONE posting document per key, ``{_id: key, m: [member, ...]}``, listing every person
  found by that key as a member ``"<person_id>\\x1f<birth date ISO or ''>\\x1f<full name>"`` (what ranking and a
  hit need); a single-token key, which may list thousands (Maria), is split into TOKEN_BUCKETS documents
  ``{_id: "<key>#<bucket>", m: [...]}`` by a hash of the person id. Members are added with ``$addToSet`` and
  removed with ``$pull`` (atomic per document in the patched store). A search reads its keys' postings by
  ``_id: {$in}``, level by level (domain.search.name_levels_of_query): a few documents, not one per person; a
  single token is read whole when its first bucket says it is small, else only its first bucket (a bounded
  sample, as a limit would give);
- ``person_search``: ``{_id: person_id, k: [posting ids], s: [members]}``: every posting document that MAY list
  the person and every member text of theirs that may be stored there, so that replacing and forgetting find
  them all.

`put` first ADDS the new posting ids and member to the person's document (so it lists a superset of what may be
stored), then adds the member to the new postings and pulls every other member of the person from every posting
listed, and last sets the person's document to exactly the new ids and member. A crash in between leaves at most
stale members that the person's document still lists: the next `put` of that person pulls them, and `forget` does
too. `forget` (LGPD erasure) pulls every listed member from every listed posting, deletes the postings left empty
(their id names a document number or a phone), and then deletes the person's document: a crash in between leaves the
person's document, and the next `forget` finishes. Nothing of a forgotten person stays in the index. A `put` whose
ids and member equal the stored ones writes nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.domain.duplicates import normalise_name
from migradesk_intake.domain.search import (
    Candidate,
    SearchablePerson,
    SearchPage,
    decode_cursor,
    looks_like_number,
    name_levels_of_query,
    number_keys,
    page_of,
    person_keys,
    rank,
    validate_query,
)

PERSON_SEARCH, PERSON_SEARCH_KEYS = "person_search", "person_search_keys"
TOKEN_BUCKETS = 8
# A single token is read whole when its first bucket suggests at most this many people, else only that bucket.
TOKEN_LIMIT = 400
SEP = "\x1f"


class PersonSearchIndex(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def put(self, person: SearchablePerson) -> None:
        """Index the person, replacing their previous keys. Idempotent."""
        ...

    async def forget(self, person_id: str) -> None:
        """Remove everything of the person from the index (LGPD erasure)."""
        ...

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage: ...


def member_of(person: SearchablePerson) -> str:
    if SEP in person.person_id:
        raise ValueError("person_id must not contain a unit separator")
    birth = person.birth_date.isoformat() if person.birth_date else ""
    return SEP.join((person.person_id, birth, person.full_name))


def bucket_of(person_id: str) -> int:
    return zlib.crc32(person_id.encode()) % TOKEN_BUCKETS


def posting_ids_of_key(key: str) -> list[str]:
    """Every posting document of a key (the buckets of a single token)."""
    return [f"{key}#{b}" for b in range(TOKEN_BUCKETS)] if key.startswith("tok:") else [key]


def posting_id(key: str, person_id: str) -> str:
    return f"{key}#{bucket_of(person_id)}" if key.startswith("tok:") else key


def posting_ids(person: SearchablePerson) -> list[str]:
    return sorted(posting_id(key, person.person_id) for key in person_keys(person))


def person_document(person: SearchablePerson) -> dict[str, Any]:
    """Exactly what `put` stores in ``person_search`` once the put is complete."""
    return {"_id": person.person_id, "k": posting_ids(person), "s": [member_of(person)]}


def postings(persons: Iterable[SearchablePerson]) -> dict[str, list[str]]:
    """posting id -> sorted members (what `put` of each person leaves in ``person_search_keys``)."""
    found: dict[str, set[str]] = {}
    for person in persons:
        member = member_of(person)
        for pid in posting_ids(person):
            found.setdefault(pid, set()).add(member)
    return {pid: sorted(members) for pid, members in found.items()}


normalised = lru_cache(maxsize=1 << 16)(normalise_name)  # a search ranks hundreds of names, many seen before


def candidates_from(found: dict[str, list[str]]) -> list[Candidate]:
    """One candidate per person among the postings read, with which identifier keys they matched."""
    by_person: dict[str, tuple[str, bool, bool]] = {}
    for doc_id, members in found.items():
        document, phone = doc_id.startswith("doc:"), doc_id.startswith("phone:")
        for member in members:
            person_id = member.split(SEP, 1)[0]
            _, seen_document, seen_phone = by_person.get(person_id, (member, False, False))
            by_person[person_id] = (member, seen_document or document, seen_phone or phone)
    candidates = []
    for person_id, (member, same_document, same_phone) in by_person.items():
        _, birth, full_name = member.split(SEP, 2)
        candidates.append(Candidate(person_id=person_id, full_name=full_name, normalised_name=normalised(full_name),
                                    birth_date=date.fromisoformat(birth) if birth else None,
                                    same_document=same_document, same_phone=same_phone))
    return candidates


class _PostingSearchIndex:
    async def _read(self, ids: Sequence[str]) -> dict[str, list[str]]:
        raise NotImplementedError

    async def _read_keys(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """The postings of the keys; a single token whole if small, else its first bucket only."""
        tokens = [k for k in keys if k.startswith("tok:")]
        found = await self._read([k for k in keys if not k.startswith("tok:")] + [f"{t}#0" for t in tokens])
        small = [t for t in tokens if len(found.get(f"{t}#0", [])) * TOKEN_BUCKETS <= TOKEN_LIMIT]
        if small:
            found.update(await self._read([i for t in small for i in posting_ids_of_key(t)[1:]]))
        return found

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage:
        query = validate_query(text, page_size)
        offset, widened = decode_cursor(after) if after else (0, None)
        if looks_like_number(query):
            found = await self._read(number_keys(query))
            return page_of(rank(query, candidates_from(found), by_number=True), offset, page_size, 0)
        levels = name_levels_of_query(query)
        found = {}
        read = 0
        for level, keys in enumerate(levels):
            # Decided on the first page and carried in the cursor, so every page ranks the same candidates.
            if widened is not None and level > widened:
                break
            if widened is None and level > 0 and \
                    len({m.split(SEP, 1)[0] for ms in found.values() for m in ms}) >= page_size:
                break
            found.update(await self._read_keys(keys))
            read = level
        return page_of(rank(query, candidates_from(found), by_number=False), offset, page_size, read)


class MongoPersonSearchIndex(_PostingSearchIndex):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.persons = db[PERSON_SEARCH]
        self.keys = db[PERSON_SEARCH_KEYS]

    async def ensure_indexes(self) -> None:
        return None  # every read is by _id

    async def put(self, person: SearchablePerson) -> None:
        wanted = person_document(person)
        stored = await self.persons.find_one({"_id": person.person_id}) or {"k": [], "s": []}
        if stored["k"] == wanted["k"] and stored["s"] == wanted["s"]:
            return
        member = member_of(person)
        await self.persons.update_one({"_id": person.person_id}, {"$addToSet": {
            "k": {"$each": wanted["k"]}, "s": member}}, upsert=True)
        writes = [UpdateOne({"_id": pid}, {"$addToSet": {"m": member}}, upsert=True) for pid in wanted["k"]]
        writes += [UpdateOne({"_id": pid}, {"$pull": {"m": old}}) for pid in sorted(set(stored["k"]) | set(wanted["k"]))
                   for old in stored["s"] if old != member]
        writes += [UpdateOne({"_id": pid}, {"$pull": {"m": member}}) for pid in stored["k"] if pid not in wanted["k"]]
        await self.keys.bulk_write(writes, ordered=True)
        await self.persons.replace_one({"_id": person.person_id}, wanted, upsert=True)

    async def put_many(self, persons: Sequence[SearchablePerson], *, batch: int = 5000) -> None:
        """Bulk load of persons NOT indexed yet (a seeding or a rebuild): the documents `put` writes; postings
        that exist already get the new members added."""
        people = [person_document(p) for p in persons]
        for start in range(0, len(people), batch):
            await self.persons.insert_many(people[start:start + batch], ordered=False)
        found = postings(persons)
        ids = list(found)
        existing: set[str] = set()
        for start in range(0, len(ids), batch):
            docs = await self.keys.find({"_id": {"$in": ids[start:start + batch]}}, {"_id": 1}).to_list()
            existing.update(doc["_id"] for doc in docs)
        writes: list[InsertOne[dict[str, Any]] | UpdateOne] = [
            UpdateOne({"_id": pid}, {"$addToSet": {"m": {"$each": members}}}) if pid in existing
            else InsertOne({"_id": pid, "m": members}) for pid, members in found.items()]
        for start in range(0, len(writes), batch):
            await self.keys.bulk_write(writes[start:start + batch], ordered=False)

    async def forget(self, person_id: str) -> None:
        stored = await self.persons.find_one({"_id": person_id})
        if stored is None:
            return
        writes = [UpdateOne({"_id": pid}, {"$pull": {"m": member}}) for pid in stored["k"] for member in stored["s"]]
        if writes:
            await self.keys.bulk_write(writes, ordered=True)
            # A posting left empty still names the key (a document number, a phone): it goes too.
            await self.keys.delete_many({"_id": {"$in": stored["k"]}, "m": {"$size": 0}})
        await self.persons.delete_one({"_id": person_id})

    async def _read(self, ids: Sequence[str]) -> dict[str, list[str]]:
        if not ids:
            return {}
        docs = await self.keys.find({"_id": {"$in": list(ids)}}).to_list()
        return {doc["_id"]: list(doc.get("m", [])) for doc in docs}


class InMemoryPersonSearchIndex(_PostingSearchIndex):
    """The same documents in dictionaries."""

    def __init__(self) -> None:
        self.persons: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, list[str]] = {}  # posting id -> members

    async def ensure_indexes(self) -> None:
        return None

    async def put(self, person: SearchablePerson) -> None:
        await self.forget(person.person_id)
        member = member_of(person)
        for pid in posting_ids(person):
            self.keys.setdefault(pid, []).append(member)
        self.persons[person.person_id] = person_document(person)

    async def forget(self, person_id: str) -> None:
        stored = self.persons.pop(person_id, None)
        if stored is None:
            return
        for pid in stored["k"]:
            self.keys[pid] = [m for m in self.keys.get(pid, []) if m not in stored["s"]]
            if not self.keys[pid]:
                del self.keys[pid]

    async def _read(self, ids: Sequence[str]) -> dict[str, list[str]]:
        return {i: list(self.keys[i]) for i in ids if i in self.keys}
