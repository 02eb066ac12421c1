"""(g) The coordinators' dashboard pages over growing numbers of requests (DESIGN.md §7b).

A year of a desk's events (requests in every area, referrals to a dozen agencies, their acceptance, completion
and decline, cases opened, over twelve months and a few profiles) is counted into rollups on the real store, as
many requests as BENCH_PAGE_SIZES asks (default 10^3 and 10^6). The metrics app then serves, in-process and
signed in as a coordinator, the overview, dimension 1 (time to referral), dimension 6 (health) with a comparison
month, and dimension 6's CSV; p50/p99 per page over repeated views, the first view of the figures (before any of
their suppression is solved and remembered), and the ratio largest/smallest. The baseline in the same run is a
bare page of the same app that reads nothing (its "not found" page), so the ratio to it is what the figures cost.
"""

from __future__ import annotations

import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from migradesk_metrics.adapters.repository import MongoRollupRepository
from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.domain.rollups import RollupEvent, RollupFold
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.auth import Role
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
)
from migradesk_shared.contracts.vocabulary import DeclineReason, Outcome, ServiceArea
from migradesk_shared.web.session import SESSION_COOKIE, PageUser, session_tokens

TOWN = "Dourados-MS"
TZ = ZoneInfo("America/Sao_Paulo")
YEAR_START = datetime(2025, 12, 1, 12, tzinfo=UTC)
AREAS = list(ServiceArea)
AGENCIES = [f"agency-{n}" for n in range(12)]
PROFILES = [PersonFacets(nationality=n, language=lang) for n, lang in
            (("VEN", "es"), ("HTI", "ht"), ("BOL", "es"), ("CUB", "es"), ("AFG", "fa"), ("SEN", "fr"))]
PAGES = {"overview": "/dashboard?period=2026-11&compare=2026-10",
         "dimension 1": "/dashboard/dimensions/1?period=2026-11",
         "dimension 6": "/dashboard/dimensions/6?period=2026-11&compare=2026-10",
         "dimension 6 CSV": "/dashboard/dimensions/6/tables.csv?period=2026-11"}
BASELINE = "/dashboard/no-such-page"
REPEATS = 30


def desk_year(requests: int) -> Iterator[RollupEvent]:
    """`requests` requests spread over twelve months; most referred, most of those accepted, some completed."""
    for i in range(requests):
        at = YEAR_START + timedelta(minutes=(i * 525_600 // max(requests, 1)) % 525_600)
        facets, area, agency = PROFILES[i % len(PROFILES)], AREAS[(i // 7) % len(AREAS)], AGENCIES[i % 12]
        case_id, referral_id = f"c{i}", f"r{i}"
        common: dict[str, Any] = {"producer": "bench", "case_id": case_id, "municipality": TOWN}
        if i % 3 == 0:
            yield CaseOpened(**common, occurred_at=at, facets=facets)
        yield RequestLogged(**common, occurred_at=at, request_id=f"q{i}", category="sus_card", service_area=area,
                            facets=facets)
        if i % 10 == 9:
            continue
        created = at + timedelta(hours=1 + i % 5)
        yield ReferralCreated(**common, occurred_at=created, referral_id=referral_id, request_id=f"q{i}",
                              category="sus_card",
                              service_area=area, agency_id=agency, facets=facets)
        lifecycle: dict[str, Any] = {**common, "referral_id": referral_id, "service_area": area,
                                     "agency_id": agency, "referral_created_at": created}
        if i % 10 == 8:
            yield ReferralDeclined(**lifecycle, occurred_at=created + timedelta(hours=3),
                                   reason=DeclineReason.NO_CAPACITY)
            continue
        yield ReferralAccepted(**lifecycle, occurred_at=created + timedelta(hours=2 + i % 40))
        if i % 2 == 0:
            yield ReferralCompleted(**lifecycle, occurred_at=created + timedelta(hours=24 + i % 200),
                                    outcome=Outcome.GOT_HELP)


class _At:
    """Where a synthetic message was read: one partition, offsets in order."""

    position_key = "bench|0"

    def __init__(self, offset: int) -> None:
        self.offset = offset


async def seed(repository: MongoRollupRepository, requests: int) -> int:
    fold = RollupFold()
    for offset, event in enumerate(desk_year(requests)):
        fold.add_one(event, _At.position_key, offset, TZ)
    await repository.replace_all(fold.buckets.values())
    return fold.counted


def coordinator_cookie(secret: str) -> str:
    now = datetime.now(UTC)
    user = PageUser(subject="bench", role=Role.COORDINATOR, session_id=secrets.token_urlsafe(16),
                    expires_at=now + timedelta(hours=1))
    return session_tokens(secret).issue(user, now=now)


async def page_times(mongodb_uri: str, database: str) -> dict[str, list[float]]:
    settings = MetricsSettings(api_token_secret=SecretStr(secrets.token_urlsafe(32)), municipality=TOWN,
                               mongodb_uri=SecretStr(mongodb_uri), mongodb_database=database, log_level="WARNING")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    app = create_app(settings, repository=MongoRollupRepository(client[database]))
    times: dict[str, list[float]] = {name: [] for name in [*PAGES, "baseline"]}
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://metrics",
                cookies={SESSION_COOKIE: coordinator_cookie(settings.api_token_secret.get_secret_value())},
                headers={"Accept-Language": "pt-BR"}) as http:
            for path in PAGES.values():  # templates compiled, catalogues loaded, on another year's figures
                (await http.get(path.replace("2026-11", "2025-06").replace("2026-10", "2025-05"))).raise_for_status()
            for name, path in PAGES.items():  # the first view of these figures: nothing of them solved yet
                started = time.perf_counter()
                (await http.get(path)).raise_for_status()
                times[f"{name} first"] = [time.perf_counter() - started]
            for _ in range(REPEATS):
                for name, path in [*PAGES.items(), ("baseline", BASELINE)]:
                    started = time.perf_counter()
                    response = await http.get(path)
                    times[name].append(time.perf_counter() - started)
                    if name != "baseline":
                        response.raise_for_status()
                    elif response.status_code != 404:
                        raise RuntimeError(f"the baseline page answered {response.status_code}")
    finally:
        await client.close()
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def bench_pages(mongodb_uri: str, sizes: list[int]) -> list[str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    lines: list[str] = []
    medians: dict[int, dict[str, float]] = {}
    try:
        for size in sizes:
            database = f"bench_pages_{uuid.uuid4().hex[:8]}"
            try:
                started = time.perf_counter()
                counted = await seed(MongoRollupRepository(client[database]), size)
                seeded = time.perf_counter() - started
                times = await page_times(mongodb_uri, database)
            finally:
                await client.drop_database(database)
            medians[size] = {name: statistics.median(values) for name, values in times.items()}
            base = medians[size]["baseline"]
            lines.append(f"(g) dashboard pages {size:>8} requests ({counted} increments, counted in {seeded:.0f} s)"
                         f"   bare page p50 {base * 1000:6.1f} ms")
            for name in PAGES:
                median = medians[size][name]
                lines.append(f"      {name:<16} p50 {median * 1000:7.1f} ms   p99 {p(times[name], 0.99) * 1000:7.1f} ms"
                             f"   x{median / base:5.1f} the bare page   first view "
                             f"{times[f'{name} first'][0] * 1000:7.1f} ms")
        if len(sizes) > 1:
            small, large = min(sizes), max(sizes)
            ratios = "   ".join(f"{name} {medians[large][name] / medians[small][name]:4.2f}" for name in PAGES)
            lines.append(f"(g) p50({large})/p50({small}):   {ratios}")
    finally:
        await client.close()
    return lines
