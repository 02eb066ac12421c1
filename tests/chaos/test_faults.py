"""Faults under load: two processes of each service on their own broker and store, a steady stream of cases at the
desk and of agencies accepting their referrals, and one fault after another: processes killed (SIGKILL) at
random moments, the store stopped, the broker stopped while the desk keeps registering, poison messages, every
process restarted one at a time. After each fault, once the system has caught up:

- every case the desk stored (every 201, and any the desk stored but could not answer for) has exactly one
  first referral per request: none lost, none doubled;
- every acceptance an agency was told succeeded is in its referral's history exactly once;
- metrics' counts equal a recount from the services' stores (requests, referrals created, acceptances);
- no outbox holds an unpublished event, and every poison message sits in its dead-letter topic with a reason.

Recovery times count from a fault's end until every check holds; the load runs 2 s past the end, then pauses
for the checks. `make chaos` runs the full plan (CHAOS_FULL=1: each service killed 3 times, the store stopped
10 s, the broker 30 s); `make test` runs a short one (each service killed once, shorter outages). The table of
faults, events offered, lost, duplicated and recovery time is printed (`-s` shows it) and written to
.local/chaos-report.txt.
Not run here: a broker of a multi-broker cluster lost (the launcher runs one broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from infra.local.kafka import LocalKafka
from infra.local.paths import LOCAL_DIR
from infra.local.process import free_port
from infra.local.services import ServiceProcess, new_namespace, running_replicas
from infra.local.stack import Infra, start_infra
from infra.local.store import LocalFerretDB
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.topics import CASE_EVENTS, REFERRAL_EVENTS, TopicNames

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow, pytest.mark.chaos]

FULL = os.environ.get("CHAOS_FULL") == "1"
KILLS_PER_SERVICE = 3 if FULL else 1
STORE_OUTAGE_SECONDS = 10 if FULL else 3
BROKER_OUTAGE_SECONDS = 30 if FULL else 5
LOAD_SECONDS = 20 if FULL else 6  # of steady load around each fault
CASES_PER_SECOND = 4
# The load goes on this long past a fault's end, then pauses while the checks run (they compare the stores and
# metrics at one moment). A row's recovery is from the fault's end until every check holds: at least this.
AFTER_FAULT_SECONDS = 2
# Categories that are always referred (one per service area): each case makes exactly one first referral.
CATEGORIES = ["sus_card", "school_enrolment", "cadunico", "job_placement", "gender_violence"]
CAUGHT_UP_TIMEOUT = int(os.environ.get("CHAOS_CAUGHT_UP_TIMEOUT", "240"))


@dataclass
class Row:
    fault: str
    offered: int = 0  # cases posted during the fault's phase
    registered: int = 0  # answered 201
    unanswered: int = 0  # no answer (a killed process): stored or not, the checks below find out
    lost: int = 0
    duplicated: int = 0
    recovery_seconds: float = 0.0


@dataclass
class Stack:
    infra: Infra
    namespace: str
    secret: str
    services: dict[str, list[ServiceProcess]]
    names: TopicNames
    rows: list[Row] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # referrals an agency was told it accepted
    registered: set[str] = field(default_factory=set)  # cases the desk answered 201 for
    poison: int = 0

    def token(self, role: Role, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.secret, subject='chaos', role=role, **kwargs)}"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A broker and a store of its own (this module stops and restarts them), and two processes per service."""
    infra = start_infra(kafka_port=free_port(), store_port=free_port(), run_name=f"chaos-{uuid.uuid4().hex[:6]}")
    try:
        if not isinstance(infra.kafka, LocalKafka) or not isinstance(infra.store, LocalFerretDB):
            pytest.skip("the broker or the store is run by someone else: this suite must stop and restart them")
        namespace, secret = new_namespace("chaos"), secrets.token_urlsafe(32)
        with running_replicas(infra, namespace, secret, replicas=2,
                              extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true",
                                         # Demo agencies' capacity must not send cases to manual routing here.
                                         "PYTHONUNBUFFERED": "1"}) as services:
            yield Stack(infra, namespace, secret, services, TopicNames(f"{namespace}."))
    finally:
        infra.stop()


