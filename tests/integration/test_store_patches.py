"""The FerretDB patches in infra/ferretdb/patches, checked through the wire protocol.

Index use and filter pushdown are proven structurally, from the `explain` command: FerretDB reports whether
the filter was pushed down (`filterPushdown`) and SQLite's query plan (`queryPlanner.Plan`, lines such as
"detail=SEARCH <table> USING INDEX <table>__id_ (<expr>=?)" or "detail=SCAN <table>"). Nothing here is timed.

The module starts its own FerretDB from the patched binary. MIGRADESK_FERRETDB_BINARY=<path> runs the same
tests against another binary, e.g. the unpatched .local/bin/ferretdb-upstream
(infra.local.ferretdb_build.ensure_upstream_ferretdb), to see which tests catch which defect.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bson import Int64, ObjectId, Regex
from pymongo import MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from infra.local.process import free_port
from infra.local.store import LocalFerretDB

pytestmark = [pytest.mark.infra]

T = TypeVar("T")
Doc = dict[str, Any]

THREADS = 50


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Another build (e.g. the unpatched one, to see these tests fail on it), else the patched binary.
    override = os.environ.get("MIGRADESK_FERRETDB_BINARY")
    store = LocalFerretDB(name=f"ferretdb-patches-{uuid.uuid4().hex[:8]}", port=free_port(),
                          home=tmp_path_factory.mktemp("ferretdb"), binary=Path(override) if override else None)
    store.start()
    try:
        yield store.uri
    finally:
        store.stop()


@pytest.fixture(scope="module")
def client(store_uri: str) -> Iterator[MongoClient[Doc]]:
    with MongoClient(store_uri, socketTimeoutMS=60_000) as mongo:
        yield mongo


@pytest.fixture
def db(client: MongoClient[Doc]) -> Iterator[Database[Doc]]:
    name = f"patches_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)


def explain(db: Database[Doc], command: Doc) -> Doc:
    return db.command("explain", command)


def plan(explained: Doc) -> list[str]:
    return [line.split("detail=", 1)[1] for line in explained["queryPlanner"]["Plan"]]


def assert_index_search(explained: Doc, index_name: str) -> None:
    """The filter was pushed down and SQLite answers it by searching the named index, never by a scan."""
    details = plan(explained)
    assert explained["filterPushdown"] is True, explained
    assert not [d for d in details if d.startswith("SCAN")], details
    used = [d for d in details if re.search(rf"^SEARCH \S+ USING INDEX \S+_{re.escape(index_name)} \(", d)]
    assert used, details


def find_ids(coll: Collection[Doc], query: Doc) -> set[Any]:
    return {doc["_id"] for doc in coll.find(query)}


def run_concurrently(uri: str, count: int, work: Callable[[MongoClient[Doc], int], T]) -> list[T | BaseException]:
    """`count` threads, each with its own connection, released together; results (or exceptions) by thread."""
    clients: list[MongoClient[Doc]] = [MongoClient(uri, maxPoolSize=1, socketTimeoutMS=60_000) for _ in range(count)]
    for mongo in clients:
        mongo.admin.command("ping")  # connected before the barrier, so the requests really overlap
    barrier = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("thread did not finish")] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = work(clients[i], i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for mongo in clients:
            mongo.close()
    return results


def no_errors(results: list[T | BaseException]) -> list[T]:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    return [r for r in results if not isinstance(r, BaseException)]


# ---------------------------------------------------------------------------------------------------------------
# 0001: the _id index is used
# ---------------------------------------------------------------------------------------------------------------

def test_id_lookup_uses_id_index(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": f"k{i}", "n": i} for i in range(200)])
    assert_index_search(explain(db, {"find": "items", "filter": {"_id": "k7"}}), "_id_")
    assert list(db.items.find({"_id": "k7"})) == [{"_id": "k7", "n": 7}]

    oid = ObjectId()
    db.items.insert_one({"_id": oid, "n": -1})
    assert_index_search(explain(db, {"find": "items", "filter": {"_id": oid}}), "_id_")
    assert list(db.items.find({"_id": oid})) == [{"_id": oid, "n": -1}]


def test_updates_and_deletes_by_id(db: Database[Doc]) -> None:
    oids = [ObjectId() for _ in range(3)]
    db.items.insert_many([{"_id": f"k{i}", "n": i, "version": 0} for i in range(20)]
                         + [{"_id": oid, "n": 100 + i} for i, oid in enumerate(oids)]
                         + [{"_id": 5, "n": 5}, {"_id": 5.5, "n": 55}])

    assert db.items.update_one({"_id": "k3"}, {"$inc": {"n": 10}}).modified_count == 1
    assert db.items.update_one({"_id": oids[1]}, {"$set": {"tag": "b"}}).modified_count == 1
    assert db.items.update_one({"_id": 5}, {"$set": {"tag": "int"}}).modified_count == 1
    assert db.items.update_one({"_id": "k4", "version": 1}, {"$set": {"tag": "x"}}).matched_count == 0
    assert db.items.update_one({"_id": "k4", "version": 0}, {"$set": {"version": 1}}).modified_count == 1
    assert db.items.replace_one({"_id": "k5"}, {"n": 50}).modified_count == 1
    assert db.items.update_many({"_id": {"$in": ["k6", "k7", "nope"]}}, {"$set": {"tag": "many"}}).modified_count == 2
    assert db.items.delete_one({"_id": "k8"}).deleted_count == 1
    assert db.items.delete_one({"_id": "k9", "version": 1}).deleted_count == 0
    assert db.items.delete_many({"_id": {"$in": ["k10", oids[2], "nope"]}}).deleted_count == 2

    docs = {doc["_id"]: doc for doc in db.items.find()}
    assert docs["k3"]["n"] == 13
    assert docs[oids[1]]["tag"] == "b"
    assert docs[5]["tag"] == "int" and "tag" not in docs[5.5]
    assert docs["k4"]["version"] == 1 and "tag" not in docs["k4"]
    assert docs["k5"] == {"_id": "k5", "n": 50}
    assert docs["k6"]["tag"] == docs["k7"]["tag"] == "many"
    assert "k8" not in docs and "k10" not in docs and oids[2] not in docs and "k9" in docs
    assert len(docs) == 20 + 3 + 2 - 3
    # every other document untouched
    assert docs["k0"] == {"_id": "k0", "n": 0, "version": 0}
    assert docs[oids[0]] == {"_id": oids[0], "n": 100}


# ---------------------------------------------------------------------------------------------------------------
# 0002: _id conditions are pushed down whatever else the filter holds
# ---------------------------------------------------------------------------------------------------------------

def test_id_with_other_keys_pushed_down_and_correct(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": f"k{i}", "version": i % 3} for i in range(200)])
    query = {"_id": "k4", "version": 1}
    assert_index_search(explain(db, {"find": "items", "filter": query}), "_id_")
    assert list(db.items.find(query)) == [{"_id": "k4", "version": 1}]
    assert list(db.items.find({"_id": "k4", "version": 2})) == []
    assert list(db.items.find({"_id": "k4", "$or": [{"version": 0}, {"version": 1}]})) == [{"_id": "k4", "version": 1}]
    assert_index_search(explain(db, {"find": "items", "filter": {"_id": {"$eq": "k4"}, "version": 1}}), "_id_")


def test_id_in_pushed_down_and_correct(db: Database[Doc]) -> None:
    oid = ObjectId()
    db.items.insert_many([{"_id": f"k{i}"} for i in range(200)] + [{"_id": oid}, {"_id": 7}, {"_id": "x7"}])
    query = {"_id": {"$in": ["k1", "k150", oid, "missing"]}}
    assert_index_search(explain(db, {"find": "items", "filter": query}), "_id_")
    assert find_ids(db.items, query) == {"k1", "k150", oid}
    assert db.items.count_documents(query) == 3

    # not pushed down (a number may equal another numeric type, a regex matches patterns), still correct
    assert find_ids(db.items, {"_id": {"$in": ["k2", 7]}}) == {"k2", 7}
    assert find_ids(db.items, {"_id": {"$in": ["k3", Regex("^x")]}}) == {"k3", "x7"}
    assert find_ids(db.items, {"_id": {"$in": []}}) == set()
    assert find_ids(db.items, {"_id": {"$in": ["k4", "k5"], "$nin": ["k5"]}}) == {"k4"}


# ---------------------------------------------------------------------------------------------------------------
# 0003: equality on indexed top-level fields is pushed down and searches the index
# ---------------------------------------------------------------------------------------------------------------

def test_indexed_boolean_and_string_equality_use_the_index(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": f"k{i}", "flag": i % 100 == 0, "state": f"s{i % 7}", "n": i} for i in range(700)])
    db.items.create_index("flag")
    db.items.create_index("state")

    assert_index_search(explain(db, {"find": "items", "filter": {"flag": True}}), "flag_1")
    assert find_ids(db.items, {"flag": True}) == {f"k{i}" for i in range(0, 700, 100)}
    assert_index_search(explain(db, {"find": "items", "filter": {"state": "s3", "n": {"$gt": 600}}}), "state_1")
    assert find_ids(db.items, {"state": "s3", "n": {"$gt": 600}}) == {f"k{i}" for i in range(601, 700) if i % 7 == 3}
    assert_index_search(explain(db, {"find": "items", "filter": {"flag": {"$eq": True}}}), "flag_1")

    # count_documents is an aggregate whose first stage is the $match: the same pushdown applies
    pipeline = [{"$match": {"flag": True}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    assert_index_search(explain(db, {"aggregate": "items", "pipeline": pipeline, "cursor": {}}), "flag_1")
    assert db.items.count_documents({"flag": True}) == 7
    assert db.items.count_documents({"flag": False}) == 693
    assert db.items.count_documents({"state": "s6"}) == 100


def test_non_indexed_equality_still_correct(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": i, "n": i % 10, "tag": ["a", "b"] if i % 2 else "a"} for i in range(100)])
    db.items.create_index("other")
    assert explain(db, {"find": "items", "filter": {"n": 3}})["filterPushdown"] is False
    assert find_ids(db.items, {"n": 3}) == set(range(3, 100, 10))
    assert len(find_ids(db.items, {"tag": "a"})) == 100
    assert find_ids(db.items, {"tag": "b", "n": 1}) == set(range(1, 100, 10))


def test_array_valued_field_still_matched(db: Database[Doc]) -> None:
    db.items.insert_many([
        {"_id": "scalar", "tags": "x"},
        {"_id": "contains", "tags": ["y", "x"]},
        {"_id": "other-array", "tags": ["y", "z"]},
        {"_id": "array-of-documents", "tags": [{"x": "x"}]},
        {"_id": "document", "tags": {"x": 1}},
        {"_id": "empty", "tags": []},
        {"_id": "missing"},
        {"_id": "other", "tags": "y"},
    ])
    db.items.create_index("tags")

    assert_index_search(explain(db, {"find": "items", "filter": {"tags": "x"}}), "tags_1")
    # MongoDB: a field matches if it equals the value or is an array with an element equal to it
    assert find_ids(db.items, {"tags": "x"}) == {"scalar", "contains"}
    assert find_ids(db.items, {"tags": "y"}) == {"contains", "other-array", "other"}
    assert db.items.count_documents({"tags": "z"}) == 1
    assert db.items.update_many({"tags": "x"}, {"$set": {"hit": True}}).modified_count == 2
    assert find_ids(db.items, {"hit": True}) == {"scalar", "contains"}
    assert db.items.delete_many({"tags": "y"}).deleted_count == 3


def test_compound_index_equality_with_arrays(db: Database[Doc]) -> None:
    db.items.insert_many([
        {"_id": 1, "a": "x", "b": 2},
        {"_id": 2, "a": ["x", "w"], "b": 2},
        {"_id": 3, "a": "x", "b": [1, 2]},
        {"_id": 4, "a": "x", "b": 3},
        {"_id": 5, "a": "w", "b": 2},
        {"_id": 6, "a": "x", "b": 2.0},
        {"_id": 7, "a": "x"},
    ])
    db.items.create_index([("a", 1), ("b", -1)])
    query = {"a": "x", "b": 2}
    assert_index_search(explain(db, {"find": "items", "filter": query}), "a_1_b_-1")
    assert find_ids(db.items, query) == {1, 2, 3, 6}
    assert_index_search(explain(db, {"find": "items", "filter": {"a": "w"}}), "a_1_b_-1")
    assert find_ids(db.items, {"a": "w"}) == {2, 5}


def test_strings_booleans_and_numbers_not_confused(db: Database[Doc]) -> None:
    tricky = 'x<&>"é\u2028\\ \x01'
    values: dict[str, Any] = {
        "bool-true": True, "str-true": "true", "bool-false": False, "str-false": "false",
        "int-1": 1, "long-1": Int64(1), "double-1": 1.0, "str-1": "1", "double-1.5": 1.5,
        "int-0": 0, "double-neg0": -0.0, "str-empty": "", "null": None, "doc": {"a": 1},
        "arr-true": [True, False], "arr-str-1": ["1", "x"], "arr-int-1": [2, 1], "arr-other": ["y"],
        "tricky": tricky, "int-big": Int64(2**53 + 1), "long-2^60": Int64(2**60),
    }
    db.items.insert_many([{"_id": key, "v": value} for key, value in values.items()] + [{"_id": "missing"}])
    db.items.create_index("v")

    expected: list[tuple[Any, set[str]]] = [
        (True, {"bool-true", "arr-true"}),
        ("true", {"str-true"}),
        (False, {"bool-false", "arr-true"}),
        ("false", {"str-false"}),
        (1, {"int-1", "long-1", "double-1", "arr-int-1"}),
        (Int64(1), {"int-1", "long-1", "double-1", "arr-int-1"}),
        (1.0, {"int-1", "long-1", "double-1", "arr-int-1"}),
        ("1", {"str-1", "arr-str-1"}),
        (0, {"int-0", "double-neg0"}),
        (-0.0, {"int-0", "double-neg0"}),
        ("", {"str-empty"}),
        (tricky, {"tricky"}),
        ("x", {"arr-str-1"}),
        (1.5, {"double-1.5"}),
        (Int64(2**53 + 1), {"int-big"}),
        (Int64(2**60), {"long-2^60"}),
    ]
    for value, ids in expected:
        assert find_ids(db.items, {"v": value}) == ids, value
        assert db.items.count_documents({"v": value}) == len(ids), value
    for value in (True, "true", 1, Int64(1), 1.0, "1", 0, "", tricky):
        assert_index_search(explain(db, {"find": "items", "filter": {"v": value}}), "v_1")


# ---------------------------------------------------------------------------------------------------------------
# 0004: single-document writes are atomic
# ---------------------------------------------------------------------------------------------------------------

def test_concurrent_increments_all_kept(db: Database[Doc], store_uri: str) -> None:
    db.counters.insert_one({"_id": "c", "n": 0})

    def increment(mongo: MongoClient[Doc], i: int) -> int:
        return mongo[db.name].counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}).modified_count

    assert no_errors(run_concurrently(store_uri, THREADS, increment)) == [1] * THREADS
    assert db.counters.find_one({"_id": "c"}) == {"_id": "c", "n": THREADS}


def test_concurrent_find_and_modify_see_distinct_values(db: Database[Doc], store_uri: str) -> None:
    db.counters.insert_one({"_id": "seq", "n": 0})

    def take(mongo: MongoClient[Doc], i: int) -> int:
        doc = mongo[db.name].counters.find_one_and_update({"_id": "seq"}, {"$inc": {"n": 1}},
                                                          return_document=ReturnDocument.AFTER)
        assert doc is not None
        return int(doc["n"])

    assert sorted(no_errors(run_concurrently(store_uri, THREADS, take))) == list(range(1, THREADS + 1))


def test_concurrent_conditional_updates_apply_once(db: Database[Doc], store_uri: str) -> None:
    rounds, contenders = 10, 5
    db.docs.insert_one({"_id": "d", "version": 0, "applied": 0})
    for version in range(rounds):
        def bump(mongo: MongoClient[Doc], i: int, version: int = version) -> int:
            result = mongo[db.name].docs.update_one({"_id": "d", "version": version},
                                                    {"$set": {"version": version + 1}, "$inc": {"applied": 1}})
            return result.modified_count

        assert sorted(no_errors(run_concurrently(store_uri, contenders, bump))) == [0] * (contenders - 1) + [1]
    assert db.docs.find_one({"_id": "d"}) == {"_id": "d", "version": rounds, "applied": rounds}


def test_concurrent_conditional_delete_and_update_exclusive(db: Database[Doc], store_uri: str) -> None:
    for attempt in range(10):
        db.docs.insert_one({"_id": f"d{attempt}", "version": 0})

        def act(mongo: MongoClient[Doc], i: int, attempt: int = attempt) -> int:
            coll = mongo[db.name].docs
            query = {"_id": f"d{attempt}", "version": 0}
            if i % 2:
                return coll.delete_one(query).deleted_count
            return coll.update_one(query, {"$set": {"version": 1}}).modified_count

        # exactly one of them saw version 0 and acted on it
        assert sum(no_errors(run_concurrently(store_uri, 4, act))) == 1, attempt


def test_concurrent_upserts_insert_once(db: Database[Doc], store_uri: str) -> None:
    contenders = 8
    for attempt in range(5):
        key = f"u{attempt}"

        def upsert(mongo: MongoClient[Doc], i: int, key: str = key) -> bool:
            result = mongo[db.name].docs.update_one({"_id": key}, {"$inc": {"n": 1}}, upsert=True)
            return result.upserted_id is not None

        inserted = no_errors(run_concurrently(store_uri, contenders, upsert))
        assert inserted.count(True) == 1, inserted
        assert db.docs.find_one({"_id": key}) == {"_id": key, "n": contenders}


# ---------------------------------------------------------------------------------------------------------------
# 0005 and 0006 only make reads and writes cheaper: every stored value must come back exactly as written.
# (Their gain is measured by `make bench` part "store", patched against unpatched; nothing here is timed.)
# ---------------------------------------------------------------------------------------------------------------

# Strings the fast path of 0006 takes (plain ASCII, accents, CJK, emoji) and those it leaves to the JSON decoder
# (quotes, backslashes, control characters, characters that JSON escapes when writing).
ROUND_TRIP_STRINGS = [
    "", "plain", "José María Rodríguez", "Nguyễn Thị", "陈", "🙂 ok", "tab\there", "new\nline", 'quote"d',
    "back\\slash", "\x01\x1f", "<script>&amp;</script>", "\u2028\u2029", "a" * 5000,
    "31a79346-e2b0-48ac-a38c-a93957290916\x1f1974-08-20\x1fLuz Rodríguez Duarte",
]


def round_trip_document(n: int) -> Doc:
    return {
        "_id": f"doc-{n}",
        "strings": ROUND_TRIP_STRINGS,
        "postings": [f"{uuid.UUID(int=i)}\x1f2001-01-0{1 + i % 9}\x1fNome Sobrenome {i} Ñandú" for i in range(300)],
        "mixed": ["x", 1, Int64(2**40), 1.5, -0.0, True, None, {"k": "v", "n": 1}, ObjectId(),
                  Regex("^a", "i")],
        "nested": {"level": {"deeper": {"s": 'é"\\', "list": [{}, "x"], "t": False}}},
        "empty_doc": {}, "empty_list": [], "null": None, "n": n,  # (the store refuses nested arrays)
    }


def test_stored_values_read_back_exactly(db: Database[Doc]) -> None:
    written = [round_trip_document(n) for n in range(3)]
    db.values.insert_many(written)
    for doc in written:
        assert db.values.find_one({"_id": doc["_id"]}) == doc
    assert sorted(db.values.find(), key=lambda d: d["n"]) == written


def test_updated_values_read_back_exactly(db: Database[Doc]) -> None:
    doc = round_trip_document(0)
    db.values.insert_one(doc)
    added = 'new "member" \\ é \x02'
    db.values.update_one({"_id": doc["_id"]}, {"$addToSet": {"postings": {"$each": [added, doc["postings"][0]]}},
                                               "$inc": {"n": 5}, "$set": {"nested.level.deeper.s": "ü"}})
    expected = {**doc, "postings": [*doc["postings"], added], "n": 5,
                "nested": {"level": {"deeper": {**doc["nested"]["level"]["deeper"], "s": "ü"}}}}
    assert db.values.find_one({"_id": doc["_id"]}) == expected
    db.values.update_one({"_id": doc["_id"]}, {"$pull": {"postings": added, "strings": "陈"}})
    expected = {**expected, "postings": doc["postings"], "strings": [s for s in ROUND_TRIP_STRINGS if s != "陈"]}
    assert db.values.find_one({"_id": doc["_id"]}) == expected
