"""The thin HTTP side over the in-memory repository: paths, payloads, status codes and error bodies."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.contracts.categories import CATEGORIES
from tests.service.intake.helpers import cheap_passwords

SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32), municipality="Dourados-MS",
                          seed_demo_accounts=True)
STAFF = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="ana", role=Role.STAFF)}
PERSON = {"full_name": "Wilner Joseph", "birth_date": "1988-03-14", "sex": "male", "nationality": "HTI",
          "preferred_language": "ht", "migratory_status": "acolhida_humanitaria",
          "documents": [{"type": "passport", "number": "HT1234567"}], "phone": None,
          "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"}}


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Only a repository given: the app runs without runtime, store or broker.
    with TestClient(create_app(SETTINGS, repository=InMemoryIntakeRepository(), passwords=cheap_passwords()),
                    headers=STAFF) as test_client:
        yield test_client


def sign_in(client: TestClient) -> None:
    """The pages are for people: a demo staff member signs in (tests/service/intake/test_sign_in_http.py)."""
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    signed = client.post("/sign-in", data={"username": "ana", "password": "demo-staff-2026",
                                           "csrf_token": token.group(1)}, follow_redirects=False)
    assert signed.status_code == 303, signed.text


def open_case(client: TestClient, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/cases", json={"person": PERSON, "requests": [
        {"category": "school_enrolment", "description": "6º ano"}, {"category": "documentation"}], **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_case_is_opened_then_read_with_the_person_as_registered(client: TestClient) -> None:
    created = open_case(client, attended_in_own_language=True)
    assert sorted(created) == ["case_id", "municipality", "opened_at", "person", "person_id", "requests", "status",
                               "version"]
    assert (created["status"], created["version"], created["municipality"], created["person"]) == (
        "open", 1, "Dourados-MS", None)
    assert [(r["category"], r["service_area"], r["description"]) for r in created["requests"]] == [
        ("school_enrolment", "education", "6º ano"), ("documentation", None, None)]
    read = client.get(f"/api/cases/{created['case_id']}")
    assert read.status_code == 200
    assert read.json() == {**created, "person": PERSON}


def test_unknown_cases_people_and_links_answer_404_naming_the_field(client: TestClient) -> None:
    missing = client.get("/api/cases/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "case nope does not exist", "field": "case_id"}
    link = client.post("/api/cases", json={"person": PERSON, "requests": [{"category": "sus_card"}],
                                           "existing_person_id": "nobody"})
    assert link.status_code == 404 and link.json()["field"] == "existing_person_id"
    erase = client.delete("/api/persons/nobody")
    assert erase.status_code == 404 and erase.json()["field"] == "person_id"


def test_candidates_link_and_erasure(client: TestClient) -> None:
    created = open_case(client)
    check = client.post("/api/persons/duplicate-candidates", json={"full_name": "WILNER  JOSEPH",
                                                                   "birth_date": "1988-03-14"})
    assert check.status_code == 200
    [candidate] = check.json()["candidates"]
    assert candidate == {"person_id": created["person_id"], "score": 90, "strength": "probable",
                         "reasons": ["same name (ignoring accents, case and spacing)", "same birth date"],
                         "full_name": "Wilner Joseph", "birth_date": "1988-03-14", "nationality": "HTI",
                         "case_ids": [created["case_id"]]}
    linked = open_case(client, existing_person_id=created["person_id"])
    assert linked["person_id"] == created["person_id"]
    erased = client.delete(f"/api/persons/{created['person_id']}")
    assert erased.status_code == 200
    assert erased.json() == {"person_id": created["person_id"], "erased_from_cases": 2}
    person = client.get(f"/api/cases/{created['case_id']}").json()["person"]
    assert sorted(person) == ["erased", "erased_at"] and person["erased"] is True


def test_activities_categories_the_desk_page_and_readiness(client: TestClient) -> None:
    logged = client.post("/api/activities", json={"kind": "participation_event", "held_on": "2026-11-10",
                                                  "event_kind": "cultural", "migrant_participants": 40})
    assert logged.status_code == 201
    assert sorted(logged.json()) == ["activity_id", "held_on", "kind"]
    assert logged.json()["held_on"] == "2026-11-10" and logged.json()["kind"] == "participation_event"
    assert client.post("/api/activities", json={"kind": "training"}).status_code == 422
    categories = client.get("/api/categories").json()["categories"]
    assert {"code": "sus_card", "area": "health", "label_pt": "Cartão SUS"} in categories
    sign_in(client)
    page = client.get("/")
    assert page.status_code == 200 and 'id="case-form"' in page.text
    assert client.get("/health/ready").json() == {"status": "ready", "checks": {"store": True}}


def test_the_desk_page_is_rendered_in_the_language_of_the_request(client: TestClient) -> None:
    sign_in(client)
    portuguese = client.get("/")
    assert '<html lang="pt-BR">' in portuguese.text and "Registrar atendimento" in portuguese.text
    spanish = client.get("/", headers={"Accept-Language": "es-VE,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Registrar atención" in spanish.text
    assert '<label for="full_name">Nombre completo</label>' in spanish.text
    # Every request category is offered, named in the page's language, grouped by service area.
    for code in CATEGORIES:
        assert f'<option value="{code}">' in spanish.text
    assert '<optgroup label="Salud">' in spanish.text and "Curso de portugués" in spanish.text
    chosen = client.get("/?lang=ht")
    assert '<html lang="ht">' in chosen.text and chosen.cookies.get("migradesk_lang") == "ht"


def test_the_desk_api_needs_staff(client: TestClient) -> None:
    assert client.get("/api/cases/x", headers={"Authorization": ""}).status_code == 401
