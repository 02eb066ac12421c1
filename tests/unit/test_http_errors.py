"""Bad input at the HTTP edge: a 422 naming the field, before any handler (so before any write) runs."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.errors import NotFound

# No lifespan runs without `with TestClient(...)`: no store, no broker. Validation answers before handlers.
SETTINGS = IntakeSettings(api_token_secret=secrets.token_urlsafe(32))
STAFF = {"Authorization": "Bearer " + issue_token(SETTINGS.api_token_secret, subject="ana", role=Role.STAFF)}
client = TestClient(create_app(SETTINGS), raise_server_exceptions=False, headers=STAFF)

VALID_PERSON = {"full_name": "Ana", "nationality": "VEN",
                "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "x"}}


def post(body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/cases", json=body)
    assert response.status_code == 422, response.text
    return response.json()  # type: ignore[no-any-return]


def fields(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["field"] for e in body["errors"]]


def test_missing_and_wrong_fields_are_named() -> None:
    assert fields(post({"requests": [{"category": "sus_card"}]})) == ["person"]
    body = post({"person": {**VALID_PERSON, "nationality": "venezuela", "sex": "x"},
                 "requests": [{"category": "sus_card"}]})
    assert sorted(fields(body)) == ["person.nationality", "person.sex"]
    assert body["message"].startswith("invalid fields: ")


def test_unknown_fields_are_refused_not_silently_dropped() -> None:
    body = post({"person": {**VALID_PERSON, "cpf": "123"}, "requests": [{"category": "sus_card"}]})
    assert fields(body) == ["person.cpf"]


def test_future_birth_date_and_unknown_category_explain_themselves() -> None:
    body = post({"person": {**VALID_PERSON, "birth_date": "2999-01-01"}, "requests": [{"category": "bogus"}]})
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert "future" in messages["person.birth_date"]
    assert "unknown request category 'bogus'" in messages["requests.0.category"]


def test_a_body_that_is_not_json_names_the_body() -> None:
    response = client.post("/api/cases", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert fields(response.json()) == ["body"]


def test_domain_errors_render_with_their_status_and_field() -> None:
    error = NotFound("case x does not exist", field="case_id")
    assert error.to_dict() == {"error": "not_found", "message": "case x does not exist", "field": "case_id"}
    assert error.status_code == 404
