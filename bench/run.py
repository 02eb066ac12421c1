"""MigraDesk benchmarks: ratios against baselines measured in the same run, A/B alternating (DESIGN.md §7b).

  (a) pipeline: events/s of the metrics consumer (FastStream batch subscriber, DLQ/retry wrapper, inbox,
      guarded rollups) vs a raw aiokafka consume -> validate -> insert_one loop, same broker and store;
  (c) intake: requests/s and resident memory of the intake service vs a bare FastAPI + insert_one app;
  (d) dashboard: the metrics summary read from rollups vs a naive $group over one document per request, at
      growing numbers of requests.

Sizes are small by default so a run takes a few minutes on 2 cores; raise them with BENCH_EVENTS,
BENCH_REQUESTS and BENCH_DASHBOARD_SIZES (comma-separated). Nothing here asserts a time: it prints ratios.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pymongo import AsyncMongoClient

from infra.launcher import LOCAL_DIR, REPO_ROOT, Infra, free_port, spawn, start_infra, start_service, wait_http_ready
from migradesk_metrics.handlers import MetricsStore, handle_rollup_batch, handle_rollup_event, summary
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.case_events import PersonFacets, RequestLogged
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import Delivery, DeliveryPolicy, EventConsumer, Inbox, ReliableProducer, ensure_topics
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


async def wait_until(probe: Callable[[], Awaitable[bool]], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark round did not finish")
        await asyncio.sleep(0.05)


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
    """A fresh topic prefix whose case-events topic holds n events, so each round reads from offset 0."""
    names = TopicNames(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(infra.bootstrap_servers, names, specs=[CASE_EVENTS])
    await publish(infra, names(CASE_EVENTS), events(n))
    return names


async def pipeline_round(infra: Infra, db: Any, n: int) -> float:
    names = await filled_topic(infra, n)
    store = MetricsStore(db)
    inbox = db["processed_events"]
    broker = KafkaBroker(infra.bootstrap_servers, logger=None)
    producer = ReliableProducer(infra.bootstrap_servers, "bench")
    group = f"{names.prefix}metrics"

    async def handler(event: Any, delivery: Delivery) -> None:
        await handle_rollup_event(event, delivery, store=store, tz=TZ)

    async def batch_handler(items: list[tuple[Any, Delivery]]) -> None:
        await handle_rollup_batch(items, store=store, tz=TZ)

    EventConsumer(spec=CASE_EVENTS, names=names, group_id=group, adapter=adapter_for(CASE_EVENTS), handler=handler,
                  inbox=Inbox(inbox, group), producer=producer, policy=DeliveryPolicy(),
                  tracer=trace.get_tracer("bench"), batch_handler=batch_handler).register(broker, batch_size=500)
    started = time.perf_counter()
    await broker.start()
    try:
        await wait_until(lambda: _count_at_least(inbox, {"_id": {"$regex": f"^{group}:"}}, n))
        return n / (time.perf_counter() - started)
    finally:
        await broker.stop()
        await producer.stop()


async def raw_round(infra: Infra, db: Any, n: int) -> float:
    names = await filled_topic(infra, n)
    adapter = adapter_for(CASE_EVENTS)
    collection = db[f"raw_{uuid.uuid4().hex[:8]}"]
    consumer = AIOKafkaConsumer(names(CASE_EVENTS), bootstrap_servers=infra.bootstrap_servers,
                                group_id=f"{names.prefix}raw", auto_offset_reset="earliest", enable_auto_commit=False)
    started = time.perf_counter()
    await consumer.start()
    done = 0
    try:
        while done < n:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for records in batch.values():
                for record in records:
                    event = adapter.validate_json(record.value)
                    await collection.insert_one({"_id": event.event_id, "area": event.service_area})
                    done += 1
            if batch:
                await consumer.commit()
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _count_at_least(collection: Any, query: dict[str, Any], n: int) -> bool:
    return bool(await collection.count_documents(query) >= n)


async def bench_pipeline(infra: Infra, db: Any, n: int) -> None:
    ours, base = [], []
    for _ in range(ROUNDS):
        base.append(await raw_round(infra, db, n))
        ours.append(await pipeline_round(infra, db, n))
    a, b = statistics.median(ours), statistics.median(base)
    say(f"(a) pipeline        {n} events   metrics consumer {a:8.1f} ev/s   raw aiokafka loop {b:8.1f} ev/s"
        f"   ratio {a / b:5.2f}")


# ---------------------------------------------------------------------------------------------------- (c) intake

def case_body() -> dict[str, Any]:
    return {"person": {"full_name": "Bench Person", "birth_date": "1990-01-01", "nationality": "VEN",
                       "preferred_language": "es",
                       "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "bench"}},
            "requests": [{"category": "sus_card"}]}


async def load(url: str, n: int, concurrency: int = 16, token: str = "") -> float:
    body = case_body()
    queue = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in queue:
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
    store = MetricsStore(db)
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
            await handle_rollup_batch(positioned, store=store, tz=TZ)
            seeded += chunk

        async def naive() -> Any:
            pipeline = [{"$match": {"municipality": "Dourados-MS", "period": "2026-11"}},
                        {"$group": {"_id": "$area", "requests_logged": {"$sum": 1}}}]
            return await (await facts.aggregate(pipeline)).to_list()

        async def rollups() -> Any:
            return await summary(store, municipality="Dourados-MS", period="2026-11")

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


async def main() -> None:
    n_events = int(os.environ.get("BENCH_EVENTS", "2000"))
    n_requests = int(os.environ.get("BENCH_REQUESTS", "500"))
    sizes = [int(s) for s in os.environ.get("BENCH_DASHBOARD_SIZES", "10000,50000").split(",")]
    infra = start_infra(kafka_port=free_port(), store_port=free_port(), run_name=f"bench-{uuid.uuid4().hex[:6]}")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        say(f"MigraDesk benchmarks — {ROUNDS} alternating rounds each, medians; ratio > 1 means ours is faster")
        await bench_pipeline(infra, client["bench_pipeline"], n_events)
        await bench_intake(infra, n_requests)
        await bench_dashboard(client["bench_dashboard"], sizes)
    finally:
        await client.close()
        infra.stop()


if __name__ == "__main__":
    asyncio.run(main())
