"""The person search index (domain.search) on the MongoDB-compatible store, and in memory for the tests.

Two collections:

- ``person_search_keys``: the postings of every key, split into CHUNKS of at most CHUNK_SIZE members,
  ``{_id: "<key>#c<n>", m: [member, ...]}`` (n = 0, 1, ...), each member ``"<person_id>\x1f<birth date ISO or
  ''>\x1f<full name>"`` (what ranking and a hit need). A key that ever outgrew its first chunk also has a HEAD,
  ``{_id: "<key>", open: <n>}``: its chunks are 0..n and n is the OPEN one, where new members go; a key without
  a head has only chunk 0 (most keys: documents, phones, triples, most pairs). The store rewrites a whole
  document on every update, so bounding the documents bounds the cost of a registration whatever the number of
  people sharing a name (everyone called "Bench Person" included): a member is added by a conditional upsert
  ``{_id: chunk, $or: [{"m.<CHUNK_SIZE-1>": {$exists: false}}, {m: member}]}`` `$addToSet`, which the store
  refuses with a duplicate key error when the chunk is full (atomic per document in the patched store); the put
  then raises the head's ``open`` ($max, one tiny document) and adds to the next chunk. Chunks below the open
  one only shrink. (A hash of the person id into a number of buckets growing with the key would not bound a
  bucket: the first ones keep receiving members at every growth.) A search
  reads a level's keys (domain.search.name_levels_of_query) by ``_id: {$in}``: every key's head and chunk 0 at
  once, then, for the keys with a head, their other chunks at once; a single token is read whole when it has at
  most TOKEN_CHUNKS chunks, else only its first TOKEN_CHUNKS (a bounded sample, as a limit would give);
- ``person_search``: ``{_id: person_id, k: [chunk ids], s: [members]}``: after a complete `put`, exactly the
  chunks holding the person (one per key) and their member; during a `put`, ``p: [chunk ids]`` and ``s`` list
  in addition every chunk the put may be writing to and the new member, so that finishing, replacing and
  forgetting find them all.

`put` reads the person's document and the heads of the keys it must place (at once), records in the person's
document the chunks it is about to write to (``p``) and the new member (``s``), adds the member to those chunks
and pulls the person's other members from them and every member of theirs from every other chunk listed (one
ordered bulk; a full chunk makes it stop, and the rest is sent again after moving on to the next chunk), and last
replaces the person's document by exactly the chunks holding them. A kept key keeps its chunk when the member is
unchanged (nothing written there) and is re-added to it when it has room. What a crash can leave: the person's
document with ``p`` and possibly an old member in ``s``; the chunks it lists holding the new member, possibly the
old one too (the person is found by both names until the next put), possibly a chunk or a head created and left
empty. The next `put` of the person trusts nothing of an unfinished document: it places every key again and pulls
everything the document lists; `forget` pulls everything it lists. `forget` (LGPD erasure) pulls every listed
member from every listed chunk, deletes the chunks left empty (their id names the key: a document number, a phone)
and the head of a key left without chunks, and then deletes the person's document: a crash in between leaves the
person's document, and the next `forget` finishes. Nothing of a forgotten person stays in the index. A `put` whose
keys and member equal the stored ones, complete, writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from migradesk_intake.adapters.group_commit import GroupCommit
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
# At most this many members in a posting document: an update rewrites the whole document, so this bounds the cost of
# a registration (about 15 KB of members) whatever the number of people sharing a name.
CHUNK_SIZE = 256
# A single token with more chunks than this is read in part: its first TOKEN_CHUNKS chunks (a bounded sample).
TOKEN_CHUNKS = 2
SEP = "\x1f"
CHUNK_MARK = "#c"
IN_BATCH = 1000  # the store pushes `_id: {$in}` down to its index for at most this many values
DUPLICATE_KEY = 11000


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


def chunk_id(key: str, n: int) -> str:
    return f"{key}{CHUNK_MARK}{n}"


def key_of(chunk: str) -> str:
    """The key of a chunk id (keys hold no '#': sounds, normalised numbers and digits)."""
    return chunk.rsplit(CHUNK_MARK, 1)[0]


def number_of(chunk: str) -> int:
    return int(chunk.rsplit(CHUNK_MARK, 1)[1])


def chunks_to_read(key: str, head: dict[str, Any] | None) -> list[str]:
    """The chunks of a key a search reads after chunk 0: all of them, but a single token's first TOKEN_CHUNKS
    only."""
    last = int(head["open"]) if head else 0
    if key.startswith("tok:") and last >= TOKEN_CHUNKS:
        last = TOKEN_CHUNKS - 1
    return [chunk_id(key, n) for n in range(1, last + 1)]


normalised = lru_cache(maxsize=1 << 16)(normalise_name)  # a search ranks hundreds of names, many seen before


def candidates_from(found: dict[str, list[str]]) -> list[Candidate]:
    """One candidate per person among the chunks read, with which identifier keys they matched."""
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
    chunk_size = CHUNK_SIZE  # an attribute, so that a test can make chunks fill with a few people

    async def _read_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents (heads and chunks) of these ids that exist, by id."""
        raise NotImplementedError

    async def _read_keys(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """Chunk id -> members of the keys: every key's head and chunk 0 in one read, then the other chunks of the
        keys that have a head (a single token's first TOKEN_CHUNKS only) in one more."""
        if not keys:
            return {}
        first = await self._read_docs([i for key in keys for i in (key, chunk_id(key, 0))])
        more = [c for key in keys if key in first for c in chunks_to_read(key, first[key])]
        found = {i: list(doc["m"]) for i, doc in first.items() if "m" in doc}
        if more:
            found.update({i: list(doc["m"]) for i, doc in (await self._read_docs(more)).items() if "m" in doc})
        return found

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage:
        query = validate_query(text, page_size)
        offset, widened = decode_cursor(after) if after else (0, None)
        if looks_like_number(query):
            found = await self._read_keys(number_keys(query))
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


def _add(chunk: str, member: str, size: int) -> dict[str, Any]:
    """Add the member to the chunk (created if need be) unless it is full: a full chunk not holding the member
    fails the upsert with a duplicate key error; one holding it already matches and is left as it is."""
    return {"q": {"_id": chunk, "$or": [{f"m.{size - 1}": {"$exists": False}}, {"m": member}]},
            "u": {"$addToSet": {"m": member}}, "upsert": True}


def _add_all(chunk: str, members: Sequence[str], size: int) -> dict[str, Any]:
    """`_add` of several members at once: the chunk must have room for all of them (at most `size`)."""
    return {"q": {"_id": chunk, "$or": [{f"m.{size - len(members)}": {"$exists": False}},
                                        {"m": {"$all": list(members)}}]},
            "u": {"$addToSet": {"m": {"$each": list(members)}}}, "upsert": True}


def _pull(chunk: str, members: Sequence[str]) -> dict[str, Any]:
    return {"q": {"_id": chunk}, "u": {"$pullAll": {"m": list(members)}}}


class MongoPersonSearchIndex(_PostingSearchIndex):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.persons = db[PERSON_SEARCH]
        self.keys = db[PERSON_SEARCH_KEYS]

    async def ensure_indexes(self) -> None:
        return None  # every read is by _id

    async def _find(self, ids: Sequence[str], projection: dict[str, int] | None = None,
                    **conditions: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), IN_BATCH):
            found += await self.keys.find({"_id": {"$in": list(ids[start:start + IN_BATCH])}, **conditions},
                                          projection).to_list()
        return found

    async def _read_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc for doc in await self._find(ids)} if ids else {}

    async def _update(self, updates: list[dict[str, Any]]) -> bool:
        """One ordered update command on the postings; False when it stopped at a full chunk (the store stops at
        the first error, ordered or not, and does not always say at which statement)."""
        if not updates:
            return True
        reply = await self.keys.database.command({"update": self.keys.name, "updates": updates, "ordered": True})
        errors = reply.get("writeErrors") or []
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise OperationFailure(f"updating {self.keys.name}: {errors}", details=reply)
        return not errors

    async def put(self, person: SearchablePerson) -> None:
        member, keys = member_of(person), person_keys(person)
        stored_doc, heads = await asyncio.gather(self.persons.find_one({"_id": person.person_id}),
                                                 self._find(keys, {"open": 1}))
        stored = {"k": [], "s": [], **(stored_doc or {})}  # an unfinished first put leaves no k
        complete = stored_doc is not None and "p" not in stored_doc
        # After a complete put, the chunk holding the person under each key; an unfinished one proves nothing.
        held = {key_of(c): c for c in stored["k"]} if complete else {}
        same_member = complete and stored["s"] == [member]
        if same_member and sorted(held) == keys and len(stored["k"]) == len(keys):
            return
        opened = {doc["_id"]: int(doc["open"]) for doc in heads}
        target = {key: held.get(key) or chunk_id(key, opened.get(key, 0)) for key in keys}
        pending = [key for key in keys if not (same_member and key in held)]  # the keys to add the member under
        listed = set(stored["k"]) | set(stored.get("p", []))  # every chunk that may hold a member of theirs
        if pending:
            await self._expect(person.person_id, [target[key] for key in pending], member)
            listed.update(target[key] for key in pending)
        old = [m for m in stored["s"] if m != member]
        everyone = sorted({*stored["s"], member})
        for _ in range(len(keys) * 8 + 8):  # a full chunk costs a round; the bound only stops a runaway
            finals = set(target.values())
            updates = [_add(target[key], member, self.chunk_size) for key in pending]
            updates += [_pull(c, old) for c in sorted(finals) if old]
            updates += [_pull(c, everyone) for c in sorted(listed - finals)]
            if await self._update(updates):
                break
            # Stopped at a full chunk, the first not holding the member: the adds before it were made, those after
            # it were not (whatever the store says of the index of the failing statement, which FerretDB gets wrong).
            holding = {doc["_id"] for doc in await self._find([target[k] for k in pending], {"_id": 1}, m=member)}
            pending = [key for key in pending if target[key] not in holding]
            if not pending:
                raise RuntimeError(f"a put of {person.person_id} stopped with every member added")
            full = pending[0]
            head = await self.keys.find_one_and_update({"_id": full}, {"$max": {"open": number_of(target[full]) + 1}},
                                                       upsert=True,
                                                       return_document=ReturnDocument.AFTER) or {"open": 0}
            target[full] = chunk_id(full, int(head["open"]))
            await self._expect(person.person_id, [target[full]], member)
            listed.add(target[full])
        else:
            raise RuntimeError(f"a put of {person.person_id} found no chunk with room")
        # A chunk the person left may be empty now, and its id still names a key: a corrected document number, a
        # phone. It goes, as on erasure, so that an old number leaves the index with the person's correction.
        if left := sorted(listed - set(target.values())):
            await self._drop_empty_chunks(left)
        await self.persons.replace_one({"_id": person.person_id},
                                       {"_id": person.person_id, "k": sorted(target.values()), "s": [member]},
                                       upsert=True)

    async def put_batch(self, persons: Sequence[SearchablePerson]) -> None:
        """What `put` of each person in this order leaves, in a few commands for the whole batch: the people not
        indexed yet (a desk's new registrations) get their pending note, one update per chunk with all their
        members (`$addToSet $each`, with room for all of them) and their final document, each step one command for
        all. Anyone else (a correction, an unfinished put), and anyone whose chunk had no room for the batch's
        members, is `put` alone afterwards, in order, from the state the batch left. Every chunk stays within
        its size and every person's document lists exactly the chunks holding them, as after one `put` each;
        only who lands in which chunk of a key can differ where the batch met a full chunk.

        A crash leaves what an interrupted `put` leaves (pending notes listing every chunk written to), which the
        next `put` or `forget` of each person finishes."""
        if len({p.person_id for p in persons}) < len(persons):
            for person in persons:  # the same person twice: their order matters, so one at a time
                await self.put(person)
            return
        ids = [p.person_id for p in persons]
        stored = {doc["_id"] for doc in await self.persons.find({"_id": {"$in": ids}}, {"_id": 1}).to_list()}
        new = [p for p in persons if p.person_id not in stored]
        later = [p for p in persons if p.person_id in stored]
        if new:
            keys = {p.person_id: person_keys(p) for p in new}
            opened = {doc["_id"]: int(doc["open"])
                      for doc in await self._find(sorted({k for ks in keys.values() for k in ks}), {"open": 1})}
            targets = {pid: sorted(chunk_id(k, opened.get(k, 0)) for k in ks) for pid, ks in keys.items()}
            members = {p.person_id: member_of(p) for p in new}
            # Who fits in their open chunks with everyone before them in the batch; the others are put alone.
            room: dict[str, int] = {}
            fitting = []
            for person in new:
                wanted = targets[person.person_id]
                if all(room.get(c, 0) < self.chunk_size for c in wanted):
                    fitting.append(person)
                    for c in wanted:
                        room[c] = room.get(c, 0) + 1
            new = fitting
            fits = {p.person_id for p in fitting}
            later = [p for p in persons if p.person_id not in fits]
            if not new:
                for person in later:
                    await self.put(person)
                return
            await self.persons.insert_many([{"_id": p.person_id, "p": targets[p.person_id], "s": [members[p.person_id]]}
                                            for p in new], ordered=True)
            added: dict[str, list[str]] = {}
            for person in new:
                for chunk in targets[person.person_id]:
                    added.setdefault(chunk, []).append(members[person.person_id])
            if not await self._update([_add_all(c, ms, self.chunk_size) for c, ms in sorted(added.items())]):
                # A chunk had no room for all the batch's members (and the store stopped there): whoever's members
                # are not all where they were meant to go is put alone below.
                holding = {doc["_id"]: set(doc["m"])
                           for doc in await self._find(sorted(added), {"m": 1})}
                placed = {p.person_id for p in new
                          if all(members[p.person_id] in holding.get(c, ()) for c in targets[p.person_id])}
                later = [p for p in persons if p.person_id not in placed]
                new = [p for p in new if p.person_id in placed]
            if new:
                await self._replace_persons([{"_id": p.person_id, "k": targets[p.person_id],
                                              "s": [members[p.person_id]]} for p in new])
        for person in later:
            await self.put(person)

    async def _replace_persons(self, documents: list[dict[str, Any]]) -> None:
        reply = await self.persons.database.command({
            "update": self.persons.name, "ordered": True,
            "updates": [{"q": {"_id": doc["_id"]}, "u": doc, "upsert": True} for doc in documents]})
        if reply.get("writeErrors"):
            raise OperationFailure(f"updating {self.persons.name}: {reply['writeErrors']}", details=reply)

    async def _expect(self, person_id: str, chunks: list[str], member: str) -> None:
        """Note in the person's document the chunks about to be written to and the member, before writing."""
        await self.persons.update_one({"_id": person_id}, {"$addToSet": {"p": {"$each": chunks}, "s": member}},
                                      upsert=True)

    async def put_many(self, persons: Sequence[SearchablePerson], *, batch: int = 5000) -> None:
        """Bulk load of persons NOT indexed yet (a seeding or a rebuild): the documents `put` of each in this
        order writes. Existing keys are continued from their open chunk."""
        size = self.chunk_size
        by_person = [(p, member_of(p), person_keys(p)) for p in persons]
        keys = sorted({key for _, _, ks in by_person for key in ks})
        heads = {doc["_id"]: int(doc["open"]) for doc in await self._find(keys, {"open": 1})}
        opened = {doc["_id"]: len(doc.get("m", []))
                  for doc in await self._find([chunk_id(k, heads.get(k, 0)) for k in keys])}
        state = {k: (heads.get(k, 0), opened.get(chunk_id(k, heads.get(k, 0)), 0)) for k in keys}
        added: dict[str, list[str]] = {}
        people = []
        for person, member, person_keys_ in by_person:
            chunks = []
            for key in person_keys_:
                n, used = state[key]
                if used >= size:
                    n, used = n + 1, 0
                state[key] = (n, used + 1)
                chunks.append(chunk_id(key, n))
                added.setdefault(chunks[-1], []).append(member)
            people.append({"_id": person.person_id, "k": sorted(chunks), "s": [member]})
        for start in range(0, len(people), batch):
            await self.persons.insert_many(people[start:start + batch], ordered=False)
        writes: list[InsertOne[dict[str, Any]] | UpdateOne] = [
            UpdateOne({"_id": c}, {"$addToSet": {"m": {"$each": members}}}) if c in opened
            else InsertOne({"_id": c, "m": members}) for c, members in added.items()]
        writes += [UpdateOne({"_id": k}, {"$max": {"open": n}}, upsert=True)
                   for k, (n, _) in state.items() if n > heads.get(k, 0)]
        for start in range(0, len(writes), batch):
            await self.keys.bulk_write(writes[start:start + batch], ordered=False)

    async def forget(self, person_id: str) -> None:
        stored = await self.persons.find_one({"_id": person_id})
        if stored is None:
            return
        chunks = sorted(set(stored.get("k", [])) | set(stored.get("p", [])))
        if chunks and stored["s"]:
            await self._update([_pull(c, stored["s"]) for c in chunks])
            # A chunk left empty still names its key (a document number, a phone): it goes, and so does the head
            # of a key left without chunks.
            await self._drop_empty_chunks(chunks)
        await self.persons.delete_one({"_id": person_id})

    async def _drop_empty_chunks(self, chunks: list[str]) -> None:
        """Delete those of these chunks that hold no one, and the head of a key left without chunks."""
        kept = {doc["_id"] for doc in await self._find(chunks, {"_id": 1}, **{"m.0": {"$exists": True}})}
        emptied = [c for c in chunks if c not in kept]
        if emptied:
            await self.keys.delete_many({"_id": {"$in": emptied}, "m": {"$size": 0}})
            await self._drop_heads_without_chunks(sorted({key_of(c) for c in emptied}))

    async def _drop_heads_without_chunks(self, keys: list[str]) -> None:
        heads = {doc["_id"]: int(doc["open"]) for doc in await self._find(keys, {"open": 1})}
        if not heads:
            return
        left = {key_of(doc["_id"]) for doc in await self._find(
            [chunk_id(k, n) for k, last in heads.items() for n in range(last + 1)], {"_id": 1})}
        if gone := [k for k in heads if k not in left]:
            await self.keys.delete_many({"_id": {"$in": gone}})


