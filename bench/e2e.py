"""(b) End-to-end latency, open loop: from a POST at the desk to the referral in the agency's inbox and to the
metrics count that includes it, at fixed offered loads, over stores already holding many cases.

For each stored size a fresh namespace (database names and topic prefix, as the e2e tests use) gets the three
services as processes, `stored` cases registered through intake's own handler (bench/seed.py), and a wait until
the pipeline has routed and counted them all. Then cases are offered at fixed rates: each POST is fired at its
planned time whatever the earlier ones are doing (open loop, so a slow system cannot slow the offered load
down and hide its own latency), and a burst of 200 POSTs at once. Latencies run from the planned send time:

  inbox    the arrival here of the ReferralCreated event with the case's id, read from the referral-events topic.
           Referral stores the referral before its relay publishes the event, so the referral was already
           visible in the inbox by then: a conservative upper bound that costs the system nothing (a consumer
           without group on the broker) instead of polling the referral API for every case.
  metrics  the raw indicators (coordinator token) are polled every 50 ms; the k-th case in planned order is
           taken as counted at the first poll whose requests count covers k cases more than before the phase.
           Counts are anonymous, so this attributes completions in planned order (it does not know which case
           was counted), and it adds up to one poll interval plus the request's own time: an upper bound too.

One process, asyncio, loopback only; every wait is bounded, and a store that stops making progress while the
stored cases drain is reported (where it stalled) instead of waited for.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from bench.seed import seed_cases, synthetic_case
from infra.local.services import new_namespace, running_services
from infra.local.stack import Infra
from migradesk_metrics.domain.indicators import AREA_DIMENSION
from migradesk_metrics.domain.rollups import period_of
from migradesk_referral.domain.directory import CAPACITY_MAX
from migradesk_referral.entrypoints.schemas import AgencyEditIn
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.topics import CASE_EVENTS, REFERRAL_EVENTS, TopicNames

MUNICIPALITY = "Dourados-MS"
TIMEZONE = "America/Sao_Paulo"
BURST = 200
METRICS_POLL_SECONDS = 0.05
# The httpx pool: larger than the burst, so the client never holds a planned POST back waiting for a connection.
CLIENT_CONNECTIONS = 300


def note(message: str) -> None:
    """Progress for whoever watches a long run; results go to stdout through the returned lines."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, also for small samples."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


# ------------------------------------------------------------------------------------------------ what we watch

class ReferralWatcher:
    """Reads the referral-events topic from the beginning (no consumer group, nothing committed) and remembers
    when each case's ReferralCreated arrived here."""

    def __init__(self, bootstrap_servers: str, names: TopicNames) -> None:
        self._consumer = AIOKafkaConsumer(names(REFERRAL_EVENTS), bootstrap_servers=bootstrap_servers,
                                          group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        # A second client only for end offsets, so progress queries never interleave with the fetches above.
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        self._names = names
        self._case_partitions = [TopicPartition(names(CASE_EVENTS), p) for p in range(CASE_EVENTS.partitions)]
        self.arrived: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()
        await self._offsets.start()
        await self._admin.start()
        self._task = asyncio.create_task(self._run(), name="referral-watcher")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=100, max_records=2000)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    if (b"ReferralCreated" in (v for k, v in record.headers if k == "event-type")
                            and record.value is not None):
                        self.arrived.setdefault(json.loads(record.value)["case_id"], now)

    async def published_case_events(self) -> int:
        """How many case events intake's relay has published so far (two per case: opened, request logged)."""
        ends = await self._offsets.end_offsets(self._case_partitions)
        return int(sum(ends.values()))

    async def consumer_lag(self) -> str:
        """Messages each consumer group of the pipeline has not committed yet, to say which one stalled. The
        group names follow the services' `<prefix><service>.<topic>` (a renamed group only drops its entry)."""
        parts = []
        for service, spec in (("referral", CASE_EVENTS), ("metrics", CASE_EVENTS), ("metrics", REFERRAL_EVENTS)):
            partitions = [TopicPartition(self._names(spec), p) for p in range(spec.partitions)]
            ends = await self._offsets.end_offsets(partitions)
            committed = await self._admin.list_consumer_group_offsets(
                f"{self._names.prefix}{service}.{spec.name}", partitions=partitions)
            behind = sum(end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                         for tp, end in ends.items())
            parts.append(f"{service} on {spec.name} {behind} behind")
        return "uncommitted: " + ", ".join(parts)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)
        await self._consumer.stop()
        await self._offsets.stop()
        await self._admin.close()