class Load:
    """Cases posted at a steady rate to both intake processes, and agencies accepting what reaches them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.row = Row("warm-up")
        self._stop = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._idle = [asyncio.Event(), asyncio.Event()]  # set while the desk, the agencies wait on a pause
        self._tasks: list[asyncio.Task[None]] = []

    async def _gate(self, worker: int) -> None:
        if not self._running.is_set():
            self._idle[worker].set()
            await self._running.wait()
            self._idle[worker].clear()

    async def pause(self) -> None:
        """Stop offering work and wait for what is in flight: the checks compare stores read at one moment."""
        self._running.clear()
        await asyncio.gather(*(idle.wait() for idle in self._idle))

    def resume(self) -> None:
        self._running.set()

    async def _desk(self) -> None:
        staff = self.stack.token(Role.STAFF)
        async with httpx.AsyncClient(timeout=10, headers=staff) as client:
            for i in itertools.count():
                await self._gate(0)
                if self._stop.is_set():
                    return
                started = time.monotonic()
                intake = random.choice(self.stack.services["intake"])
                self.row.offered += 1
                body = {"person": {"full_name": f"Pessoa Caos {uuid.uuid4().hex[:8]}", "birth_date": "1990-01-01",
                                   "nationality": "VEN", "preferred_language": "es", "sex": "female",
                                   "consent": {"legal_basis": "consent", "share_with_partners": True,
                                               "recorded_by": "ana"}},
                        "requests": [{"category": CATEGORIES[i % len(CATEGORIES)]}]}
                try:
                    response = await client.post(f"{intake.url}/api/cases", json=body)
                    if response.status_code == 201:
                        self.row.registered += 1
                        self.stack.registered.add(response.json()["case_id"])
                    else:
                        self.row.unanswered += 1
                except httpx.HTTPError:
                    self.row.unanswered += 1
                await asyncio.sleep(max(1 / CASES_PER_SECOND - (time.monotonic() - started), 0))

    async def _agencies(self) -> None:
        """Each agency accepts its pending referrals (the version it read: a conflict is simply read again)."""
        async with httpx.AsyncClient(timeout=10) as client:
            while not self._stop.is_set():
                await self._gate(1)
                referral = random.choice(self.stack.services["referral"]).url
                try:
                    directory = await client.get(f"{referral}/api/agencies", headers=self.stack.token(Role.ADMIN))
                    agencies = [a["agency_id"] for a in directory.json()["agencies"]] if directory.is_success else []
                    for agency_id in agencies:
                        own = self.stack.token(Role.AGENCY, agency_id=agency_id)
                        inbox = await client.get(f"{referral}/api/referrals", headers=own,
                                                 params={"status": "pending", "limit": 20})
                        for item in inbox.json().get("referrals", []) if inbox.is_success else []:
                            acted = await client.post(
                                f"{referral}/api/referrals/{item['referral_id']}/actions", headers=own,
                                json={"action": "accept", "expected_version": item["version"]})
                            if acted.status_code == 200:
                                self.stack.accepted.add(item["referral_id"])
                except (httpx.HTTPError, ValueError):
                    pass  # a killed process or a store away: try again
                await asyncio.sleep(0.5)

    def phase(self, fault: str) -> Row:
        self.row = Row(fault)
        self.stack.rows.append(self.row)
        return self.row

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._desk()), asyncio.create_task(self._agencies())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self._running.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def mongo(stack: Stack) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.infra.mongodb_uri, tz_aware=True,
                                                                serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        await client.close()


async def recount(stack: Stack) -> dict[str, Any]:
    """What the stores hold, and what metrics says."""
    async with mongo(stack) as client:
        intake, referral = client[f"{stack.namespace}_intake"], client[f"{stack.namespace}_referral"]
        cases = {doc["_id"]: [r["request_id"] for r in doc.get("requests", [])]
                 async for doc in intake["cases"].find({}, {"requests.request_id": 1})}
        referrals = await referral["referrals"].find(
            {}, {"request_id": 1, "routing_attempt": 1, "agency_id": 1, "history.status": 1}).to_list()
        missing = list(stack.registered - set(cases))[:5]
        missing_by_id = [await intake["cases"].find_one({"_id": cid}, {"_id": 1}) is not None for cid in missing]
        count = await intake["cases"].count_documents({})
        pending_outboxes = sum([await intake[name].count_documents({"outbox_pending": True})
                                for name in await intake.list_collection_names()]
                               + [await referral[name].count_documents({"outbox_pending": True})
                                  for name in await referral.list_collection_names()])
    coordinator = stack.token(Role.COORDINATOR)
    counted: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        for process in stack.services["metrics"]:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                raw = (await client.get(f"{process.url}/api/metrics/indicators")).json()["periods"]
                summary = (await client.get(f"{process.url}/api/metrics/summary")).json()["periods"]
                counted = Counter({
                    "requests": sum(p["1"]["requests_logged"] for p in raw.values()),
                    "created": sum(p["areas"].get("_all", {}).get("referrals_created", 0) for p in summary.values()),
                    "accepted": sum(sum(a.get("referrals_accepted", 0) for area, a in p["areas"].items()
                                        if area not in ("_all", "desk")) for p in summary.values())})
                break
    first = Counter(r["request_id"] for r in referrals if r["routing_attempt"] == 1)
    acceptances = {r["_id"]: sum(1 for h in r.get("history", []) if h.get("status") == "accepted") for r in referrals}
    return {"missing_by_id": missing_by_id, "count": count, "cases": cases, "first": first,
            "acceptances": acceptances, "outboxes": pending_outboxes,
            "created": sum(1 for r in referrals if r.get("agency_id")), "counted": counted}


def problems(stack: Stack, now: dict[str, Any]) -> list[str]:
    found = []
    requests = [request for ids in now["cases"].values() for request in ids]
    missing_cases = stack.registered - set(now["cases"])
    if missing_cases:
        found.append(f"{len(missing_cases)} cases answered 201 are not stored "
                     f"(by _id: {now.get('missing_by_id')}, count: {now.get('count')}, read: {len(now['cases'])})")
    lost = [r for r in requests if now["first"][r] == 0]
    doubled = [r for r in requests if now["first"][r] > 1]
    if lost:
        found.append(f"{len(lost)} requests have no referral")
    if doubled:
        found.append(f"{len(doubled)} requests have more than one first referral")
    twice = [rid for rid, n in now["acceptances"].items() if n > 1]
    if twice:
        found.append(f"{len(twice)} referrals accepted more than once")
    unrecorded = [rid for rid in stack.accepted if now["acceptances"].get(rid, 0) != 1]
    if unrecorded:
        found.append(f"{len(unrecorded)} acceptances the agencies were told of are not in their referrals")
    if now["outboxes"]:
        found.append(f"{now['outboxes']} documents hold unpublished events")
    expected = Counter({"requests": len(requests), "created": now["created"],
                        "accepted": sum(now["acceptances"].values())})
    if now["counted"] != expected:
        found.append(f"metrics counts {dict(now['counted'])}, the stores hold {dict(expected)}")
    return found


async def caught_up(stack: Stack, row: Row, fault_ended: float, load: Load | None = None) -> None:
    """Let the load run a little past the fault, pause it, wait until every check holds (or fail naming what does
    not), fill the row and resume the load. Recovery is timed from the fault's end."""
    if load is not None:
        await asyncio.sleep(AFTER_FAULT_SECONDS)
        await load.pause()
    try:
        await _checks_hold(stack, row, fault_ended)
    finally:
        if load is not None:
            load.resume()


