"""Two processes of each service (six in all) share the store, the topics and the consumer groups, as
Deployments with `replicas: 2` do: nothing registered may be lost or counted twice."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from infra.local.services import ServiceProcess, new_namespace, running_replicas
from infra.local.stack import Infra
from migradesk_shared.auth import Role, issue_token
from tests.conftest import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

CASES = 500
# Categories of the five service areas and one resolved at the desk (no referral).
CATEGORIES = ["sus_card", "school_enrolment", "cadunico", "job_placement", "gender_violence", "documentation"]


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[str, str]]:
    yield new_namespace("rep"), secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def six(infra: Infra, replicated: tuple[str, str]) -> Iterator[dict[str, list[ServiceProcess]]]:
    namespace, secret = replicated
    with running_replicas(infra, namespace, secret, replicas=2,
                          extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true"}) as running:
        yield running


def payload(i: int) -> dict[str, Any]:
    return {"person": {"full_name": f"Pessoa Réplica {i}", "birth_date": "1991-02-03", "nationality": "HTI",
                       "preferred_language": "ht", "sex": "male",
                       "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}},
            "requests": [{"category": CATEGORIES[i % len(CATEGORIES)]}]}


async def test_two_processes_of_each_service_lose_nothing_and_double_nothing(
        six: dict[str, list[ServiceProcess]], replicated: tuple[str, str], infra: Infra) -> None:
    namespace, secret = replicated
    staff = {"Authorization": f"Bearer {issue_token(secret, subject='ana', role=Role.STAFF)}"}
    coordinator = {"Authorization": f"Bearer {issue_token(secret, subject='c', role=Role.COORDINATOR)}"}
    intakes = itertools.cycle(s.url for s in six["intake"])
    limit = asyncio.Semaphore(16)
    case_ids: list[str] = []

    async def register(client: httpx.AsyncClient, i: int) -> None:
        async with limit:
            response = await client.post(f"{next(intakes)}/api/cases", json=payload(i))
        assert response.status_code == 201, response.text
        case_ids.append(response.json()["case_id"])

    async with httpx.AsyncClient(timeout=30, headers=staff) as client:
        await asyncio.gather(*(register(client, i) for i in range(CASES)))
    assert len(set(case_ids)) == CASES
    routed = sum(1 for i in range(CASES) if CATEGORIES[i % len(CATEGORIES)] != "documentation")

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri)
    referrals = mongo[f"{namespace}_referral"]["referrals"]
    try:
        async def all_routed() -> bool:
            return await referrals.count_documents({}) >= routed

        await eventually(all_routed, timeout=180, what=f"{routed} referrals")
        docs = await referrals.find({}, {"case_id": 1, "request_id": 1, "routing_attempt": 1,
                                         "agency_id": 1}).to_list()
        per_request = Counter(d["request_id"] for d in docs)
        assert len(docs) == routed, f"{len(docs) - routed} referrals too many"
        # Routing honours the agencies' capacity: once the demo agencies of an area are full, the rest wait for
        # manual routing, and metrics counts as created only those addressed to an agency.
        created = sum(1 for d in docs if d.get("agency_id"))
        assert 0 < created <= routed
        assert set(per_request.values()) == {1}
        assert {d["case_id"] for d in docs} <= set(case_ids)
        assert {d["routing_attempt"] for d in docs} == {1}

        # Each metrics process reads its share of the partitions; both answer with the same totals.
        async def counted(url: str) -> dict[str, int] | None:
            async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
                summary = (await client.get(f"{url}/api/metrics/summary")).json()
                # Exact request counts are the raw indicators' (the summary publishes them suppressed).
                raw = (await client.get(f"{url}/api/metrics/indicators")).json()
            totals: Counter[str] = Counter()
            for period in raw["periods"].values():
                totals["requests_logged"] += period["1"]["requests_logged"]  # desk-wide, not a sum of the areas
            for period in summary["periods"].values():
                totals["referrals_created"] += period["areas"].get("_all", {}).get("referrals_created", 0)
            done = totals["requests_logged"] >= CASES and totals["referrals_created"] >= created
            return dict(totals) if done else None

        for url in [process.url for process in six["metrics"]]:
            totals = await eventually(lambda url=url: counted(url), timeout=180,  # type: ignore[misc]
                                      what="every count")
            assert totals == {"requests_logged": CASES, "referrals_created": created}
        # Nothing is left waiting in any outbox.
        for service in ("intake", "referral"):
            for name in await mongo[f"{namespace}_{service}"].list_collection_names():
                pending = await mongo[f"{namespace}_{service}"][name].count_documents({"outbox_pending": True})
                assert pending == 0, (service, name)
    finally:
        await mongo.close()
