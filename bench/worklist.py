"""(f) The desk's worklist and person search at growing numbers of stored cases (BENCH_WORKLIST_SIZES).

The store is seeded directly through the Mongo index adapters' bulk loads (`put_many`, which insert exactly the
documents `put` writes) with synthetic cases and people: names of two to four tokens combining common
Latin-American and Haitian first and last names with their accents, about 10% of cases closed, areas spread, ten
staff members, opened over three years, some overdue. Then each query is timed QUERIES times (p50, p95): the
first worklist page (open, all), filtered by area, by staff, overdue only, a page three deep, a search by a
misspelt registered name, by a document number typed with punctuation, by a phone typed as a local number; the
same first page and misspelt search through intake's use cases (what the pages and GET /api/cases, /api/persons
run: the index, the names read from the people's records, the audit of the names shown); and, as the same-run
baseline, a plain `find_one({"_id": ...})` on the same store. Printed per query: p50/p95 in ms at
each size and the ratio largest/smallest (flatness).

Registration ("(f) registration"): at each size, `put` of REGISTRATIONS new people into the search index (names
from the same generator, ids outside the seeded ones), then a worst case: WORST_CASE people registered in a row
with one identical name (what bench part c's "Bench Person" does), whose postings all land on the same keys.
Printed: p50/p95 at each size, the ratio largest/smallest, worst/normal at each size and, within the worst-case
run, its last fifth against its first fifth (a cost growing with the postings shows there). Nothing asserts a time.

Run it with `BENCH_ONLY=f python -m bench.run`.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.mappers import person_record_document
from migradesk_intake.adapters.repository import PERSONS, MongoIntakeRepository
from migradesk_intake.adapters.search_index import MongoPersonSearchIndex
from migradesk_intake.adapters.worklist import MongoWorklistIndex
from migradesk_intake.domain.person import ConsentGiven, Document, Person, RegisteredPerson
from migradesk_intake.domain.search import SearchablePerson
from migradesk_intake.domain.worklist import DESK, WorklistEntry, WorklistQuery
from migradesk_intake.service import IntakeService, SearchPeople
from migradesk_shared.contracts.vocabulary import DocumentType, LegalBasis, ServiceArea
from migradesk_shared.outbox import new_document_outbox

FIRST_NAMES = ("María", "José", "Ana", "Luis", "Carmen", "Jean", "Marie", "Pierre", "Rosa", "Carlos", "Yelitza",
               "Wilner", "Daniela", "Pedro", "Fabiola", "Jorge", "Nadège", "Luz", "Roberto", "Valentina", "Johana",
               "Jésus", "Guadalupe", "Fritznel", "Roselène", "Wilson", "Yohandry", "Dayana", "Mackenson", "Inés",
               "Ángel", "Josué", "Esther", "Nathalie", "Jhon", "Stéphanie", "Ramón", "Yaneth", "Kervens", "Lucía")
LAST_NAMES = ("Pérez", "González", "Rodríguez", "Joseph", "Jean-Baptiste", "Fernández", "López", "Martínez",
              "Pierre", "Benítez", "Quispe", "Mamani", "Ortiz", "Céspedes", "Louis", "Vargas", "Duarte", "Rojas",
              "Hernández", "Gutiérrez", "Sánchez", "Ramírez", "Torres", "Flores", "Charles", "Étienne", "Desir",
              "Saint-Fleur", "Chávez", "Suárez", "Gómez", "Díaz", "Moreno", "Jiménez", "Álvarez", "Castillo",
              "Dorvil", "Noël", "Toussaint", "Villalba", "Ayala", "Ibáñez", "Núñez", "Peña", "Zambrano", "Aguilar")
AREAS = [a.value for a in ServiceArea] + [DESK]
STAFF = [f"staff{n:02}" for n in range(10)]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
QUERIES = int(os.environ.get("BENCH_WORKLIST_QUERIES", "200"))
REGISTRATIONS = int(os.environ.get("BENCH_WORKLIST_REGISTRATIONS", "200"))
WORST_CASE = 500
WORST_NAME = "Bench Person"
NEW_PEOPLE = 9_000_000  # ids of the people registered by the registration timing (beyond any seeded size)
SEED_CHUNK = 200_000  # one bulk load per size step: day documents and postings are written once each
INSERT_BATCH = 20000


def person_of(i: int) -> SearchablePerson:
    """The i-th synthetic person: the same every time (so queries can pick people already seeded)."""
    rng = random.Random(i)
    first = rng.sample(FIRST_NAMES, 1 + (rng.random() < 0.4))
    last = rng.sample(LAST_NAMES, 1 + (rng.random() < 0.6))
    name = " ".join(first + last)
    cpf = f"{rng.randrange(10**11):011d}"
    documents: tuple[str, ...] = (f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",)
    if rng.random() < 0.5:
        documents += (f"{rng.choice('ABFGHV')}{rng.choice('HKRXD')}{rng.randrange(10**7):07d}",)
    phone = f"+55{rng.choice((67, 11, 21, 51, 92))}9{rng.randrange(10**8):08d}" if rng.random() < 0.8 else None
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 70))
    return SearchablePerson(person_id=f"person-{i:07d}", full_name=name, birth_date=born, documents=documents,
                            phone=phone)


def entry_of(i: int) -> WorklistEntry:
    rng = random.Random(-1 - i)
    closed = rng.random() < 0.1
    areas = frozenset(rng.sample(AREAS, 1 + (rng.random() < 0.3)))
    return WorklistEntry(case_id=f"case-{i:07d}", person_id=f"person-{i:07d}",
                         opened_at=NOW - timedelta(seconds=rng.randrange(3 * 365 * 86400)),
                         status="closed" if closed else "open", service_areas=areas, assigned_to=rng.choice(STAFF),
                         overdue=not closed and rng.random() < 0.08)


def misspelt(name: str, rng: random.Random) -> str:
    """As a hurried desk types it: no accents, lower case, and one Iberian/Creole spelling slip."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).lower()
    slips = [("z", "s"), ("s", "z"), ("v", "b"), ("b", "v"), ("y", "i"), ("j", "y"), ("h", ""), ("ll", "y"),
             ("-", " "), ("que", "ke"), ("ph", "f"), ("e", "ee")]
    rng.shuffle(slips)
    for old, new in slips:
        if old in plain:
            return plain.replace(old, new, 1)
    return plain


