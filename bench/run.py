"""MigraDesk benchmarks: ratios against baselines measured in the same run, A/B alternating (DESIGN.md §7b).

  (a) pipeline: events/s of the metrics consumer (FastStream batch subscriber, DLQ/retry wrapper, inbox,
      guarded rollups) vs the plain loop a competent engineer writes: aiokafka getmany -> validate -> one
      insert_many per batch -> commit per batch, same broker and store;
  (b) end-to-end latency, open loop (bench/e2e.py): p50/p99 from a POST at the desk to the referral in the
      agency inbox and to the metrics count, at fixed offered loads and a burst, over stores already holding
      BENCH_STORED_SIZES cases (registered through intake's handler, bench/seed.py); ratios large/small store;
  (c) intake: requests/s and resident memory of the intake service vs a bare FastAPI + insert_one app;
  (d) dashboard: the metrics summary read from rollups vs a naive $group over one document per request, at
      growing numbers of requests;
  (e) rebuild by replay (bench/replay.py): metrics' rebuild (`python -m migradesk_metrics rebuild`) from
      offset 0 into an empty store vs a raw aiokafka drain of the same topics;
  (g) dashboard pages (bench/pages.py): p50/p99 of the coordinators' pages and CSV, signed in, over rollups of
      BENCH_PAGE_SIZES requests (a year of a desk's events), against a bare page of the same app;
  (f) worklist and person search (bench/worklist.py): p50/p95 of worklist pages and searches over
      BENCH_WORKLIST_SIZES stored cases and people (bulk-seeded through the index adapters), the ratio
      largest/smallest, and a plain find_one by _id on the same store as the baseline.

Sizes are env-overridable: BENCH_EVENTS, BENCH_REQUESTS, BENCH_DASHBOARD_SIZES, BENCH_STORED_SIZES, BENCH_RATES,
BENCH_SECONDS, BENCH_BURST, BENCH_REPLAY_EVENTS, BENCH_STORE_SIZES, BENCH_WORKLIST_SIZES, BENCH_PAGE_SIZES (lists
comma-separated);
the defaults keep a run under about 20 minutes on 2 cores. BENCH_ONLY=a,e (and/or b, c, d, f, g, store) runs only those
parts. Nothing here asserts a time: it prints ratios.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from bench.e2e import bench_latency
from bench.pages import bench_pages
from bench.replay import bench_replay, desk_wide_counts, live_metrics_consumers
from bench.seed import synthetic_case
from bench.worklist import bench_worklist
from infra.local.paths import LOCAL_DIR, REPO_ROOT
from infra.local.process import free_port, spawn, wait_http_ready
from infra.local.services import start_service
from infra.local.stack import Infra, start_infra
from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.domain.rollups import period_of
from migradesk_metrics.service import count_events, summary
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.case_events import PersonFacets, RequestLogged
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import Delivery, ensure_topics
from migradesk_shared.topics import CASE_EVENTS, ServiceArea, TopicNames

TZ = ZoneInfo("America/Sao_Paulo")
AREAS = list(ServiceArea)
ROUNDS = 2


def say(line: str) -> None:
    print(line, flush=True)


def events(n: int) -> list[RequestLogged]:
    return [RequestLogged(producer="bench", case_id=str(uuid.uuid4()), request_id=str(uuid.uuid4()),
                          category="sus_card", service_area=AREAS[i % len(AREAS)], municipality="Dourados-MS",
                          facets=PersonFacets(nationality="VEN", language="es")) for i in range(n)]


async def wait_until(probe: Callable[[], Awaitable[bool]], timeout: float = 600, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark round did not finish")
        await asyncio.sleep(interval)


# -------------------------------------------------------------------------------------------------- (a) pipeline

async def publish(infra: Infra, topic: str, batch: list[RequestLogged]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, linger_ms=20, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, e.model_dump_json().encode(), key=e.case_id.encode()) for e in batch]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def filled_topic(infra: Infra, n: int) -> TopicNames:
    """A fresh topic prefix whose case-events topic holds n events, so each round reads from offset 0. Every
    topic of the list is created, as the services' runtime would at start-up (outside the timed window)."""
    names = TopicNames(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(infra.bootstrap_servers, names)
    await publish(infra, names(CASE_EVENTS), events(n))
    return names


async def pipeline_round(infra: Infra, mongo: AsyncMongoClient[dict[str, Any]], n: int) -> float:
    """The metrics service's consumers as its composition root wires them (batch subscriber, DLQ/retry wrapper,
    inbox, guarded rollups; its other topics are empty here), into an empty database."""
    names = await filled_topic(infra, n)
    database = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
    period = period_of(datetime.now(UTC), TZ)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        started = time.perf_counter()
        async with live_metrics_consumers(infra, names, database=database, group="metrics") as repository:

            async def committed() -> bool:
                # The consumer commits a batch only after its claims and rollups are stored, so once every
                # event's offset is committed, every effect is stored. Asking the broker, not the store, keeps
                # the poll off the store being measured (the baseline's loop needs no poll at all).
                offsets = await admin.list_consumer_group_offsets(f"{names.prefix}metrics.{CASE_EVENTS.name}")
                return sum(max(meta.offset, 0) for meta in offsets.values()) >= n

            await wait_until(committed)
            rate = n / (time.perf_counter() - started)
            counted = (await desk_wide_counts(repository, period)).get("requests_logged", 0)
        claimed = await mongo[database]["processed_events"].count_documents({})
        if counted != n or claimed < n:
            raise RuntimeError(f"after every offset was committed the rollups count {counted} and the inbox holds "
                               f"{claimed} of {n} events")
        return rate
    finally:
        await admin.close()
        await mongo.drop_database(database)


async def raw_round(infra: Infra, mongo: AsyncMongoClient[dict[str, Any]], n: int) -> float:
    """The best plain baseline: per fetched batch, validate each value with the same pydantic adapter, ONE
    unordered insert_many, then one commit. Redelivered events (same _id) are skipped, so it is idempotent."""
    names = await filled_topic(infra, n)
    adapter = adapter_for(CASE_EVENTS)
    db = mongo[f"bench_raw_{uuid.uuid4().hex[:8]}"]
    collection = db["events"]
    consumer = AIOKafkaConsumer(names(CASE_EVENTS), bootstrap_servers=infra.bootstrap_servers,
                                group_id=f"{names.prefix}raw", auto_offset_reset="earliest", enable_auto_commit=False)
    started = time.perf_counter()
    deadline = time.monotonic() + 600
    await consumer.start()
    done = 0
    try:
        while done < n:
            if time.monotonic() > deadline:
                raise TimeoutError("raw pipeline round did not finish")
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            docs = []
            for records in batch.values():
                for record in records:
                    event = adapter.validate_json(record.value)
                    docs.append({"_id": event.event_id, "type": event.event_type, "municipality": event.municipality,
                                 "area": event.service_area, "at": event.occurred_at})
            if not docs:
                continue
            try:
                await collection.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                    raise
            await consumer.commit()
            done += len(docs)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await mongo.drop_database(db.name)


async def bench_pipeline(infra: Infra, mongo: AsyncMongoClient[dict[str, Any]], n: int) -> None:
    ours, base = [], []
    for _ in range(ROUNDS):
        base.append(await raw_round(infra, mongo, n))
        ours.append(await pipeline_round(infra, mongo, n))
    a, b = statistics.median(ours), statistics.median(base)
    say(f"(a) pipeline        {n} events   metrics consumer {a:8.1f} ev/s   getmany+validate+insert_many+commit "
        f"{b:8.1f} ev/s   ratio {a / b:5.2f}")


# ---------------------------------------------------------------------------------------------------- (c) intake

async def load(url: str, n: int, concurrency: int = 16, token: str = "") -> float:
    # Different people, as at a desk (the same body for both apps): names, ages, nationalities and categories vary.
    rng = random.Random(n)
    bodies = [synthetic_case(i, rng) for i in range(n)]
    queue = iter(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        for body in queue:
            response = await client.post(f"{url}/api/cases", json=body)
            response.raise_for_status()

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def bench_intake(infra: Infra, n: int) -> None:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    secret = secrets.token_urlsafe(32)
    intake = start_service("intake", infra, free_port(), namespace, secret)
    token = issue_token(secret, subject="bench", role=Role.STAFF)
    port = free_port()
    baseline_log = LOCAL_DIR / "logs" / f"{namespace}-baseline.log"
    baseline = spawn(f"service-{namespace}-baseline", [sys.executable, "-m", "bench.baseline_intake"], baseline_log,
                     env={**os.environ, "BASELINE_MONGODB_URI": infra.mongodb_uri,
                          "BASELINE_DATABASE": f"{namespace}_baseline", "BASELINE_PORT": str(port)}, cwd=REPO_ROOT)
    try:
        wait_http_ready(f"http://127.0.0.1:{port}", process=baseline, log_path=baseline_log)
        await load(intake.url, 50, token=token)
        await load(f"http://127.0.0.1:{port}", 50)  # warm both
        ours, base = [], []
        for _ in range(ROUNDS):
            base.append(await load(f"http://127.0.0.1:{port}", n))
            ours.append(await load(intake.url, n, token=token))
        a, b = statistics.median(ours), statistics.median(base)
        say(f"(c) intake          {n} POSTs    intake service {a:8.1f} req/s   bare FastAPI+insert_one {b:8.1f} req/s"
            f"   ratio {a / b:5.2f}")
        ra, rb = rss_kib(intake.process.pid), rss_kib(baseline.pid)
        say(f"    memory          intake RSS {ra / 1024:6.1f} MiB   baseline RSS {rb / 1024:6.1f} MiB"
            f"   ratio {ra / max(rb, 1):5.2f}")
    finally:
        intake.stop()
        baseline.terminate()
        baseline.wait(timeout=20)


# ------------------------------------------------------------------------------------------------- (d) dashboard

async def bench_dashboard(db: Any, sizes: list[int]) -> None:
    repository = MongoRollupRepository(db)
    await repository.ensure_indexes()
    facts = db["request_facts"]
    await facts.create_index([("municipality", 1), ("period", 1)])
    seeded = 0
    for size in sizes:
        while seeded < size:
            chunk = min(5000, size - seeded)
            batch = events(chunk)
            await facts.insert_many([{"_id": e.event_id, "municipality": e.municipality, "period": "2026-11",
                                      "area": e.service_area.value if e.service_area else "desk"} for e in batch])
            positioned = [(e, Delivery("bench", 0, offset)) for offset, e in enumerate(batch, start=seeded)]
            await count_events(positioned, repository=repository, tz=TZ)
            seeded += chunk

        async def naive() -> Any:
            pipeline = [{"$match": {"municipality": "Dourados-MS", "period": "2026-11"}},
                        {"$group": {"_id": "$area", "requests_logged": {"$sum": 1}}}]
            return await (await facts.aggregate(pipeline)).to_list()

        async def rollups() -> Any:
            return await summary(repository, municipality="Dourados-MS", period="2026-11")

        naive_times: list[float] = []
        rollup_times: list[float] = []
        for _ in range(5):
            for fn, sink in ((naive, naive_times), (rollups, rollup_times)):
                started = time.perf_counter()
                await fn()
                sink.append(time.perf_counter() - started)
        a, b = statistics.median(rollup_times), statistics.median(naive_times)
        say(f"(d) dashboard       {size:>7} requests   rollups {a * 1000:8.2f} ms   naive $group {b * 1000:8.2f} ms"
            f"   speed-up {b / a:6.1f}x")


def sizes_from_env(name: str, default: str) -> list[int]:
    return [int(s) for s in os.environ.get(name, default).split(",") if s.strip()]


async def store_bench_hook(sizes: list[int]) -> None:
    """Store micro-benchmarks (bench/store.py, also `python -m bench.store`) when that module is there: it is
    written separately, so its absence (or another shape) skips it with a line saying so. It starts its own
    stores; an empty `sizes` lets it choose."""
    if importlib.util.find_spec("bench.store") is None:
        say("(store) micro-benchmarks   skipped: there is no bench/store.py")
        return
    run_store_bench = getattr(importlib.import_module("bench.store"), "run_store_bench", None)
    if run_store_bench is None:
        say("(store) micro-benchmarks   skipped: bench/store.py has no run_store_bench(sizes)")
        return
    # It blocks (a synchronous client); a thread keeps this loop's clients alive meanwhile.
    outcome = await asyncio.to_thread(run_store_bench, sizes or None)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    for line in outcome if isinstance(outcome, list) else []:
        say(f"(store) {line}")


async def main() -> None:
    # Enough events that the pipeline's steady state, not its start-up, is measured.
    n_events = int(os.environ.get("BENCH_EVENTS", "20000"))
    n_requests = int(os.environ.get("BENCH_REQUESTS", "500"))
    sizes = sizes_from_env("BENCH_DASHBOARD_SIZES", "10000,50000")
    # 10^5 stored cases is the size that matters, but registering them and letting the pipeline route them all
    # takes over an hour on 2 cores today (referral routes some 20-40 requests/s, one message at a time), so
    # the default stops at 10^4; BENCH_STORED_SIZES=1000,100000 runs the large one.
    stored_sizes = sizes_from_env("BENCH_STORED_SIZES", "1000,10000")
    rates = [float(r) for r in os.environ.get("BENCH_RATES", "5,20,50").split(",") if r.strip()]
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    burst = int(os.environ.get("BENCH_BURST", "200"))
    # A rebuild replays a city's whole log: 10^5 events is a year of a large desk.
    replay_events = int(os.environ.get("BENCH_REPLAY_EVENTS", "100000"))
    store_sizes = sizes_from_env("BENCH_STORE_SIZES", "")
    worklist_sizes = sizes_from_env("BENCH_WORKLIST_SIZES", "1000,100000")
    # 10^6 requests is a year of a large city's desk; seeding them takes a minute and a half on 2 cores.
    page_sizes = sizes_from_env("BENCH_PAGE_SIZES", "1000,1000000")
    # BENCH_ONLY=a,e (letters of the list above, and "store") runs a part; all of them by default.
    only = {part.strip() for part in os.environ.get("BENCH_ONLY", "a,b,c,d,e,f,g,store").split(",") if part.strip()}
    run_name = f"bench-{uuid.uuid4().hex[:6]}"
    # `kill` (or `timeout`) must not leave a broker, a store and services running: cancelling this task runs
    # every clean-up below, as Ctrl-C does.
    main_task = asyncio.current_task()
    if main_task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    infra = start_infra(kafka_port=free_port(), store_port=free_port(), run_name=run_name)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        say(f"MigraDesk benchmarks — {ROUNDS} alternating rounds each, medians; ratio > 1 means ours is faster"
            " (latency ratios: > 1 means slower over the larger store)")
        if "a" in only:
            await bench_pipeline(infra, client, n_events)
        if "c" in only:
            await bench_intake(infra, n_requests)
        if "d" in only:
            await bench_dashboard(client["bench_dashboard"], sizes)
        if "b" in only:
            for line in await bench_latency(infra, stored_sizes=stored_sizes, rates=rates,
                                            seconds_per_rate=seconds, burst=burst):
                say(line)
        if "e" in only:
            for line in await bench_replay(infra, replay_events):
                say(line)
        if "f" in only:
            for line in await bench_worklist(client, worklist_sizes):
                say(line)
        if "g" in only:
            for line in await bench_pages(infra.mongodb_uri, page_sizes):
                say(line)
        if "store" in only:
            await store_bench_hook(store_sizes)
    finally:
        await client.close()
        infra.stop()
        # Each run starts its own broker and store; their data is of no use afterwards and can be large.
        shutil.rmtree(LOCAL_DIR / "run" / run_name, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
