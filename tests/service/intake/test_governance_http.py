"""The governance register over HTTP (in-memory repositories): the API a machine uses, and the pages a coordinator
signs in to, in their language: a record logged, refused with the errors by its fields, corrected, a document
uploaded and downloaded, withdrawn; who may do it; and a document too large refused before it is read."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role, issue_token
from tests.service.intake.helpers import cheap_passwords

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), municipality="Dourados-MS",
                          seed_demo_accounts=True, max_upload_bytes=2 * 1024 * 1024)
COORDINATOR = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="lia",
                                                        role=Role.COORDINATOR)}
AGENCY = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="ubs", role=Role.AGENCY,
                                                   agency_id="ubs-jardim-climax")}
PDF = b"%PDF-1.7\n" + b"0" * 5000
LAW = {"kind": "law", "title": "Política Municipal para a População Migrante", "reference": "Lei nº 5.123/2023",
       "adopted_on": "2023-06-01"}


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(), passwords=cheap_passwords())
                    ) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    signed = client.post("/sign-in", data={"username": username, "password": password,
                                           "csrf_token": token.group(1)}, follow_redirects=False)
    assert signed.status_code == 303, signed.text


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_api_records_corrects_withdraws_and_keeps_documents(app_client: TestClient) -> None:
    created = app_client.post("/api/governance/instruments", json=LAW, headers=COORDINATOR)
    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["record"], record["dimension"], record["revision"]) == ("instrument", 1, 1)
    path = f"/api/governance/{record['record_id']}"
    corrected = app_client.put(path, headers=COORDINATOR, json={
        "revision": 1, "facts": {**LAW, "record": "instrument", "ends_on": "2030-12-31"}})
    assert corrected.status_code == 200 and corrected.json()["facts"]["ends_on"] == "2030-12-31"
    stale = app_client.put(path, headers=COORDINATOR, json={"revision": 1, "facts": {**LAW, "record": "instrument"}})
    assert stale.status_code == 409 and stale.json()["field"] == "revision"
    uploaded = app_client.post(f"{path}/attachments", headers=COORDINATOR,
                               files={"file": ("lei.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    document = app_client.get(f"{path}/attachments/{uploaded.json()['attachment_id']}", headers=COORDINATOR)
    assert document.content == PDF and document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"] == "attachment; filename=\"lei.pdf\"; filename*=UTF-8''lei.pdf"
    disguised = app_client.post(f"{path}/attachments", headers=COORDINATOR,
                                files={"file": ("lei.pdf", b"<script>x</script>", "application/pdf")})
    assert disguised.status_code == 422 and disguised.json()["details"]["reason"] == "content"
    listed = app_client.get("/api/governance", params={"year": 2026}, headers=COORDINATOR).json()
    assert [r["record_id"] for r in listed["instruments"]] == [record["record_id"]]
    assert listed["instruments"][0]["attachments"][0]["name"] == "lei.pdf"
    withdrawn = app_client.post(f"{path}/withdraw", headers=COORDINATOR, json={"revision": 2})
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn"] is True
    assert app_client.get("/api/governance", params={"year": 2026}, headers=COORDINATOR).json()["instruments"] == []


def test_the_api_names_what_is_wrong_and_refuses_who_may_not_keep_the_register(app_client: TestClient) -> None:
    bad = app_client.post("/api/governance/activities", headers=COORDINATOR,
                          json={"kind": "training", "held_on": "2026-13-01", "title": ""})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"held_on", "title"}
    assert app_client.post("/api/governance/activities", headers=AGENCY, json={}).status_code == 403
    assert app_client.get("/api/governance", params={"year": 2026}).status_code == 401
    assert app_client.get("/api/governance/nothing-here", headers=COORDINATOR).status_code == 404


def test_a_document_larger_than_the_upload_limit_is_refused_before_it_is_read(app_client: TestClient) -> None:
    created = app_client.post("/api/governance/instruments", json=LAW, headers=COORDINATOR).json()
    too_large = app_client.post(f"/api/governance/{created['record_id']}/attachments", headers=COORDINATOR,
                                files={"file": ("big.pdf", b"%PDF-" + b"0" * (3 * 1024 * 1024), "application/pdf")})
    assert too_large.status_code == 413
    # Any other route keeps the ordinary limit.
    assert app_client.post("/api/governance/instruments", headers=COORDINATOR,
                           content=b"{" + b" " * (2 * 1024 * 1024) + b"}").status_code == 413


def test_a_coordinator_keeps_the_register_from_its_pages(app_client: TestClient) -> None:
    sign_in(app_client, "coordenacao", "demo-coordinator-2026")
    english = {"Accept-Language": "en"}
    empty = app_client.get("/governance/new?record=activity", headers=english)
    assert empty.status_code == 200 and "Log an activity" in empty.text
    refused = app_client.post("/governance/new", headers=english, data={
        "csrf_token": csrf(empty.text), "record": "activity", "kind": "training", "held_on": "2026-05-10",
        "title": "Lei de Migração para servidores"})
    assert refused.status_code == 422
    assert "Say how many servants were trained, in at least one sector." in refused.text
    created = app_client.post("/governance/new", headers=english, follow_redirects=False, data={
        "csrf_token": csrf(empty.text), "record": "activity", "kind": "training", "held_on": "2026-05-10",
        "title": "Lei de Migração para servidores", "audience": "public_servants",
        "sector_0": "health", "servants_0": "12", "sector_1": "education", "servants_1": "3"})
    assert created.status_code == 303, created.text
    record_path = created.headers["location"].split("?")[0]
    page = app_client.get(created.headers["location"], headers=english)
    assert "Recorded in the register." in page.text and 'value="12"' in page.text
    revision = re.search(r'name="revision" value="(\d+)"', page.text)
    assert revision is not None and revision.group(1) == "1"
    saved = app_client.post(record_path, headers=english, follow_redirects=False, data={
        "csrf_token": csrf(page.text), "revision": "1", "kind": "training", "held_on": "2026-05-10",
        "title": "Lei de Migração para servidores", "sector_0": "health", "servants_0": "14"})
    assert saved.status_code == 303
    stale = app_client.post(record_path, headers=english, data={
        "csrf_token": csrf(page.text), "revision": "1", "kind": "training", "held_on": "2026-05-10",
        "title": "x", "sector_0": "health", "servants_0": "1"})
    assert stale.status_code == 409 and "Someone changed this record" in stale.text and 'value="14"' in stale.text
    uploaded = app_client.post(f"{record_path}/attachments", headers=english, follow_redirects=False,
                               data={"csrf_token": csrf(page.text)},
                               files={"file": ("lista de presença.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 303, uploaded.text
    page = app_client.get(record_path, headers=english)
    link = re.search(r'href="(/governance/[^"]+/attachments/[^"]+)" download>([^<]+)<', page.text)
    assert link is not None and html.unescape(link.group(2)) == "lista de presença.pdf"
    downloaded = app_client.get(link.group(1))
    assert downloaded.content == PDF
    assert downloaded.headers["content-disposition"].endswith("filename*=UTF-8''lista%20de%20presen%C3%A7a.pdf")
    wrong = app_client.post(f"{record_path}/attachments", headers=english,
                            data={"csrf_token": csrf(page.text)},
                            files={"file": ("x.exe", b"MZ", "application/x-msdownload")})
    assert wrong.status_code == 422 and "This kind of file is not accepted" in wrong.text
    forged = app_client.post(f"{record_path}/attachments", headers=english, data={"csrf_token": "forged"},
                             files={"file": ("x.pdf", PDF, "application/pdf")})
    assert forged.status_code == 403
    register = app_client.get("/governance?year=2026", headers={"Accept-Language": "es"})
    assert register.status_code == 200 and "Lei de Migração para servidores" in register.text
    assert "2. Capacitación de servidores públicos" in register.text
    withdrawn = app_client.post(f"{record_path}/withdraw", headers=english, follow_redirects=False,
                                data={"csrf_token": csrf(page.text), "revision": "2"})
    assert withdrawn.status_code == 303
    assert "Lei de Migração para servidores" not in app_client.get("/governance?year=2026").text
    assert "Withdrawn: this record no longer counts" in app_client.get(record_path, headers=english).text


def test_an_agency_account_has_no_register_page(app_client: TestClient) -> None:
    sign_in(app_client, "recepcao.ubs", "demo-agency-2026")
    assert app_client.get("/governance").status_code == 403