async def _checks_hold(stack: Stack, row: Row, fault_ended: float) -> None:
    deadline = time.monotonic() + CAUGHT_UP_TIMEOUT
    while True:
        try:
            now = await recount(stack)
            found = problems(stack, now)
        except Exception as exc:  # the store still coming back
            found, now = [f"cannot read the stores yet: {exc!r}"], {}
        if not found:
            row.recovery_seconds = time.monotonic() - fault_ended
            return
        if time.monotonic() > deadline:
            requests = [r for ids in now.get("cases", {}).values() for r in ids]
            row.lost = sum(1 for r in requests if now["first"][r] == 0) if now else -1
            row.duplicated = sum(1 for r in requests if now["first"][r] > 1) if now else -1
            pytest.fail(f"after {row.fault}: {'; '.join(found)}")
        await asyncio.sleep(1)


async def kill_and_restart(process: ServiceProcess) -> None:
    process.process.kill()  # SIGKILL: no shutdown, whatever was in flight is cut
    await asyncio.to_thread(process.process.wait)
    await asyncio.to_thread(process.start)


async def publish_poison(stack: Stack) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for topic in (stack.names(CASE_EVENTS), stack.names(REFERRAL_EVENTS)):
            await producer.send_and_wait(topic, b'{"event_type": "CaseOpened", "not": "a valid event"}', key=b"p")
            await producer.send_and_wait(topic, b"\xff not even json", key=b"p")
            stack.poison += 2
    finally:
        await producer.stop()


