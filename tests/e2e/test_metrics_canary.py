"""The metrics canary (LGPD, DESIGN.md §5): a person whose every personal datum is a unique marker is registered,
routed and served, and is counted by metrics; then nothing of them appears in the metrics store (every collection
of every database of the service), its pages in every dimension, its CSV, XLSX and PDF exports, or its API.

The scan is shown to work (it finds the markers in intake's answer), and the person is shown to have reached
metrics (the counters of their month and area grew), so an empty metrics store cannot pass it.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from bson import json_util
from openpyxl import load_workbook
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from infra.local.services import ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_shared.auth import Role
from migradesk_shared.web.session import SESSION_COOKIE, PageUser, session_tokens
from tests.conftest import eventually
from tests.e2e.test_privacy_canary import Canary, canaries_in
from tests.support.stack import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

TZ = ZoneInfo("America/Sao_Paulo")
DIMENSIONS = range(1, 11)


@pytest.fixture(scope="module")
def metrics_canary_stack(infra: Infra) -> Iterator[tuple[dict[str, ServiceProcess], str, str]]:
    namespace, secret = new_namespace("mcanary"), secrets.token_urlsafe(32)
    with running_services(infra, namespace, secret, extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true"}) as services:
        yield services, namespace, secret


def coordinator_cookie(secret: str) -> str:
    now = datetime.now(UTC)
    user = PageUser(subject="coordinator", role=Role.COORDINATOR, session_id=secrets.token_urlsafe(16),
                    expires_at=now + timedelta(minutes=30))
    return session_tokens(secret).issue(user, now=now)


def xlsx_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                     for cell in row if cell is not None)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


async def test_no_personal_data_in_the_metrics_store_pages_exports_or_api(
        metrics_canary_stack: tuple[dict[str, ServiceProcess], str, str], infra: Infra) -> None:
    services, namespace, secret = metrics_canary_stack
    tokens = Tokens(secret)
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    canary = Canary.new()
    canaries = canary.strings()
    period = datetime.now(UTC).astimezone(TZ).strftime("%Y-%m")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)

    async def metrics_databases() -> list[str]:
        return [name for name in await mongo.list_database_names() if name.startswith(f"{namespace}_metrics")]

    async def health_counts() -> dict[str, int]:
        found: dict[str, int] = {}
        for name in await metrics_databases():
            async for bucket in mongo[name]["rollups"].find({"period": period, "area": "health"}):
                for key, n in bucket.get("counts", {}).items():
                    found[key] = found.get(key, 0) + n
        return found

    try:
        before = await health_counts()
        person = {"full_name": canary.full_name, "birth_date": "1987-03-09", "sex": "female", "nationality": "VEN",
                  "preferred_language": "es", "migratory_status": "solicitante_refugio",
                  "phone": canary.phone_as_typed,
                  "documents": [{"type": "cpf", "number": canary.cpf_as_typed},
                                {"type": "passport", "number": canary.passport}],
                  "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"},
                  "sensitive": {"health": {"legal_basis": "consent", "flags": ["chronic_condition"],
                                           "note": canary.health_note}}}
        async with httpx.AsyncClient(timeout=30, headers=tokens.staff) as client:
            created = await client.post(f"{intake}/api/cases", json={
                "person": person, "requests": [{"category": "sus_card", "description": canary.description}]})
            assert created.status_code == 201, created.text
            case_id = created.json()["case_id"]
            read_back = await client.get(f"{intake}/api/cases/{case_id}")
            # The scanner works: intake's answer holds the person's data, and it finds them there.
            assert {"full name", "CPF digits", "passport", "description"} <= set(canaries_in(read_back.text, canaries))

            async def routed() -> list[dict[str, Any]]:
                response = await client.get(f"{referral}/api/referrals", params={"case_id": case_id})
                return list(response.json()["referrals"]) if response.status_code == 200 else []

            [pending] = await eventually(routed, what="the referral")
            accepted = await client.post(
                f"{referral}/api/referrals/{pending['referral_id']}/actions",
                headers=tokens.agency(pending["agency_id"]),
                json={"action": "accept", "expected_version": 1, "comment": canary.comment})
            assert accepted.status_code == 200, accepted.text

        async def counted() -> bool:
            now = await health_counts()
            return all(now.get(key, 0) > before.get(key, 0)
                       for key in ("requests_logged", "referrals_created", "referrals_accepted"))

        await eventually(counted, what="the person's request, referral and acceptance counted by metrics")

        # 1. The store: every document of every collection of every metrics database.
        for name in await metrics_databases():
            for collection in await mongo[name].list_collection_names():
                async for doc in mongo[name][collection].find({}):
                    text = json_util.dumps(doc, ensure_ascii=False)
                    assert canaries_in(text, canaries) == {}, f"{name}.{collection}: {doc.get('_id')}"

        # 2. The pages, the exports and the API, as a coordinator sees them.
        published: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=60, cookies={SESSION_COOKIE: coordinator_cookie(secret)}) as pages:
            for path in [f"/dashboard?period={period}", *(f"/dashboard/dimensions/{d}?period={period}"
                                                          for d in DIMENSIONS)]:
                response = await pages.get(f"{metrics}{path}")
                assert response.status_code == 200, (path, response.status_code)
                published[path] = response.text
            for d in DIMENSIONS:
                csv_file = await pages.get(f"{metrics}/dashboard/dimensions/{d}/tables.csv?period={period}")
                xlsx_file = await pages.get(f"{metrics}/dashboard/dimensions/{d}/tables.xlsx?period={period}")
                assert csv_file.status_code == 200 and xlsx_file.status_code == 200, d
                published[f"dimension {d} CSV"] = csv_file.text
                published[f"dimension {d} XLSX"] = xlsx_text(xlsx_file.content)
            report = await pages.get(f"{metrics}/dashboard/report.pdf?period={period}")
            assert report.status_code == 200
            published["PDF report"] = pdf_text(report.content)
        coordinator = tokens.headers(Role.COORDINATOR)
        async with httpx.AsyncClient(timeout=30, headers=coordinator) as api:
            for endpoint in ("summary", "indicators", "evidence"):
                response = await api.get(f"{metrics}/api/metrics/{endpoint}", params={"period": period})
                assert response.status_code == 200, (endpoint, response.text)
                published[f"API {endpoint}"] = response.text
        # The health dimension has this month's figures, so its page and export hold tables: real content was read.
        assert 'id="table-indicators"' in published[f"/dashboard/dimensions/6?period={period}"]
        assert published["dimension 6 CSV"].count("\n") > 2 and published["PDF report"].strip()
        leaks = {where: found for where, text in published.items() if (found := canaries_in(text, canaries))}
        assert leaks == {}
    finally:
        await mongo.close()