@dataclass
class Metrics:
    client: httpx.AsyncClient
    url: str
    period: str
    headers: dict[str, str]

    async def counts(self) -> tuple[int, int]:
        """(requests logged, referrals created) in this period, over every service area: exact, from the raw
        indicators (a coordinator's; the summary publishes request counts with small cells suppressed)."""
        response = await self.client.get(f"{self.url}/api/metrics/indicators", params={"period": self.period},
                                         headers=self.headers)
        response.raise_for_status()
        figures = response.json()["periods"].get(self.period)
        if not figures:
            return 0, 0
        referrals = sum(int(figures[str(dimension)]["referrals"]) for dimension in AREA_DIMENSION.values())
        return int(figures["1"]["requests_logged"]), referrals


async def poll_requests_count(metrics: Metrics, samples: list[tuple[float, int]], stop: asyncio.Event,
                              limit: float) -> None:
    """Append (when seen, count) each time the requests count grows; 'when' is the response's arrival."""
    deadline = time.monotonic() + limit
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            count, _ = await metrics.counts()
        except httpx.HTTPError as exc:
            note(f"metrics poll failed, polling on: {exc!r}")
            await asyncio.sleep(METRICS_POLL_SECONDS)
            continue
        if not samples or count > samples[-1][1]:
            samples.append((time.monotonic(), count))
        await asyncio.sleep(max(0.0, METRICS_POLL_SECONDS - (time.monotonic() - started)))


# ------------------------------------------------------------------------------------------- one offered load

@dataclass
class Phase:
    label: str
    offered: int
    # Why POSTs were not accepted: HTTP status or exception name, with how many.
    failures: Counter[str] = field(default_factory=Counter)
    inbox: list[float] = field(default_factory=list)
    metrics: list[float] = field(default_factory=list)
    unseen_inbox: int = 0
    unseen_metrics: int = 0
    all_routed: float | None = None
    all_accepted: float | None = None  # from the first planned send to the last 201 at the desk

    def line(self, stored: int) -> str:
        def ms(values: list[float], q: float) -> str:
            return f"{percentile(values, q) * 1000:8.0f} ms" if values else "     n/a   "

        extra = f"   all routed in {self.all_routed:6.2f} s" if self.all_routed is not None else ""
        if self.all_accepted is not None:
            extra += f" (accepted at the desk in {self.all_accepted:6.2f} s)"
        failed = ", ".join(f"{n} x {why}" for why, n in self.failures.most_common())
        lost = (f"   (POSTs failed: {failed or 'none'}; {self.unseen_inbox} not in an inbox and "
                f"{self.unseen_metrics} not counted in time)") if failed or self.unseen_inbox or self.unseen_metrics \
            else ""
        head = "(b) burst  " if self.label == "burst" else "(b) latency"
        return (f"{head}         stored {stored:>7}   {self.label:>8}   {self.offered:4d} cases"
                f"   inbox p50 {ms(self.inbox, 0.5)} p99 {ms(self.inbox, 0.99)}"
                f"   metrics p50 {ms(self.metrics, 0.5)} p99 {ms(self.metrics, 0.99)}{extra}{lost}")


