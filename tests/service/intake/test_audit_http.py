"""The access log over HTTP, for administrators only: by person or staff member, and its verification; its page
in the administrator's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from tests.service.intake.helpers import cheap_passwords
from tests.service.intake.test_governance_http import sign_in
from tests.service.intake.test_http import ADMIN, PERSON, SETTINGS, STAFF


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(), passwords=cheap_passwords())
                    ) as client:
        yield client


def test_an_administrator_reads_who_saw_a_person_and_checks_the_log(app_client: TestClient) -> None:
    opened = app_client.post("/api/cases", headers=STAFF, json={"person": PERSON, "requests": [
        {"category": "sus_card"}]}).json()
    person_id = opened["person_id"]
    assert app_client.get(f"/api/cases/{opened['case_id']}", headers=STAFF).status_code == 200
    trail = app_client.get("/api/audit", params={"person_id": person_id}, headers=ADMIN)
    assert trail.status_code == 200
    newest = trail.json()["accesses"][0]
    assert (newest["actor"], newest["action"]) == ("staff:ana", "case.read")
    assert app_client.get("/api/audit", params={"actor": "staff:ana"}, headers=ADMIN).json()["accesses"]
    assert app_client.get("/api/audit", params={"person_id": person_id}, headers=STAFF).status_code == 403
    unnamed = app_client.get("/api/audit", headers=ADMIN)
    assert unnamed.status_code == 422 and unnamed.json()["field"] == "person_id"
    verified = app_client.get("/api/audit/verification", headers=ADMIN).json()
    assert verified["intact"] is True and verified["records"] >= 1 and verified["problems"] == []

    sign_in(app_client, "admin", "demo-admin-2026")
    page = app_client.get("/admin/audit", params={"person_id": person_id, "search": "1"},
                          headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "case.read" in page.text and opened["case_id"] in page.text
    checked = app_client.get("/admin/audit", params={"verify": "1"}, headers={"Accept-Language": "pt-BR"})
    assert 'id="verification"' in checked.text and "Íntegro" in checked.text
    both = app_client.get("/admin/audit", params={"person_id": "x", "actor": "y", "search": "1"},
                          headers={"Accept-Language": "en"})
    assert both.status_code == 422 and "one of the two" in both.text


def test_desk_staff_have_no_access_log_page(app_client: TestClient) -> None:
    sign_in(app_client, "ana", "demo-staff-2026")
    assert app_client.get("/admin/audit").status_code == 403
