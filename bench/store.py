"""Store micro-benchmark: the patched FerretDB (infra/ferretdb/patches) against the unpatched one.

For each collection size (BENCH_STORE_SIZES, comma-separated, default 1000,10000,100000) and each binary, a fresh
FerretDB on a free loopback port and an empty data directory is loaded with documents
{_id: str, version: int, flag: bool (1% true), n: int, pad: 200 bytes} (insert_many, batches of 1000; index
on flag), then one client measures, one cell per operation:

    update_one({_id})            {$inc: {n: 1}} on a random document
    update_one({_id, version})   {$set: {version: v + 1}} with the document's current version (always matches)
    find({flag: true})           all the 1% flagged documents
    find_one({_id})              a random document
    $addToSet/$pull, 256 members one of 100 documents holding a list of 256 strings of 60 bytes (a posting chunk
                                 of the person search, a worklist bucket): add one member, then pull it again

Each cell stops after BENCH_STORE_SECONDS (default 5) or BENCH_STORE_MAX_OPS operations (default 3000),
whichever comes first (an operation already started finishes), because the unpatched store needs seconds per
operation at 10^5 documents. The table gives ops/s, the number of operations behind each figure, and the
patched/unpatched ratio. Nothing here asserts a time.

    python -m bench.store
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from infra.local.ferretdb_build import ensure_upstream_ferretdb
from infra.local.paths import LOCAL_DIR
from infra.local.process import free_port
from infra.local.store import LocalFerretDB, ensure_ferretdb_binary

Doc = dict[str, Any]

DEFAULT_SIZES = [1_000, 10_000, 100_000]
BATCH = 1_000
PAD = "x" * 200
OPERATIONS = ("update_one({_id})", "update_one({_id, version})", "find({flag: true})", "find_one({_id})",
              "$addToSet/$pull, 256 members")
LISTS, LIST_MEMBERS = 100, 256


@dataclass
class Cell:
    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def _env_ints(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name, "").strip()
    return [int(part) for part in raw.split(",") if part.strip()] if raw else default


@contextlib.contextmanager
def running_ferretdb(binary: Path, label: str) -> Iterator[str]:
    """A FerretDB from `binary` on a free loopback port over a new, afterwards deleted, data directory."""
    (LOCAL_DIR / "run").mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"bench-store-{label}-", dir=LOCAL_DIR / "run"))
    store = LocalFerretDB(name=f"bench-store-{label}", port=free_port(), home=home, binary=binary)
    try:
        store.start()
        yield store.uri
    finally:
        store.stop()
        shutil.rmtree(home, ignore_errors=True)


def _load(client: MongoClient[Doc], size: int) -> Collection[Doc]:
    coll = client.bench.docs
    for start in range(0, size, BATCH):
        coll.insert_many([{"_id": f"d{i:07d}", "version": 0, "flag": i % 100 == 0, "n": i, "pad": PAD}
                          for i in range(start, min(start + BATCH, size))], ordered=False)
    coll.create_index("flag")
    member = "{:03d}-{:04d}\x1f2001-02-03\x1fNome Sobrenome Ñandú {:04d}"
    client.bench.lists.insert_many([{"_id": f"l{i:03d}", "m": [member.format(i, j, j) for j in range(LIST_MEMBERS)]}
                                    for i in range(LISTS)])
    return coll


def _measure(op: Callable[[], object], seconds: float, max_ops: int) -> Cell:
    ops = 0
    start = time.perf_counter()
    deadline = start + seconds
    while ops < max_ops and time.perf_counter() < deadline:
        op()
        ops += 1
    return Cell(ops, time.perf_counter() - start)


def _bench_binary(binary: Path, label: str, size: int, seconds: float, max_ops: int) -> dict[str, Cell]:
    rng = random.Random(size)  # the same sequence of documents for both binaries
    with running_ferretdb(binary, label) as uri:
        client: MongoClient[Doc] = MongoClient(uri, socketTimeoutMS=600_000)
        try:
            return _run_cells(client, size, rng, seconds, max_ops)
        finally:
            client.close()


def _run_cells(client: MongoClient[Doc], size: int, rng: random.Random, seconds: float,
               max_ops: int) -> dict[str, Cell]:
    coll = _load(client, size)
    versions: dict[str, int] = {}
    flagged = (size + 99) // 100

    def update_by_id() -> None:
        coll.update_one({"_id": f"d{rng.randrange(size):07d}"}, {"$inc": {"n": 1}})

    def update_by_id_and_version() -> None:
        key = f"d{rng.randrange(size):07d}"
        version = versions.get(key, 0)
        result = coll.update_one({"_id": key, "version": version}, {"$set": {"version": version + 1}})
        if result.modified_count != 1:
            raise RuntimeError(f"conditional update of {key} at version {version} did not apply")
        versions[key] = version + 1

    def find_flagged() -> None:
        found = len(list(coll.find({"flag": True})))
        if found != flagged:
            raise RuntimeError(f"find({{flag: true}}) returned {found} documents, expected {flagged}")

    def find_by_id() -> None:
        if coll.find_one({"_id": f"d{rng.randrange(size):07d}"}) is None:
            raise RuntimeError("find_one by _id found nothing")

    lists = client.bench.lists
    added: set[str] = set()

    def add_or_pull_member() -> None:
        key = f"l{rng.randrange(LISTS):03d}"
        update = {"$pull": {"m": "extra"}} if key in added else {"$addToSet": {"m": "extra"}}
        if lists.update_one({"_id": key}, update).modified_count != 1:
            raise RuntimeError(f"{update} of {key} changed nothing")
        added.symmetric_difference_update({key})

    ops = (update_by_id, update_by_id_and_version, find_flagged, find_by_id, add_or_pull_member)
    return {name: _measure(op, seconds, max_ops) for name, op in zip(OPERATIONS, ops, strict=True)}


def run_store_bench(sizes: list[int] | None = None) -> list[str]:
    """Run the benchmark and return the table's lines (see the module docstring); blocking."""
    sizes = sizes or _env_ints("BENCH_STORE_SIZES", DEFAULT_SIZES)
    seconds = float(os.environ.get("BENCH_STORE_SECONDS", "5"))
    max_ops = int(os.environ.get("BENCH_STORE_MAX_OPS", "3000"))
    binaries = {"patched": ensure_ferretdb_binary(), "upstream": ensure_upstream_ferretdb(LOCAL_DIR)}

    lines = [f"store micro-benchmark: one client, ops/s (operations measured); each cell stops after {seconds:g} s "
             f"or {max_ops} ops",
             f"{'documents':>10}  {'operation':<28}{'patched':>16}{'unpatched':>16}{'ratio':>10}"]
    for index, size in enumerate(sizes):
        results: dict[str, dict[str, Cell]] = {}
        # alternate which binary goes first, so neither always meets a warmer page cache
        order = list(binaries) if index % 2 == 0 else list(reversed(binaries))
        for label in order:
            print(f"[bench.store] {label}, {size} documents...", file=sys.stderr, flush=True)
            results[label] = _bench_binary(binaries[label], label, size, seconds, max_ops)
        for name in OPERATIONS:
            patched, upstream = results["patched"][name], results["upstream"][name]
            ratio = f"{patched.rate / upstream.rate:.1f}x" if upstream.rate else "n/a"
            lines.append(f"{size:>10}  {name:<28}{patched.rate:>9.1f} ({patched.ops:>4})"
                         f"{upstream.rate:>9.1f} ({upstream.ops:>4}){ratio:>10}")
    return lines


def main() -> int:
    for line in run_store_bench():
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