async def offer(label: str, offsets: Sequence[float], bodies: Sequence[dict[str, Any]], *, desk: aiohttp.ClientSession,
                intake_url: str, staff: dict[str, str], metrics: Metrics, watcher: ReferralWatcher,
                settle_seconds: float) -> Phase:
    """POST bodies[k] at start + offsets[k], each as its own task (open loop); then wait, at most
    settle_seconds after the last send, until every accepted case is in an inbox and counted."""
    phase = Phase(label, len(offsets))
    before, _ = await metrics.counts()
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_requests_count(metrics, samples, stop, offsets[-1] + settle_seconds + 60))
    accepted: list[tuple[float, str]] = []
    answered: list[float] = []

    async def post(planned: float, body: dict[str, Any]) -> None:
        try:
            async with desk.post(f"{intake_url}/api/cases", json=body, headers=staff) as response:
                if response.status != 201:
                    phase.failures[f"HTTP {response.status}"] += 1
                    return
                case_id = (await response.json())["case_id"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            phase.failures[type(exc).__name__] += 1
            return
        accepted.append((planned, case_id))
        answered.append(time.monotonic())

    start = time.monotonic() + 0.2
    posts: list[asyncio.Task[None]] = []
    try:
        for offset, body in zip(offsets, bodies, strict=True):
            delay = start + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.append(asyncio.create_task(post(start + offset, body)))
        await asyncio.gather(*posts)
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline:
            counted = samples[-1][1] - before if samples else 0
            if counted >= len(accepted) and all(case_id in watcher.arrived for _, case_id in accepted):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await poller
    finally:
        # Interrupted (the run was cancelled): nothing of this phase may outlive the HTTP client.
        for task in [*posts, poller]:
            task.cancel()

    phase.inbox = [watcher.arrived[c] - planned for planned, c in accepted if c in watcher.arrived]
    phase.unseen_inbox = len(accepted) - len(phase.inbox)
    if phase.inbox and not phase.unseen_inbox:
        phase.all_routed = max(watcher.arrived[c] for _, c in accepted) - start
    if answered:
        phase.all_accepted = max(answered) - start
    planned_order = sorted(planned for planned, _ in accepted)
    for k, planned in enumerate(planned_order):
        seen = next((t for t, count in samples if count - before >= k + 1), None)
        if seen is not None:
            phase.metrics.append(seen - planned)
    phase.unseen_metrics = len(accepted) - len(phase.metrics)
    return phase


# ------------------------------------------------------------------------------------------- one stored size

@dataclass
class SizeResult:
    stored: int
    lines: list[str]
    phases: dict[str, Phase]


def stall_seconds() -> float:
    return float(os.environ.get("BENCH_STALL_SECONDS", "180"))


async def seeding_progress(stored: int, watcher: ReferralWatcher, metrics: Metrics, started: float) -> None:
    """A note every 30 s while seeding, from what the pipeline has already passed on (the seeder's own count is
    not asked of the store: a count there reads every document)."""
    while True:
        await asyncio.sleep(30)
        try:
            requests, referrals = await metrics.counts()
        except httpx.HTTPError:
            continue  # only a progress note: the next one will do
        note(f"stored {stored}: seeding for {time.monotonic() - started:6.0f} s, case events published "
             f"{await watcher.published_case_events()}, referrals created {len(watcher.arrived)}, "
             f"metrics counted {requests} requests and {referrals} referrals")


async def wait_drained(stored: int, *, watcher: ReferralWatcher, metrics: Metrics,
                       started: float) -> tuple[bool, str]:
    """Wait until referral has a referral and metrics a count for every stored case. Gives up when nothing
    moves for BENCH_STALL_SECONDS (default 180), or BENCH_DRAIN_TIMEOUT (default 1800) seconds after the first
    seeded write, and then says how far each stage got and how fast it was going: intake's relay (published),
    referral (routed), metrics (counted)."""
    limit = float(os.environ.get("BENCH_DRAIN_TIMEOUT", "1800"))
    last_state: tuple[int, ...] = ()
    last_move = last_note = time.monotonic()
    history: list[tuple[float, tuple[int, ...]]] = []
    while True:
        published = await watcher.published_case_events()
        requests, referrals = await metrics.counts()
        routed = len(watcher.arrived)
        state = (published // 2, routed, requests, referrals)
        where = (f"case events published {published}/{2 * stored}, referrals created {routed}/{stored}, "
                 f"metrics counted {requests}/{stored} requests and {referrals}/{stored} referrals")
        if routed >= stored and requests >= stored and referrals >= stored:
            return True, where
        now = time.monotonic()
        history = [(t, h) for t, h in history if now - t <= 60] + [(now, state)]
        if state != last_state:
            last_state, last_move = state, now
        if now - last_move > stall_seconds() or now - started > limit:
            why = (f"STALLED (nothing moved for {now - last_move:.0f} s)" if now - last_move > stall_seconds()
                   else f"NOT DRAINED within BENCH_DRAIN_TIMEOUT={limit:.0f} s")
            first_seen, first = history[0]
            span = max(now - first_seen, 1e-9)
            rates = ", ".join(f"{stage} {(b - a) / span:.1f}/s" for stage, a, b in
                              zip(("published", "routed", "requests counted", "referrals counted"), first, state,
                                  strict=True))
            return False, (f"{why}: {where}; cases per second over the last {span:.0f} s: {rates}; "
                           f"{await watcher.consumer_lag()}")
        if now - last_note > 15:
            note(f"stored {stored}: {now - started:6.0f} s, {where}")
            last_note = now
        await asyncio.sleep(1.0)


async def size_the_directory(http: httpx.AsyncClient, referral_url: str, admin: dict[str, str]) -> None:
    """Give every demo agency the directory's largest capacity, through its API as an administrator would. The
    demo directory is sized for a month of Dourados (some 500 open referrals in all): with 10^5 cases seeded and
    none answered, routing would rightly send most to manual routing, and the bench measures the way to an
    agency's inbox."""
    listed = await http.get(f"{referral_url}/api/agencies", headers=admin)
    listed.raise_for_status()
    for agency in listed.json()["agencies"]:
        current = await http.get(f"{referral_url}/api/agencies/{agency['agency_id']}", headers=admin)
        current.raise_for_status()
        details = {key: value for key, value in current.json().items() if key in AgencyEditIn.model_fields}
        edited = await http.put(f"{referral_url}/api/agencies/{agency['agency_id']}", headers=admin,
                                json={**details, "capacity": CAPACITY_MAX,
                                      "expected_version": current.json()["version"]})
        if edited.status_code != 200:
            raise RuntimeError(f"could not size agency {agency['agency_id']}: {edited.status_code} {edited.text}")


async def bench_one_size(infra: Infra, mongo: AsyncMongoClient[dict[str, Any]], stored: int, *,
                         rates: Sequence[float], seconds_per_rate: float, burst: int) -> SizeResult:
    namespace = new_namespace("bench")
    secret = secrets.token_urlsafe(32)
    staff = {"Authorization": f"Bearer {issue_token(secret, subject='bench', role=Role.STAFF)}"}
    coordinator = {"Authorization": f"Bearer {issue_token(secret, subject='bench', role=Role.COORDINATOR)}"}
    admin = {"Authorization": f"Bearer {issue_token(secret, subject='bench', role=Role.ADMIN)}"}
    env = {"REFERRAL_SEED_DEMO_AGENCIES": "true",
           **{f"{s}_MUNICIPALITY": MUNICIPALITY for s in ("INTAKE", "REFERRAL", "METRICS")},
           **{f"{s}_TIMEZONE": TIMEZONE for s in ("INTAKE", "REFERRAL", "METRICS")}}
    result = SizeResult(stored, [], {})
    rng = random.Random(stored + 1)
    try:
        with running_services(infra, namespace, secret, extra_env=env) as services:
            watcher = ReferralWatcher(infra.bootstrap_servers, TopicNames(f"{namespace}."))
            await watcher.start()
            # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s) can close them
            # under a request being sent on them, which httpx reports as a ReadError on a POST it won't retry.
            limits = httpx.Limits(max_connections=CLIENT_CONNECTIONS, max_keepalive_connections=CLIENT_CONNECTIONS,
                                  keepalive_expiry=2.0)
            try:
                # The POSTs go through aiohttp: with 200 requests in flight httpx spends some 15 ms of CPU on each,
                # as much as the store spends on a case, on the same two cores as the system measured.
                async with httpx.AsyncClient(timeout=60, limits=limits) as http, aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=CLIENT_CONNECTIONS, keepalive_timeout=2.0),
                        timeout=aiohttp.ClientTimeout(total=60)) as desk:
                    metrics = Metrics(http, services["metrics"].url,
                                      period_of(datetime.now(UTC), ZoneInfo(TIMEZONE)), coordinator)
                    await size_the_directory(http, services["referral"].url, admin)
                    note(f"stored {stored}: seeding in namespace {namespace}")
                    started = time.monotonic()
                    progress = asyncio.create_task(seeding_progress(stored, watcher, metrics, started))
                    try:
                        await seed_cases(mongo[f"{namespace}_intake"], stored, municipality=MUNICIPALITY)
                    finally:
                        progress.cancel()
                    seeded = time.monotonic()
                    drained, where = await wait_drained(stored, watcher=watcher, metrics=metrics, started=started)
                    done = time.monotonic()
                    rate = stored / max(seeded - started, 1e-9)
                    if not drained:
                        result.lines.append(
                            f"(b) seeding         stored {stored:>7}   seeded in {seeded - started:7.1f} s "
                            f"({rate:7.1f} cases/s)   pipeline, {done - seeded:7.1f} s after seeding, {where}")
                        return result
                    result.lines.append(
                        f"(b) seeding         stored {stored:>7}   seeded in {seeded - started:7.1f} s "
                        f"({rate:7.1f} cases/s)   pipeline drained {done - seeded:7.1f} s after seeding "
                        f"(all routed and counted {done - started:7.1f} s after the first write)")
                    note(result.lines[-1])
                    common: dict[str, Any] = {"desk": desk, "intake_url": services["intake"].url, "staff": staff,
                                              "metrics": metrics, "watcher": watcher}
                    serial = stored
                    for rate_per_s in rates:
                        n = max(1, round(rate_per_s * seconds_per_rate))
                        bodies = [synthetic_case(serial + k, rng) for k in range(n)]
                        serial += n
                        label = f"{rate_per_s:g}/s"
                        phase = await offer(label, [k / rate_per_s for k in range(n)], bodies,
                                            settle_seconds=60 + seconds_per_rate, **common)
                        result.phases[label] = phase
                        result.lines.append(phase.line(stored))
                        note(result.lines[-1])
                    bodies = [synthetic_case(serial + k, rng) for k in range(burst)]
                    phase = await offer("burst", [0.0] * burst, bodies, settle_seconds=120, **common)
                    result.phases["burst"] = phase
                    result.lines.append(phase.line(stored))
                    note(result.lines[-1])
            finally:
                await watcher.stop()
    finally:
        for service in ("intake", "referral", "metrics"):
            await mongo.drop_database(f"{namespace}_{service}")
    return result