class GroupCommittedSearchIndex:
    """A person search index whose concurrent puts are written together (adapters.group_commit, `put_batch`): at
    a busy desk the registrations under way share one rewrite of each posting chunk they add to, instead of one
    rewrite per person."""

    def __init__(self, index: MongoPersonSearchIndex) -> None:
        self.index = index
        self._puts: GroupCommit[SearchablePerson] = GroupCommit(index.put_batch, index.put)

    async def ensure_indexes(self) -> None:
        await self.index.ensure_indexes()

    async def put(self, person: SearchablePerson) -> None:
        await self._puts.submit(person)

    async def forget(self, person_id: str) -> None:
        await self.index.forget(person_id)

    async def search(self, text: str, *, after: str | None = None, page_size: int = 20) -> SearchPage:
        return await self.index.search(text, after=after, page_size=page_size)


class InMemoryPersonSearchIndex(_PostingSearchIndex):
    """The same documents in dictionaries."""

    def __init__(self) -> None:
        self.persons: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, list[str]] = {}  # chunk id -> members
        self.heads: dict[str, int] = {}  # key -> its open chunk, for the keys that outgrew chunk 0

    async def ensure_indexes(self) -> None:
        return None

    async def put(self, person: SearchablePerson) -> None:
        member, keys = member_of(person), person_keys(person)
        stored = self.persons.get(person.person_id)
        if stored is not None and stored["s"] == [member] and sorted(key_of(c) for c in stored["k"]) == keys:
            return
        await self.forget(person.person_id)
        chunks = []
        for key in keys:
            n = self.heads.get(key, 0)
            if len(self.keys.get(chunk_id(key, n), [])) >= self.chunk_size:
                n = self.heads[key] = n + 1
            self.keys.setdefault(chunk_id(key, n), []).append(member)
            chunks.append(chunk_id(key, n))
        self.persons[person.person_id] = {"_id": person.person_id, "k": sorted(chunks), "s": [member]}

    async def forget(self, person_id: str) -> None:
        stored = self.persons.pop(person_id, None)
        if stored is None:
            return
        for c in stored["k"]:
            self.keys[c] = [m for m in self.keys.get(c, []) if m not in stored["s"]]
            if not self.keys[c]:
                del self.keys[c]
                key = key_of(c)
                if key in self.heads and not any(chunk_id(key, n) in self.keys for n in range(self.heads[key] + 1)):
                    del self.heads[key]

    async def _read_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for i in ids:
            if i in self.keys:
                found[i] = {"_id": i, "m": list(self.keys[i])}
            elif i in self.heads:
                found[i] = {"_id": i, "open": self.heads[i]}
        return found


def postings(persons: Iterable[SearchablePerson], chunk_size: int = CHUNK_SIZE) -> dict[str, list[str]]:
    """chunk id -> members: what `put` of each person in this order leaves in ``person_search_keys`` (without the
    heads)."""
    state: dict[str, tuple[int, int]] = {}
    found: dict[str, list[str]] = {}
    for person in persons:
        member = member_of(person)
        for key in person_keys(person):
            n, used = state.get(key, (0, 0))
            if used >= chunk_size:
                n, used = n + 1, 0
            state[key] = (n, used + 1)
            found.setdefault(chunk_id(key, n), []).append(member)
    return found
