"""The person search index, in memory and on the real store: misspelt names, numbers, pages, erasure."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.search_index import (
    PERSON_SEARCH,
    PERSON_SEARCH_KEYS,
    TOKEN_CHUNKS,
    GroupCommittedSearchIndex,
    InMemoryPersonSearchIndex,
    MongoPersonSearchIndex,
    PersonSearchIndex,
    postings,
)
from migradesk_intake.domain.duplicates import normalise_document
from migradesk_intake.domain.search import SearchablePerson, person_keys

PEOPLE = [
    SearchablePerson("p-jose", "José González", date(1988, 3, 2), ("123.456.789-00",), "+5567999998888"),
    SearchablePerson("p-johana", "Johana Pérez", date(1995, 7, 9), ("V-12.345.678",), "+5567988887777"),
    SearchablePerson("p-maria", "María Rodríguez", date(1979, 1, 30), ("FH123456",)),
    SearchablePerson("p-jean", "Jean-Pierre Louis", date(1990, 12, 1), ("RD7654321",), "+5511977776666"),
    SearchablePerson("p-marcos", "Marcos Mendes"),
    SearchablePerson("p-maria2", "Maria Fernandes da Silva"),
    SearchablePerson("p-wilner", "Wilner Jean-Baptiste"),
]


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def store(request: pytest.FixtureRequest) -> PersonSearchIndex:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        db: AsyncDatabase[dict[str, Any]] = request.getfixturevalue("intake_db")
        return MongoPersonSearchIndex(db)
    return InMemoryPersonSearchIndex()


@pytest.fixture
async def index(store: PersonSearchIndex) -> PersonSearchIndex:
    await store.ensure_indexes()
    return store


@pytest.fixture
async def people(index: PersonSearchIndex) -> list[SearchablePerson]:
    for person in PEOPLE:
        await index.put(person)
    return PEOPLE


@pytest.mark.parametrize(("typed", "person_id"), [
    ("Jose Gonzales", "p-jose"),
    ("Yohana Peres", "p-johana"),
    ("Mariah Rodriges", "p-maria"),
    ("Jean Piere", "p-jean"),
    ("MARÍA RODRÍGUEZ", "p-maria"),
    ("jose gonzalez", "p-jose"),
])
async def test_misspelt_names_find_the_person_first(index: PersonSearchIndex, people: list[SearchablePerson],
                                                    typed: str, person_id: str) -> None:
    page = await index.search(typed)
    assert page.hits, typed
    assert page.hits[0].person_id == person_id
    registered = next(p for p in people if p.person_id == person_id)
    assert page.hits[0].full_name == registered.full_name and page.hits[0].birth_date == registered.birth_date
    assert 0 < page.hits[0].score <= 100 and page.hits[0].reasons


async def test_a_name_not_registered_finds_no_one(index: PersonSearchIndex, people: list[SearchablePerson]) -> None:
    assert (await index.search("Kwame Nkrumah")).hits == []


@pytest.mark.parametrize(("typed", "person_id", "reason"), [
    ("123.456.789-00", "p-jose", "same document number"),
    ("12345678900", "p-jose", "same document number"),
    ("v12345678", "p-johana", "same document number"),
    ("FH-123456", "p-maria", "same document number"),
    ("(67) 99999-8888", "p-jose", "same phone"),
    ("+55 11 97777-6666", "p-jean", "same phone"),
])
async def test_numbers_find_the_person_with_or_without_punctuation(
        index: PersonSearchIndex, people: list[SearchablePerson], typed: str, person_id: str, reason: str) -> None:
    page = await index.search(typed)
    assert [h.person_id for h in page.hits] == [person_id]
    assert reason in page.hits[0].reasons


async def test_a_common_name_pages_without_duplicates_or_omissions(index: PersonSearchIndex) -> None:
    registered = [SearchablePerson(f"p-{i:02}", f"Maria {surname} Santos")
                  for i, surname in enumerate(["Silva", "Souza", "Costa", "Lima", "Alves", "Rocha", "Dias",
                                               "Gomes", "Lopes", "Nunes", "Ramos", "Pinto"])]
    registered.append(SearchablePerson("p-other", "Joao Santos"))
    for person in registered:
        await index.put(person)
    pages = [await index.search("Maria Santos", page_size=5)]
    while pages[-1].next_cursor is not None:
        assert len(pages) < 10
        pages.append(await index.search("Maria Santos", page_size=5, after=pages[-1].next_cursor))
    found = [h.person_id for p in pages for h in p.hits]
    # the pair (Maria, Santos) gives more than a page: single names are not read, Joao Santos is not listed
    assert [len(p.hits) for p in pages] == [5, 5, 2]
    assert len(set(found)) == len(found) == 12
    assert set(found) == {p.person_id for p in registered[:12]}
    # when the pair gives less than a page, single names are read too and rank after both names heard
    wide = await index.search("Maria Santos", page_size=20)
    assert len(wide.hits) == 13 and wide.hits[-1].person_id == "p-other" and wide.next_cursor is None


async def test_put_again_replaces_the_persons_keys(index: PersonSearchIndex, people: list[SearchablePerson]) -> None:
    await index.put(SearchablePerson("p-jose", "José Gonzaga", documents=("999",), phone="+5567911112222"))
    await index.put(SearchablePerson("p-jose", "José Gonzaga", documents=("999",), phone="+5567911112222"))
    assert "p-jose" not in [h.person_id for h in (await index.search("Jose Gonzales")).hits
                            if "name sounds the same" in h.reasons]
    assert (await index.search("123.456.789-00")).hits == []
    assert (await index.search("(67) 99999-8888")).hits == []
    hits = (await index.search("Jose Gonzaga")).hits
    assert [h.person_id for h in hits][:1] == ["p-jose"] and hits[0].full_name == "José Gonzaga"
    assert [h.person_id for h in (await index.search("(67) 91111-2222")).hits] == ["p-jose"]


async def test_a_blank_query_is_refused_naming_q(index: PersonSearchIndex) -> None:
    with pytest.raises(ValueError, match=r"\bq\b"):
        await index.search("  ")


async def test_forget_leaves_nothing_of_the_person(index: PersonSearchIndex, people: list[SearchablePerson]) -> None:
    await index.forget("p-jose")
    await index.forget("p-jose")  # again: nothing left to do, no error
    assert (await index.search("José González")).hits == []
    assert (await index.search("123.456.789-00")).hits == []
    assert (await index.search("Johana Perez")).hits[0].person_id == "p-johana"  # the others stay


@pytest.mark.infra
async def test_forget_removes_every_stored_document_of_the_person(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoPersonSearchIndex(intake_db)
    await index.ensure_indexes()
    for person in PEOPLE:
        await index.put(person)

    async def stored_mentions(person: SearchablePerson) -> list[Any]:
        found = []
        for name in (PERSON_SEARCH, PERSON_SEARCH_KEYS):
            async for doc in intake_db[name].find({}):
                if person.person_id in repr(doc) or person.full_name in repr(doc) \
                        or any(d in repr(doc) or normalise_document(d) in repr(doc) for d in person.documents) \
                        or (person.phone and person.phone[-8:] in repr(doc)):
                    found.append(doc)
        return found

    jose = PEOPLE[0]
    assert len(await stored_mentions(jose)) > 5
    await index.forget(jose.person_id)
    assert await stored_mentions(jose) == []
    assert await intake_db[PERSON_SEARCH_KEYS].find_one({"_id": "doc:12345678900"}) is None
    assert await intake_db[PERSON_SEARCH_KEYS].find_one({"_id": "phone:99998888"}) is None
    assert await intake_db[PERSON_SEARCH].find_one({"_id": PEOPLE[1].person_id}) is not None


@pytest.mark.infra
async def test_the_bulk_load_writes_what_put_writes(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoPersonSearchIndex(intake_db)
    bulk = MongoPersonSearchIndex(intake_db.client[f"{intake_db.name}_bulk"])
    index.chunk_size = bulk.chunk_size = 2  # keys shared by several people fill chunks and get a head
    people = PEOPLE + SAME_NAME[:5]
    try:
        for person in people:
            await index.put(person)
        await bulk.put_many(people[:8])
        await bulk.put_many(people[8:])  # continues the keys' open chunks
        for mine, theirs in ((index.persons, bulk.persons), (index.keys, bulk.keys)):
            assert await mine.find({}).sort("_id", 1).to_list() == await theirs.find({}).sort("_id", 1).to_list()
    finally:
        await intake_db.client.drop_database(f"{intake_db.name}_bulk")


async def test_a_corrected_name_is_no_longer_found_by_the_old_one(index: PersonSearchIndex) -> None:
    await index.put(SearchablePerson("p-x", "Yelitza Quispe Mamani", documents=("FH1",)))
    assert [h.person_id for h in (await index.search("Yelitza Quispe Mamani")).hits] == ["p-x"]
    await index.put(SearchablePerson("p-x", "Roselène Toussaint", documents=("FH1",)))
    for old in ("Yelitza Quispe Mamani", "Yelitza Quispe", "Quispe Mamani", "Yelitza"):
        assert (await index.search(old)).hits == [], old
    assert [h.person_id for h in (await index.search("Roselene Tousaint")).hits] == ["p-x"]


@pytest.mark.infra
async def test_an_interrupted_put_leaves_nothing_that_put_or_forget_do_not_clean(
        intake_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    index = MongoPersonSearchIndex(intake_db)
    await index.put(PEOPLE[0])
    corrected = SearchablePerson("p-jose", "José Gonzaga", documents=("999",))

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(index.persons, "replace_one", crash)
    with pytest.raises(RuntimeError):
        await index.put(corrected)
    monkeypatch.undo()
    await index.put(corrected)
    assert (await index.search("123.456.789-00")).hits == []
    assert [h.full_name for h in (await index.search("José Gonzaga")).hits] == ["José Gonzaga"]
    monkeypatch.setattr(index.persons, "replace_one", crash)
    with pytest.raises(RuntimeError):
        await index.put(PEOPLE[0])
    monkeypatch.undo()
    await index.forget("p-jose")
    assert await intake_db[PERSON_SEARCH].count_documents({}) == 0
    assert [d async for d in intake_db[PERSON_SEARCH_KEYS].find({"m": {"$ne": []}})] == []


SAME_NAME = [SearchablePerson(f"p-bench-{i:02}", "Bench Person", date(1990, 1, 1), (f"BP{i:04}",), "+5567900001111")
             for i in range(11)]


async def stored_chunks(index: PersonSearchIndex) -> dict[str, list[str]]:
    """chunk id -> members, as stored (heads left out)."""
    if isinstance(index, InMemoryPersonSearchIndex):
        return {i: list(m) for i, m in index.keys.items()}
    assert isinstance(index, MongoPersonSearchIndex)
    return {doc["_id"]: doc["m"] async for doc in index.keys.find({"m": {"$exists": True}})}


async def stored_person(index: PersonSearchIndex, person_id: str) -> dict[str, Any] | None:
    if isinstance(index, InMemoryPersonSearchIndex):
        return index.persons.get(person_id)
    assert isinstance(index, MongoPersonSearchIndex)
    return await index.persons.find_one({"_id": person_id})


async def test_postings_are_split_in_bounded_chunks_that_the_person_lists(index: PersonSearchIndex) -> None:
    index.chunk_size = 3  # type: ignore[attr-defined]
    for person in SAME_NAME:
        await index.put(person)
    chunks = await stored_chunks(index)
    assert max(len(m) for m in chunks.values()) == 3
    assert chunks == postings(SAME_NAME, 3)  # filled in order of registration: 3 + 3 + 3 + 2
    assert sorted(c for c in chunks if c.startswith("tok:BNK#")) == [f"tok:BNK#c{n}" for n in range(4)]
    for person in SAME_NAME:
        listed = (await stored_person(index, person.person_id) or {})["k"]
        assert sorted(c for c, members in chunks.items() if any(m.startswith(f"{person.person_id}\x1f")
                                                                for m in members)) == listed
    everyone = {p.person_id for p in SAME_NAME}
    # a pair and a phone are read whole, a very common single token only in part (its first chunks)
    assert {h.person_id for h in (await index.search("Bench Person", page_size=50)).hits} == everyone
    assert {h.person_id for h in (await index.search("(67) 90000-1111", page_size=50)).hits} == everyone
    assert len((await index.search("Bench", page_size=50)).hits) == TOKEN_CHUNKS * 3
    await index.put(SAME_NAME[4])  # again, unchanged: nothing moves
    assert await stored_chunks(index) == chunks


async def test_a_corrected_person_in_a_full_chunk_moves_and_erasure_empties_every_chunk(
        index: PersonSearchIndex) -> None:
    index.chunk_size = 3  # type: ignore[attr-defined]
    for person in SAME_NAME:
        await index.put(person)
    await index.put(SearchablePerson("p-bench-01", "Bench Persona Silva", documents=("BP0001",)))
    assert "p-bench-01" not in {h.person_id for h in (await index.search("(67) 90000-1111", page_size=50)).hits}
    assert "p-bench-01" not in {h.person_id for h in (await index.search("Bench Person", page_size=50)).hits
                                if h.score == 100}
    assert [h.person_id for h in (await index.search("Bench Persona Silva")).hits][:1] == ["p-bench-01"]
    chunks = await stored_chunks(index)
    assert max(len(m) for m in chunks.values()) <= 3
    assert sum(m.startswith("p-bench-01\x1f") for ms in chunks.values() for m in ms) == \
        len((await stored_person(index, "p-bench-01") or {})["k"])
    for person in SAME_NAME:
        await index.forget(person.person_id)
    assert await stored_chunks(index) == {}
    if isinstance(index, MongoPersonSearchIndex):
        assert await index.keys.count_documents({}) == 0  # the heads too
        assert await index.persons.count_documents({}) == 0
    else:
        assert isinstance(index, InMemoryPersonSearchIndex)
        assert index.heads == {} and index.persons == {}


@pytest.mark.infra
async def test_a_put_interrupted_while_moving_to_a_new_chunk_is_finished_by_the_next_put_or_forget(
        intake_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    index = MongoPersonSearchIndex(intake_db)
    index.chunk_size = 2
    for person in SAME_NAME[:4]:
        await index.put(person)

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    renamed = SearchablePerson("p-bench-00", "Roselène Toussaint", documents=("BP0000",))
    monkeypatch.setattr(index.persons, "replace_one", crash)
    with pytest.raises(RuntimeError):
        await index.put(SAME_NAME[4])  # a new person: the open chunks are full, the put moves on to new ones
    with pytest.raises(RuntimeError):
        await index.put(renamed)
    monkeypatch.undo()
    unfinished = await index.persons.find_one({"_id": "p-bench-00"})
    assert unfinished is not None and "p" in unfinished and len(unfinished["s"]) == 2
    await index.put(renamed)
    await index.put(SAME_NAME[4])
    assert max(len(m) for m in (await stored_chunks(index)).values()) <= 2
    assert "p-bench-00" not in {h.person_id for h in (await index.search("Bench Person", page_size=50)).hits}
    assert [h.person_id for h in (await index.search("Roselene Toussaint")).hits] == ["p-bench-00"]
    assert {h.person_id for h in (await index.search("Bench Person", page_size=50)).hits} == \
        {p.person_id for p in SAME_NAME[1:5]}
    for person in SAME_NAME[:5]:
        stored = await index.persons.find_one({"_id": person.person_id})
        assert stored is not None and "p" not in stored and len(stored["s"]) == 1
    monkeypatch.setattr(index.persons, "replace_one", crash)
    with pytest.raises(RuntimeError):
        await index.put(SearchablePerson("p-bench-02", "Bench Person Again", documents=("BP0002",)))
    monkeypatch.undo()
    for person in SAME_NAME[:5]:
        await index.forget(person.person_id)
    assert await index.persons.count_documents({}) == 0
    assert await index.keys.count_documents({}) == 0


async def assert_consistent(index: MongoPersonSearchIndex, people: list[SearchablePerson]) -> None:
    """Every chunk within its size; each person's document complete, with one member, listing exactly the chunks
    holding them, one per key; each found by their name and their document number."""
    chunks = await stored_chunks(index)
    assert max(len(m) for m in chunks.values()) <= index.chunk_size
    for person in people:
        stored = await stored_person(index, person.person_id)
        assert stored is not None and "p" not in stored and len(stored["s"]) == 1, stored
        holding = sorted(c for c, members in chunks.items() if stored["s"][0] in members)
        assert holding == stored["k"]
        assert sorted({c.rsplit("#c", 1)[0] for c in holding}) == sorted(person_keys(person))
        assert person.person_id in {h.person_id for h in (await index.search(person.full_name, page_size=50)).hits}
        if person.documents:
            assert [h.person_id for h in (await index.search(person.documents[0])).hits] == [person.person_id]


@pytest.mark.infra
async def test_a_batch_of_new_people_leaves_what_one_put_each_leaves(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    one_by_one = MongoPersonSearchIndex(intake_db)
    batched = MongoPersonSearchIndex(intake_db.client[f"{intake_db.name}_batched"])
    one_by_one.chunk_size = batched.chunk_size = 3  # the same name fills chunks within the batch
    people = PEOPLE + SAME_NAME
    try:
        for person in people:
            await one_by_one.put(person)
        await batched.put_batch(people)
        for mine, theirs in ((one_by_one.persons, batched.persons), (one_by_one.keys, batched.keys)):
            assert await mine.find({}).sort("_id", 1).to_list() == await theirs.find({}).sort("_id", 1).to_list()
        await assert_consistent(batched, people)
    finally:
        await intake_db.client.drop_database(f"{intake_db.name}_batched")


@pytest.mark.infra
async def test_a_batch_meeting_full_chunks_corrections_and_repeats_leaves_everyone_findable_once(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoPersonSearchIndex(intake_db)
    index.chunk_size = 3
    for person in SAME_NAME[:2] + PEOPLE[:2]:  # the open chunks of the common name hold 2 already: the store
        await index.put(person)               # refuses the batch's 3, and those people are put alone
    corrected = SearchablePerson(PEOPLE[0].person_id, "Josefa Gonzaga", documents=("FH555999",))
    await index.put_batch([*SAME_NAME[2:], corrected, PEOPLE[2]])
    await assert_consistent(index, [*SAME_NAME, corrected, PEOPLE[1], PEOPLE[2]])
    assert (await index.search("123.456.789-00")).hits == []  # the corrected person's old document
    await index.put_batch([PEOPLE[3], PEOPLE[3], corrected])  # twice in one batch, and unchanged
    await assert_consistent(index, [*SAME_NAME, corrected, PEOPLE[1], PEOPLE[2], PEOPLE[3]])
    for person in [*SAME_NAME, *PEOPLE[:4]]:
        await index.forget(person.person_id)
    assert await index.persons.count_documents({}) == 0
    assert await index.keys.find({}).to_list() == []


@pytest.mark.infra
async def test_concurrent_puts_are_written_together_and_each_caller_sees_their_person(
        intake_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inner = MongoPersonSearchIndex(intake_db)
    inner.chunk_size = 4
    batches: list[int] = []
    put_batch = inner.put_batch

    async def counted(persons: Any) -> None:
        batches.append(len(persons))
        await put_batch(persons)

    monkeypatch.setattr(inner, "put_batch", counted)
    index = GroupCommittedSearchIndex(inner)
    people = SAME_NAME + PEOPLE

    async def put_then_find(person: SearchablePerson) -> bool:
        await index.put(person)
        return person.person_id in {h.person_id for h in (await index.search(person.full_name, page_size=50)).hits}

    assert all(await asyncio.gather(*(put_then_find(p) for p in people)))
    assert sum(batches) == len(people) and max(batches) > 1  # written together, each person once
    await assert_consistent(inner, people)


@pytest.mark.infra
async def test_a_batch_interrupted_before_its_end_is_finished_by_the_next_put_or_forget(
        intake_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    index = MongoPersonSearchIndex(intake_db)

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(index, "_replace_persons", crash)
    with pytest.raises(RuntimeError):
        await index.put_batch(PEOPLE[:4])
    monkeypatch.undo()
    await index.put_batch(PEOPLE[:2])  # unfinished documents: put alone, which trusts nothing of them
    await assert_consistent(index, PEOPLE[:2])
    for person in PEOPLE[2:4]:
        await index.forget(person.person_id)
    assert (await index.search("María Rodríguez")).hits == []
    assert sorted(d["_id"] for d in await index.persons.find({}).to_list()) == sorted(p.person_id for p in PEOPLE[:2])


@pytest.mark.infra
async def test_a_corrected_document_number_leaves_the_index(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoPersonSearchIndex(intake_db)
    await index.put(PEOPLE[0])
    await index.put(SearchablePerson(PEOPLE[0].person_id, PEOPLE[0].full_name, documents=("FH555999",)))
    ids = [doc["_id"] for doc in await index.keys.find({}, {"_id": 1}).to_list()]
    assert [i for i in ids if "12345678900" in i] == []  # no chunk or head named after the old number is left
    assert (await index.search("123.456.789-00")).hits == []
    assert [h.person_id for h in (await index.search("FH555999")).hits] == [PEOPLE[0].person_id]