async def dead_letters(stack: Stack) -> list[tuple[str, dict[str, bytes]]]:
    topics = [stack.names.dlq(spec) for spec in (CASE_EVENTS, REFERRAL_EVENTS)]
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=stack.infra.bootstrap_servers,
                                auto_offset_reset="earliest", group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[str, dict[str, bytes]]] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [(r.topic, dict(r.headers or ())) for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return found


def report(rows: list[Row]) -> str:
    lines = [f"{'fault':<34} {'offered':>8} {'201':>6} {'no answer':>10} {'lost':>5} {'doubled':>8} "
             f"{'recovery':>9}"]
    for row in rows:
        lines.append(f"{row.fault:<34} {row.offered:>8} {row.registered:>6} {row.unanswered:>10} {row.lost:>5} "
                     f"{row.duplicated:>8} {row.recovery_seconds:>8.1f}s")
    return "\n".join(lines)


@pytest.mark.timeout(3600)
async def test_nothing_is_lost_or_doubled_through_kills_outages_poison_and_a_rolling_restart(stack: Stack) -> None:
    random.seed(os.environ.get("CHAOS_SEED", "migradesk"))
    try:
        async with Load(stack) as load:
            load.phase("steady load")
            await asyncio.sleep(LOAD_SECONDS / 2)
            await caught_up(stack, load.row, time.monotonic(), load)

            for service in ("intake", "referral", "metrics"):
                for n in range(KILLS_PER_SERVICE):
                    row = load.phase(f"SIGKILL {service} #{n + 1}")
                    await asyncio.sleep(random.uniform(0.5, LOAD_SECONDS / 2))
                    await kill_and_restart(random.choice(stack.services[service]))
                    ended = time.monotonic()
                    await caught_up(stack, row, ended, load)

            row = load.phase(f"store stopped {STORE_OUTAGE_SECONDS} s")
            await asyncio.sleep(LOAD_SECONDS / 3)
            await asyncio.to_thread(stack.infra.store.stop)
            await asyncio.sleep(STORE_OUTAGE_SECONDS)
            await asyncio.to_thread(stack.infra.store.start)
            await caught_up(stack, row, time.monotonic(), load)

            row = load.phase(f"broker stopped {BROKER_OUTAGE_SECONDS} s")
            await asyncio.sleep(LOAD_SECONDS / 3)
            await asyncio.to_thread(stack.infra.kafka.stop)
            await asyncio.sleep(BROKER_OUTAGE_SECONDS)  # the desk keeps registering: the outbox holds the events
            await asyncio.to_thread(stack.infra.kafka.start)
            await caught_up(stack, row, time.monotonic(), load)

            row = load.phase("poison messages")
            await publish_poison(stack)
            await caught_up(stack, row, time.monotonic(), load)

            row = load.phase("rolling restart, one process at a time")
            for service in ("intake", "referral", "metrics"):
                for process in stack.services[service]:
                    await asyncio.to_thread(process.stop)  # SIGTERM: a graceful stop, as a rollout does
                    await asyncio.to_thread(process.start)
            await caught_up(stack, row, time.monotonic(), load)
        # The load has stopped: everything it produced is caught up with too.
        final = load.phase("after the load")
        await caught_up(stack, final, time.monotonic())
        # Each poison message is dead-lettered once by each consumer group reading its topic (two per topic
        # here), into that topic's dead-letter topic, with the reason.
        letters = await dead_letters(stack)
        seen = Counter((headers["dlq-original-topic"], headers["dlq-original-offset"], headers["dlq-consumer-group"])
                       for _, headers in letters)
        assert len(seen) == 2 * stack.poison and set(seen.values()) == {1}, seen
        assert all(topic == headers["dlq-original-topic"].decode() + ".dlq" for topic, headers in letters), [
            (topic, headers["dlq-original-topic"]) for topic, headers in letters]
        assert all(headers.get("dlq-error", b"").startswith(b"invalid event") for _, headers in letters)
        assert sum(row.registered for row in stack.rows) == len(stack.registered) > 0
        assert stack.accepted, "no agency accepted anything: the actions were not exercised"
    finally:
        table = report(stack.rows)
        print("\n" + table)
        LOCAL_DIR.mkdir(parents=True, exist_ok=True)
        (LOCAL_DIR / "chaos-report.txt").write_text(table + "\n", encoding="utf-8")