def person_record_of(i: int) -> dict[str, Any]:
    """The i-th person's record, as intake stores it (the worklist and search pages read their names there)."""
    found = person_of(i)
    person = Person(full_name=found.full_name, nationality="VEN", birth_date=found.birth_date, phone=found.phone,
                    consent=ConsentGiven(LegalBasis.CONSENT, share_with_partners=True, recorded_by="bench",
                                         recorded_at=NOW),
                    documents=tuple(Document(DocumentType.PASSPORT, n) for n in found.documents[1:]))
    return {**person_record_document(RegisteredPerson(person_id=found.person_id, person=person, version=1,
                                                      case_ids=(f"case-{i:07d}",), registered_at=NOW)),
            "audit": [], **new_document_outbox([])}


async def seed(db: AsyncDatabase[dict[str, Any]], start: int, stop: int) -> None:
    worklist, search = MongoWorklistIndex(db), MongoPersonSearchIndex(db)
    for chunk in range(start, stop, SEED_CHUNK):
        ids = range(chunk, min(chunk + SEED_CHUNK, stop))
        await worklist.put_many([entry_of(i) for i in ids], batch=INSERT_BATCH)
        await search.put_many([person_of(i) for i in ids], batch=INSERT_BATCH)
        for batch_start in range(ids.start, ids.stop, INSERT_BATCH):
            await db[PERSONS].insert_many([person_record_of(i)
                                           for i in range(batch_start, min(batch_start + INSERT_BATCH, ids.stop))])


async def timed(fn: Callable[[int], Awaitable[Any]], n: int) -> list[float]:
    for i in range(3):
        await fn(i)  # warm
    times = []
    for i in range(n):
        started = time.perf_counter()
        await fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(db: AsyncDatabase[dict[str, Any]], size: int, n: int) -> tuple[dict[str, list[float]], str]:
    worklist, search = MongoWorklistIndex(db), MongoPersonSearchIndex(db)
    rng = random.Random(size)
    picks = [rng.randrange(size) for _ in range(n + 3)]
    deep: list[str] = []
    for oldest_first in (True, False):
        cursor = None
        for _ in range(2):
            cursor = (await worklist.page(WorklistQuery(oldest_first=oldest_first, after=cursor))).next_cursor
        deep.append(cursor or "")
    found = 0

    async def misspelt_search(i: int) -> None:
        nonlocal found
        person = person_of(picks[i])
        page = await search.search(misspelt(person.full_name, random.Random(i)))
        found += any(h.person_id == person.person_id for h in page.hits)

    def phone_typed(i: int) -> str:
        phone = person_of(picks[i]).phone or "+5567900000000"
        return f"({phone[3:5]}) {phone[5:10]}-{phone[10:]}"

    # What a page or GET /api/cases and /api/persons run: the index, the names from the people's records, and
    # the audit of every name shown (one write per page).
    desk = IntakeService(MongoIntakeRepository(db), municipality="Bench")

    async def desk_search(i: int) -> None:
        await desk.search_people(SearchPeople(misspelt(person_of(picks[i]).full_name, random.Random(i)),
                                              actor="bench"))

    queries: dict[str, Callable[[int], Awaitable[Any]]] = {
        "desk worklist page (use case)": lambda i: desk.worklist(WorklistQuery(oldest_first=i % 2 == 0),
                                                                 actor="bench"),
        "desk search (use case)": desk_search,
        "find_one by _id (baseline)": lambda i: worklist.cases.find_one({"_id": f"case-{picks[i]:07d}"}),
        "worklist page 1, open": lambda i: worklist.page(WorklistQuery(oldest_first=i % 2 == 0)),
        "worklist by area": lambda i: worklist.page(WorklistQuery(service_area=AREAS[i % len(AREAS)])),
        "worklist by staff": lambda i: worklist.page(WorklistQuery(assigned_to=STAFF[i % len(STAFF)])),
        "worklist overdue": lambda i: worklist.page(WorklistQuery(overdue_only=True, oldest_first=i % 2 == 1)),
        "worklist page 3": lambda i: worklist.page(WorklistQuery(oldest_first=i % 2 == 0, after=deep[i % 2] or None)),
        "search misspelt name": misspelt_search,
        "search document": lambda i: search.search(person_of(picks[i]).documents[0]),
        "search phone": lambda i: search.search(phone_typed(i)),
    }
    results = {}
    recall = ""
    for name, fn in queries.items():
        found = 0
        results[name] = await timed(fn, n)
        if name == "search misspelt name":
            recall = f"misspelt names found on the first page: {found}/{n + 3}"
    return results, recall


