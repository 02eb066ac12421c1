"""The worklist index, in memory and on the real store: paging over days, filters, totals, moving cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.worklist import (
    WORKLIST,
    WORKLIST_DAYS,
    WORKLIST_KEYS,
    WORKLIST_MONTHS,
    InMemoryWorklistIndex,
    MongoWorklistIndex,
    WorklistIndex,
)
from migradesk_intake.domain.worklist import WorklistEntry, WorklistPage, WorklistQuery

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
AREAS = ("health", "education", "work", "desk")
STAFF = ("ana", "bia", "caio")


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def store(request: pytest.FixtureRequest) -> WorklistIndex:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        db: AsyncDatabase[dict[str, Any]] = request.getfixturevalue("intake_db")
        return MongoWorklistIndex(db)
    return InMemoryWorklistIndex()


@pytest.fixture
async def index(store: WorklistIndex) -> WorklistIndex:
    await store.ensure_indexes()
    return store


def make(i: int, *, status: str = "open", overdue: bool | None = None) -> WorklistEntry:
    """60 of them span 10 days, 6 a day at different hours (case ids do not sort like the times)."""
    return WorklistEntry(case_id=f"case-{(i * 37) % 1000:03}", person_id=f"person-{i}",
                         opened_at=T0 + timedelta(days=i % 10, hours=i // 10, minutes=i % 7),
                         status=status, service_areas=frozenset({AREAS[i % 4], AREAS[(i + 1) % 4]} if i % 5 == 0
                                                                else {AREAS[i % 4]}),
                         assigned_to=STAFF[i % 3], overdue=(i % 4 == 1) if overdue is None else overdue)


async def all_pages(index: WorklistIndex, query: WorklistQuery) -> tuple[list[WorklistEntry], list[WorklistPage]]:
    pages = [await index.page(query)]
    while pages[-1].next_cursor is not None:
        assert len(pages) < 100, "paging does not end"
        pages.append(await index.page(WorklistQuery(**{**query.__dict__, "after": pages[-1].next_cursor})))
    return [e for p in pages for e in p.entries], pages


def expected(entries: list[WorklistEntry], query: WorklistQuery) -> list[WorklistEntry]:
    return sorted((e for e in entries if query.matches(e)), key=lambda e: e.position, reverse=not query.oldest_first)


@pytest.fixture
async def sixty(index: WorklistIndex) -> list[WorklistEntry]:
    entries = [make(i) for i in range(60)]
    for entry in entries:
        await index.put(entry)
    return entries


@pytest.mark.parametrize("oldest_first", [True, False])
async def test_pages_walk_the_days_in_order_without_duplicates_or_omissions(
        index: WorklistIndex, sixty: list[WorklistEntry], oldest_first: bool) -> None:
    query = WorklistQuery(page_size=7, oldest_first=oldest_first)
    listed, pages = await all_pages(index, query)
    assert listed == expected(sixty, query)
    assert len(listed) == 60 and len({e.case_id for e in listed}) == 60
    assert [len(p.entries) for p in pages] == [7] * 8 + [4]
    assert all(p.total == 60 and p.total_is_exact for p in pages)
    first_day, last_day = listed[0].bucket, listed[-1].bucket
    assert (first_day < last_day) if oldest_first else (first_day > last_day)


@pytest.mark.parametrize("conditions", [
    {"service_area": "health"},
    {"assigned_to": "bia"},
    {"overdue_only": True},
    {"opened_before": date(2026, 11, 5)},
    {"service_area": "work", "assigned_to": "caio"},
    {"service_area": "education", "overdue_only": True, "oldest_first": False},
])
async def test_filters_list_exactly_the_matching_cases(
        index: WorklistIndex, sixty: list[WorklistEntry], conditions: dict[str, Any]) -> None:
    query = WorklistQuery(page_size=4, **conditions)
    listed, pages = await all_pages(index, query)
    want = expected(sixty, query)
    assert 0 < len(want) < 60
    assert listed == want
    first = pages[0]
    if first.total_is_exact:
        assert first.total == len(want)
    else:
        assert first.total >= len(want)


async def test_opened_before_is_exclusive_and_its_total_is_exact(
        index: WorklistIndex, sixty: list[WorklistEntry]) -> None:
    page = await index.page(WorklistQuery(opened_before=date(2026, 11, 2), page_size=100))
    assert {e.bucket[:10] for e in page.entries} == {"2026-11-01"}
    assert page.total == len(page.entries) == 6 and page.next_cursor is None


async def test_a_combination_seen_whole_on_one_page_has_an_exact_total(
        index: WorklistIndex, sixty: list[WorklistEntry]) -> None:
    query = WorklistQuery(service_area="work", assigned_to="caio", page_size=100)
    page = await index.page(query)
    assert page.next_cursor is None and page.total_is_exact
    assert page.total == len(expected(sixty, query)) == len(page.entries)


async def test_closing_a_case_moves_it_between_the_lists_and_fixes_the_totals(
        index: WorklistIndex, sixty: list[WorklistEntry]) -> None:
    moved = sixty[11]
    closed = WorklistEntry(**{**moved.__dict__, "status": "closed", "overdue": False})
    await index.put(closed)
    assert await index.get(moved.case_id) == closed
    open_listed, open_pages = await all_pages(index, WorklistQuery(page_size=9))
    assert moved.case_id not in {e.case_id for e in open_listed} and len(open_listed) == 59
    assert open_pages[0].total == 59
    staff = await index.page(WorklistQuery(assigned_to=moved.assigned_to, page_size=100))
    assert moved.case_id not in {e.case_id for e in staff.entries} and staff.total == len(staff.entries) == 19
    closed_page = await index.page(WorklistQuery(status="closed"))
    assert closed_page.entries == [closed] and closed_page.total == 1
    closed_by_area = await index.page(WorklistQuery(status="closed", service_area=next(iter(moved.service_areas))))
    assert closed_by_area.entries == [closed] and closed_by_area.total == 1
    # reopened on another day: listed once, at its new place
    reopened = WorklistEntry(**{**moved.__dict__, "opened_at": T0 + timedelta(days=20)})
    await index.put(reopened)
    listed, pages = await all_pages(index, WorklistQuery(page_size=9, oldest_first=False))
    assert listed[0] == reopened and len(listed) == 60 and pages[0].total == 60
    assert (await index.page(WorklistQuery(status="closed"))).total == 0


async def test_an_overdue_flag_moves_the_case_into_and_out_of_the_overdue_list(
        index: WorklistIndex, sixty: list[WorklistEntry]) -> None:
    calm = sixty[0]
    assert not calm.overdue
    before = (await index.page(WorklistQuery(overdue_only=True, page_size=100))).total
    await index.put(WorklistEntry(**{**calm.__dict__, "overdue": True}))
    late = await index.page(WorklistQuery(overdue_only=True, page_size=100))
    assert late.total == before + 1 and calm.case_id in {e.case_id for e in late.entries}
    await index.put(calm)
    assert (await index.page(WorklistQuery(overdue_only=True, page_size=100))).total == before


async def snapshot(index: WorklistIndex) -> Any:
    if isinstance(index, MongoWorklistIndex):
        return [sorted([d async for d in c.find({})], key=lambda d: str(d["_id"]))
                for c in (index.cases, index.keys, index.days, index.months)]
    assert isinstance(index, InMemoryWorklistIndex)
    return repr((index.cases, index.keys, index.days, index.months))


async def test_putting_the_same_entry_twice_changes_nothing(index: WorklistIndex) -> None:
    entries = [make(i) for i in range(8)]
    for entry in entries:
        await index.put(entry)
    before = await snapshot(index)
    for entry in entries:
        await index.put(entry)
    assert await snapshot(index) == before
    assert (await index.page(WorklistQuery())).total == 8


async def test_a_put_interrupted_midway_is_repaired_by_the_next_put(
        index: WorklistIndex, sixty: list[WorklistEntry], monkeypatch: pytest.MonkeyPatch) -> None:
    moved = sixty[3]
    closed = WorklistEntry(**{**moved.__dict__, "status": "closed"})

    async def crash(*args: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(index, "_inc", crash)
    with pytest.raises(RuntimeError):
        await index.put(closed)
    monkeypatch.undo()
    broken = await index.page(WorklistQuery(page_size=100))
    assert broken.total == 60 and len(broken.entries) == 59  # the count is off until repaired
    assert await index.get(moved.case_id) == moved  # the last complete put
    await index.put(closed)
    repaired = await index.page(WorklistQuery(page_size=100))
    assert repaired.total == len(repaired.entries) == 59
    assert (await index.page(WorklistQuery(status="closed"))).total == 1
    area = next(iter(moved.service_areas))
    by_area = await index.page(WorklistQuery(service_area=area, page_size=100))
    assert by_area.total == len(by_area.entries) == len([e for e in sixty if area in e.service_areas]) - 1


async def stored_documents(index: WorklistIndex) -> dict[str, Any]:
    """What the index holds, comparable across two indexes: each case's stored document, the members of each
    (key, bucket) and the non-zero counts (a case moved twice leaves an emptied document or a count back at 0
    where the batch, putting only its last entry, never wrote: the same lists and totals)."""
    if isinstance(index, MongoWorklistIndex):
        cases = {d["_id"]: d for d in await index.cases.find({}).to_list()}
        keys = {d["_id"]: d.get("e", []) for d in await index.keys.find({}).to_list()}
        days = {d["_id"]: d.get("days", {}) for d in await index.days.find({}).to_list()}
        months = {d["_id"]: d.get("months", {}) for d in await index.months.find({}).to_list()}
    else:
        assert isinstance(index, InMemoryWorklistIndex)
        cases, keys, days, months = index.cases, index.keys, index.days, index.months

    def counted(docs: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {i: {k: n for k, n in c.items() if n} for i, c in docs.items() if any(c.values())}

    return {"cases": cases, "keys": {kd: sorted(ms) for kd, ms in keys.items() if ms},
            "days": counted(days), "months": counted(months)}


@pytest.fixture
async def twin(store: WorklistIndex, request: pytest.FixtureRequest) -> WorklistIndex:
    """A second, empty index of the same kind."""
    if isinstance(store, MongoWorklistIndex):
        db: AsyncDatabase[dict[str, Any]] = request.getfixturevalue("intake_db")
        other = MongoWorklistIndex(db.client[f"{db.name}_twin"])
        await db.client.drop_database(f"{db.name}_twin")
        return other
    return InMemoryWorklistIndex()


async def test_a_batch_leaves_what_putting_each_in_order_leaves(
        index: WorklistIndex, twin: WorklistIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    """New cases, moved ones (closed, overdue, another area), one put twice in the batch (the last wins), one
    unchanged, and one left pending by an interrupted put (repaired after the batch)."""
    assert isinstance(index, InMemoryWorklistIndex | MongoWorklistIndex)
    assert isinstance(twin, InMemoryWorklistIndex | MongoWorklistIndex)
    first = [make(i) for i in range(20)]
    for entry in first:
        await index.put(entry)
        await twin.put(entry)
    interrupted = WorklistEntry(**{**first[7].__dict__, "assigned_to": "dora"})

    async def crash(*args: Any) -> None:
        raise RuntimeError("the process died here")

    for broken in (index, twin):
        monkeypatch.setattr(broken, "_inc", crash)
        with pytest.raises(RuntimeError):
            await broken.put(interrupted)
        monkeypatch.undo()
    batch = [make(i) for i in range(20, 35)]
    batch += [WorklistEntry(**{**first[2].__dict__, "status": "closed"}),
              WorklistEntry(**{**first[3].__dict__, "overdue": not first[3].overdue}),
              WorklistEntry(**{**first[4].__dict__, "service_areas": frozenset({"work"})}),
              WorklistEntry(**{**first[5].__dict__, "status": "closed"}),
              WorklistEntry(**{**first[5].__dict__, "status": "open", "assigned_to": "caio"}),
              first[6], interrupted]
    await index.put_batch(batch)
    for entry in batch:
        await twin.put(entry)
    assert await stored_documents(index) == await stored_documents(twin)
    everything, _ = await all_pages(index, WorklistQuery(page_size=100))
    assert everything == (await all_pages(twin, WorklistQuery(page_size=100)))[0]
    assert (await index.page(WorklistQuery(page_size=100))).total == len(everything) == 34  # 35, one closed


async def test_an_unknown_case_is_none_and_an_empty_worklist_has_no_pages(index: WorklistIndex) -> None:
    assert await index.get("nope") is None
    page = await index.page(WorklistQuery(service_area="health"))
    assert page == WorklistPage(entries=[], total=0, next_cursor=None)


@pytest.mark.infra
async def test_the_stored_documents_are_the_ones_described(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoWorklistIndex(intake_db)
    await index.ensure_indexes()
    entry = make(5)
    await index.put(entry)
    bucket_id = f"open|staff:{entry.assigned_to}|{entry.bucket}"
    bucket = await intake_db[WORKLIST_KEYS].find_one({"_id": bucket_id})
    assert bucket == {"_id": bucket_id, "e": [f"{entry.opened_iso}|{entry.case_id}"]}
    month = await intake_db[WORKLIST_DAYS].find_one({"_id": f"open|{entry.bucket[:7]}"})
    assert month == {"_id": f"open|{entry.bucket[:7]}", "days": {entry.bucket: 1}}
    summary = await intake_db[WORKLIST_MONTHS].find_one({"_id": "open"})
    assert summary == {"_id": "open", "months": {entry.bucket[:7]: 1}}
    case = await intake_db[WORKLIST].find_one({"_id": entry.case_id})
    assert case == {"_id": entry.case_id, "w": "\x1f".join([entry.opened_iso, "open", "\x1e".join(sorted(
        entry.service_areas)), entry.assigned_to, "1" if entry.overdue else "0", entry.person_id])}
    # the bulk load writes the same documents as put
    other = MongoWorklistIndex(intake_db.client[f"{intake_db.name}_bulk"])
    try:
        await other.put_many([entry])
        assert await other.keys.find({}).sort("_id", 1).to_list() == \
            await index.keys.find({}).sort("_id", 1).to_list()
        for mine, theirs in ((index.days, other.days), (index.months, other.months)):
            assert await theirs.find({}).sort("_id", 1).to_list() == await mine.find({}).sort("_id", 1).to_list()
        assert await other.get(entry.case_id) == entry
    finally:
        await intake_db.client.drop_database(f"{intake_db.name}_bulk")
    # closing it moves its members: nothing is left under the open keys of that day
    await index.put(WorklistEntry(**{**entry.__dict__, "status": "closed"}))
    assert (await intake_db[WORKLIST_KEYS].find_one({"_id": f"open|{entry.bucket}"}) or {}).get("e") == []
    assert (await intake_db[WORKLIST_KEYS].find_one({"_id": f"closed|{entry.bucket}"}) or {}).get("e") == \
        [f"{entry.opened_iso}|{entry.case_id}"]


@pytest.mark.infra
async def test_the_bulk_load_adds_to_day_documents_already_there(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    index = MongoWorklistIndex(intake_db)
    entries = [make(i) for i in range(60)]
    await index.put_many(entries[:30])
    await index.put_many(entries[30:])
    for query in (WorklistQuery(page_size=7), WorklistQuery(service_area="health", page_size=5, oldest_first=False),
                  WorklistQuery(assigned_to="ana", overdue_only=True)):
        listed, pages = await all_pages(index, query)
        assert listed == expected(entries, query)
        assert pages[0].total >= len(listed)


@pytest.mark.parametrize("oldest_first", [True, False])
async def test_pages_cross_months_and_opened_before_counts_part_of_a_month(
        index: WorklistIndex, oldest_first: bool) -> None:
    entries = [WorklistEntry(**{**make(i).__dict__, "opened_at": T0 + timedelta(days=9 * i, hours=i % 5)})
               for i in range(40)]  # one case every 9 days, about a year
    for entry in entries:
        await index.put(entry)
    for query in (WorklistQuery(page_size=6, oldest_first=oldest_first),
                  WorklistQuery(page_size=4, oldest_first=oldest_first, opened_before=date(2027, 3, 15)),
                  WorklistQuery(page_size=3, oldest_first=oldest_first, service_area="health",
                                opened_before=date(2027, 6, 2)),
                  WorklistQuery(page_size=2, oldest_first=oldest_first, assigned_to="bia", overdue_only=True)):
        listed, pages = await all_pages(index, query)
        assert listed == expected(entries, query)
        if pages[0].total_is_exact:
            assert pages[0].total == len(listed)