def ratio_lines(results: Sequence[SizeResult], rates: Sequence[float]) -> list[str]:
    """p50 at the largest stored size over p50 at the smallest: 1.0 means the stored data costs nothing."""
    small, large = results[0], results[-1]
    lines = []
    for label in [f"{r:g}/s" for r in rates] + ["burst"]:
        a, b = large.phases.get(label), small.phases.get(label)
        head = f"(b) ratio           {label:>8}   p50(stored {large.stored})/p50(stored {small.stored})"
        if a is None or b is None or not (a.inbox and b.inbox and a.metrics and b.metrics):
            lines.append(f"{head}   inbox n/a   metrics n/a   (a stored size did not complete)")
            continue
        inbox = percentile(a.inbox, 0.5) / percentile(b.inbox, 0.5)
        counted = percentile(a.metrics, 0.5) / percentile(b.metrics, 0.5)
        lines.append(f"{head}   inbox ratio {inbox:6.2f}   metrics ratio {counted:6.2f}")
    return lines


async def bench_latency(infra: Infra, *, stored_sizes: Sequence[int], rates: Sequence[float],
                        seconds_per_rate: float, burst: int = BURST) -> list[str]:
    """Every printed line of (b): per stored size its seeding, one line per rate and the burst (`burst` POSTs
    at once); then the ratios of the largest stored size to the smallest."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    results = []
    try:
        for stored in stored_sizes:
            results.append(await bench_one_size(infra, mongo, stored, rates=rates,
                                                seconds_per_rate=seconds_per_rate, burst=burst))
    finally:
        await mongo.close()
    lines = [line for r in results for line in r.lines]
    return lines + ratio_lines(results, rates)