async def time_registrations(db: AsyncDatabase[dict[str, Any]], size: int) -> dict[str, list[float]]:
    """`put` of new people, one after the other as a desk registers them: drawn from the generator, then
    WORST_CASE people with one identical name (the same in every size's run, so its keys keep growing)."""
    search = MongoPersonSearchIndex(db)
    first = NEW_PEOPLE + size  # distinct for every size
    normal = [person_of(first + i) for i in range(REGISTRATIONS + 3)]
    worst = [SearchablePerson(person_id=f"worst-{size:07d}-{i:04d}", full_name=WORST_NAME,
                              birth_date=date(1990, 1, 1)) for i in range(WORST_CASE)]
    results: dict[str, list[float]] = {}
    for name, people in (("put new person", normal), (f"put {WORST_CASE} x one name", worst)):
        times = []
        for person in people:
            started = time.perf_counter()
            await search.put(person)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = times[3:] if people is normal else times  # the worst case counts its first ones too
    return results


async def bench_worklist(client: AsyncMongoClient[dict[str, Any]], sizes: list[int]) -> list[str]:
    lines = []
    db = client[f"bench_worklist_{uuid.uuid4().hex[:8]}"]
    await MongoWorklistIndex(db).ensure_indexes()
    await MongoPersonSearchIndex(db).ensure_indexes()
    by_size: dict[int, dict[str, list[float]]] = {}
    registrations: dict[int, dict[str, list[float]]] = {}
    seeded = 0
    try:
        for size in sorted(sizes):
            started = time.perf_counter()
            await seed(db, seeded, size)
            lines.append(f"(f) seeding         {size:>7} cases and people   seeded {size - seeded} in "
                         f"{time.perf_counter() - started:7.1f} s")
            seeded = size
            by_size[size], recall = await measure(db, size, QUERIES)
            lines.append(f"(f) recall          {size:>7} {recall}")
            registrations[size] = await time_registrations(db, size)
        small, large = min(by_size), max(by_size)
        worst_large = 0.0
        for name in by_size[small]:
            figures = "   ".join(f"{s:>7}: p50 {statistics.median(t[name]):7.2f} ms p95 {p(t[name], 0.95):7.2f} ms"
                                  for s, t in sorted(by_size.items()))
            ratio = statistics.median(by_size[large][name]) / max(statistics.median(by_size[small][name]), 1e-9)
            lines.append(f"(f) worklist        {name:<27} {figures}   ratio {large}/{small} p50 {ratio:5.2f}")
            if "baseline" not in name:
                worst_large = max(worst_large, statistics.median(by_size[large][name]))
        for name in registrations[small]:
            figures = "   ".join(f"{s:>7}: p50 {statistics.median(t[name]):7.2f} ms p95 {p(t[name], 0.95):7.2f} ms"
                                  for s, t in sorted(registrations.items()))
            ratio = statistics.median(registrations[large][name]) / max(
                statistics.median(registrations[small][name]), 1e-9)
            lines.append(f"(f) registration    {name:<27} {figures}   ratio {large}/{small} p50 {ratio:5.2f}")
        worst_name = f"put {WORST_CASE} x one name"
        for size, t in sorted(registrations.items()):
            worst, normal = t[worst_name], t["put new person"]
            fifth = max(len(worst) // 5, 1)
            lines.append(f"(f) registration    {size:>7} worst/normal p50 "
                         f"{statistics.median(worst) / max(statistics.median(normal), 1e-9):5.2f}   worst case "
                         f"last/first fifth p50 {statistics.median(worst[-fifth:]):7.2f} / "
                         f"{statistics.median(worst[:fifth]):7.2f} ms = "
                         f"{statistics.median(worst[-fifth:]) / max(statistics.median(worst[:fifth]), 1e-9):5.2f}")
        if large >= 100_000:
            lines.append(f"(f) worklist        p50 at 10^5 below 50 ms: {'yes' if worst_large < 50 else 'no'}"
                         f" (slowest query p50 {worst_large:.2f} ms at {large})")
        else:
            lines.append(f"(f) worklist        p50 at 10^5 below 50 ms: not measured (largest size {large})")
    finally:
        await client.drop_database(db.name)
    return lines
